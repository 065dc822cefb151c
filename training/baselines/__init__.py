"""Classic baselines the learned models are judged against: BG/NBD x Gamma-Gamma, RFM rules, logistic."""

from training.baselines.bgnbd import BetaGeoModel, BetaGeoParams
from training.baselines.clv import BgNbdGammaGamma
from training.baselines.gamma_gamma import GammaGammaModel, GammaGammaParams
from training.baselines.logistic import logistic_churn_pipeline
from training.baselines.rfm import RfmRules
from training.baselines.summary import rfm_summary

__all__ = [
    "BetaGeoModel",
    "BetaGeoParams",
    "BgNbdGammaGamma",
    "GammaGammaModel",
    "GammaGammaParams",
    "RfmRules",
    "logistic_churn_pipeline",
    "rfm_summary",
]
