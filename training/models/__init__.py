"""The two production models: a calibrated churn classifier and a zero-inflated value regressor."""

from training.models.churn import CalibrationDataError, ChurnModel
from training.models.value import (
    InsufficientBuyersError,
    TweedieValueModel,
    TwoPartValueModel,
    ValueModel,
    select_value_model,
)

__all__ = [
    "CalibrationDataError",
    "ChurnModel",
    "InsufficientBuyersError",
    "TweedieValueModel",
    "TwoPartValueModel",
    "ValueModel",
    "select_value_model",
]
