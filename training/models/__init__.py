"""The two production models: a calibrated churn classifier and a zero-inflated value regressor."""

from training.models.churn import ChurnModel
from training.models.value import TweedieValueModel, TwoPartValueModel, ValueModel, select_value_model

__all__ = [
    "ChurnModel",
    "TweedieValueModel",
    "TwoPartValueModel",
    "ValueModel",
    "select_value_model",
]
