"""The model contract: what a registered model is and how it runs, written by training, read by serving.

A registered model is a `ModelBundle` (an MLflow pyfunc): a scorer (LightGBM boosters and, for
probabilities, the calibration map), the feature list and categorical levels of its matrix, its
LightGBM parameters, the tier cut-points and the reference statistics reasons compare with. The
registry functions find, load and promote models by alias; `load_champion_pair` loads the churn and
value champions together, the unit the service swaps. Nothing here imports training or serving.
"""

from model_contract.bundle import BundleMetadata, ModelBundle
from model_contract.matrix import MatrixLayout, ModelInput, ModelMatrix, check_no_label_leak, to_model_frame
from model_contract.reference import compute_reference_statistics
from model_contract.registry import (
    CHALLENGER,
    CHAMPION,
    CHURN_MODEL_NAME,
    DEFAULT_TRACKING_URI,
    EXPERIMENT_NAME,
    VALUE_MODEL_NAME,
    AliasedVersion,
    LoadedModel,
    ModelPair,
    aliased_version,
    champion_versions,
    client_for,
    configure_tracking,
    ensure_experiment,
    load_bundle,
    load_champion_pair,
    load_model,
    local_artifact_root,
    register,
    resolve_tracking_uri,
    set_alias,
    tracking_to,
)
from model_contract.scoring import (
    CalibratedProbabilityScorer,
    LogLinkAmountScorer,
    Scorer,
    TwoPartAmountScorer,
    raw_contributions,
    raw_score,
)
from model_contract.tiers import DEFAULT_SHARES, TierCutpoints, absolute_tiers, assign_tier, fit_tiers

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "CHURN_MODEL_NAME",
    "DEFAULT_SHARES",
    "DEFAULT_TRACKING_URI",
    "EXPERIMENT_NAME",
    "VALUE_MODEL_NAME",
    "AliasedVersion",
    "BundleMetadata",
    "CalibratedProbabilityScorer",
    "LoadedModel",
    "LogLinkAmountScorer",
    "MatrixLayout",
    "ModelBundle",
    "ModelInput",
    "ModelMatrix",
    "ModelPair",
    "Scorer",
    "TierCutpoints",
    "TwoPartAmountScorer",
    "absolute_tiers",
    "aliased_version",
    "assign_tier",
    "champion_versions",
    "check_no_label_leak",
    "client_for",
    "compute_reference_statistics",
    "configure_tracking",
    "ensure_experiment",
    "fit_tiers",
    "load_bundle",
    "load_champion_pair",
    "load_model",
    "local_artifact_root",
    "raw_contributions",
    "raw_score",
    "register",
    "resolve_tracking_uri",
    "set_alias",
    "to_model_frame",
    "tracking_to",
]
