"""The estimators training fits: a calibrated probability per population and zero-inflated value regressors."""

from training.models.probability import ProbabilityModel
from training.models.value import TweedieValueModel, TwoPartValueModel, ValueModel, select_value_model

__all__ = [
    "ProbabilityModel",
    "TweedieValueModel",
    "TwoPartValueModel",
    "ValueModel",
    "select_value_model",
]
