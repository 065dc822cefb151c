"""The model contract: what a registered model is and how it runs, written by training, read by serving.

A registered model is a `ModelBundle` (an MLflow pyfunc): a scorer (LightGBM boosters and, for
probabilities, the calibration map), the feature list and categorical levels of its matrix, its
LightGBM parameters, the tier cut-points and the reference statistics reasons compare with. The
registry functions find, load and promote models by alias; `load_champion_pair` loads the churn and
value champions together, the unit the service swaps. Nothing here imports training or serving.
"""

from model_contract.bundle import PROBABILITY_MODELS, ModelBundle, ModelMetadata, ModelPair, PairMetadata
from model_contract.matrix import MatrixLayout, ModelInput, ModelMatrix, check_no_label_leak, to_model_frame
from model_contract.reference import compute_reference_statistics
from model_contract.registry import (
    CHALLENGER,
    CHAMPION,
    DEFAULT_TRACKING_URI,
    EXPERIMENT_NAME,
    PAIR_MODEL_NAME,
    AliasedVersion,
    LoadedPair,
    aliased_version,
    champion_version,
    client_for,
    configure_tracking,
    ensure_experiment,
    load_champion_pair,
    load_pair,
    local_artifact_root,
    register,
    resolve_tracking_uri,
    set_alias,
    tracking_to,
)
from model_contract.scoring import (
    BoundedDaysScorer,
    CalibratedProbabilityScorer,
    ConstantProbabilityScorer,
    ConstantScorer,
    LogLinkAmountScorer,
    Scorer,
    TwoPartAmountScorer,
    raw_contributions,
    raw_score,
)
from model_contract.tiers import TierCutpoints, absolute_tiers, assign_tier, fit_tiers
from model_contract.value_range import DEFAULT_RANGE_LEVEL, ConformalRangeScorer, log_spend, range_bounds

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DEFAULT_RANGE_LEVEL",
    "DEFAULT_TRACKING_URI",
    "EXPERIMENT_NAME",
    "PAIR_MODEL_NAME",
    "PROBABILITY_MODELS",
    "AliasedVersion",
    "BoundedDaysScorer",
    "CalibratedProbabilityScorer",
    "ConformalRangeScorer",
    "ConstantProbabilityScorer",
    "ConstantScorer",
    "LoadedPair",
    "LogLinkAmountScorer",
    "MatrixLayout",
    "ModelBundle",
    "ModelInput",
    "ModelMatrix",
    "ModelMetadata",
    "ModelPair",
    "PairMetadata",
    "Scorer",
    "TierCutpoints",
    "TwoPartAmountScorer",
    "absolute_tiers",
    "aliased_version",
    "assign_tier",
    "champion_version",
    "check_no_label_leak",
    "client_for",
    "compute_reference_statistics",
    "configure_tracking",
    "ensure_experiment",
    "fit_tiers",
    "load_champion_pair",
    "load_pair",
    "local_artifact_root",
    "log_spend",
    "range_bounds",
    "raw_contributions",
    "raw_score",
    "register",
    "resolve_tracking_uri",
    "set_alias",
    "to_model_frame",
    "tracking_to",
]
