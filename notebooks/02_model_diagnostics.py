# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Diagnostics of the champion models
#
# Loads the churn and value models that carry the `champion` alias in MLflow, rebuilds their validation
# snapshot from the raw data, and looks at what a single score hides: global SHAP, calibration, the
# value deciles, metrics by segment and value tier, and how customers move between tiers from one cutoff
# to the next.
#
# **Parameters** (environment variables; the defaults suit an interactive session, the test suite runs
# the notebook small on a temporary store):
#
# | variable | meaning | default |
# |---|---|---|
# | `MLFLOW_TRACKING_URI` | the MLflow store holding the champions | `sqlite:///<repository>/mlruns/mlflow.db` |
# | `CLVCHURN_NB_DATA` | contract data folder the models were trained on (relative paths from the repository root) | none: a synthetic base |
# | `CLVCHURN_NB_CUSTOMERS`, `CLVCHURN_NB_SEED` | size and seed of that synthetic base | 20000, 7 |
# | `CLVCHURN_NB_TRAIN_IF_MISSING` | `1` trains small models into the store when no champion exists | 0 |
# | `CLVCHURN_NB_MIGRATION_DAYS` | days between the two cutoffs of the tier migration | 90 |
#
# The notebook reads the store and never writes to it, except when it is told to train.

# %%
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import polars as pl
import shap

from domain.errors import MetricInputError, ModelNotRegisteredError
from features.build import build_features, build_training_table
from features.contract import load_raw
from features.synth import generate
from model_contract.bundle import ModelBundle
from training.dataset import check_label_window
from training.metrics import calibration_curve_data, churn_metrics, decile_table, value_metrics
from model_contract.registry import CHAMPION, CHURN_MODEL_NAME, VALUE_MODEL_NAME, aliased_version, load_bundle
from model_contract.tiers import TIERS, TierCutpoints, assign_tier
from training.train import TrainingConfig, train


def repository_root(start: Path) -> Path:
    """The folder holding pyproject.toml; Jupyter starts the kernel in the notebook's own folder."""
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    raise FileNotFoundError(
        f"no pyproject.toml in {start} or above: open the notebook inside the clvchurn repository"
    )


def from_root(path: str) -> Path:
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else (ROOT / candidate).resolve()


ROOT = repository_root(Path.cwd().resolve())
TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{ROOT / 'mlruns' / 'mlflow.db'}"
DATA_DIR = from_root(os.environ["CLVCHURN_NB_DATA"]) if os.environ.get("CLVCHURN_NB_DATA") else None
N_CUSTOMERS = int(os.environ.get("CLVCHURN_NB_CUSTOMERS", "20000"))
SEED = int(os.environ.get("CLVCHURN_NB_SEED", "7"))
TRAIN_IF_MISSING = os.environ.get("CLVCHURN_NB_TRAIN_IF_MISSING", "0") == "1"
MIGRATION_DAYS = int(os.environ.get("CLVCHURN_NB_MIGRATION_DAYS", "90"))
SHAP_ROWS = 2_000
SEGMENT_MIN_CUSTOMERS = 30

pl.Config.set_tbl_rows(40)
pl.Config.set_tbl_cols(14)
pl.Config.set_fmt_str_lengths(80)
pl.Config.set_tbl_width_chars(160)
print(f"MLflow store {TRACKING_URI}")
print(f"data {DATA_DIR or f'synthetic, {N_CUSTOMERS:,} customers, seed {SEED}'}")

# %% [markdown]
# ## 1. The data and the champions
# The raw data must be what the champions were trained on (or a later extract of the same company):
# the notebook rebuilds their validation snapshot from it.

# %%
if DATA_DIR is None:
    raw = generate(N_CUSTOMERS, SEED).raw
    data_source = f"synthetic ({N_CUSTOMERS} customers, seed {SEED})"
else:
    raw = load_raw(DATA_DIR).raw
    data_source = str(DATA_DIR)
print(
    f"{raw.transactions.height:,} transactions, {raw.customers.height:,} customers, {raw.interactions.height:,} interactions"
)


def champion_exists(tracking_uri: str) -> bool:
    """Both champions are registered; a SQLite store that does not exist is not created by asking."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        return False
    return all(aliased_version(name, CHAMPION, tracking_uri) for name in (CHURN_MODEL_NAME, VALUE_MODEL_NAME))


if not champion_exists(TRACKING_URI):
    print(
        f"**No champion is registered** in `{TRACKING_URI}`.\n\n"
        "Train one with `uv run clvchurn train --data DIR` (and point `CLVCHURN_NB_DATA` at the same folder), "
        "or set `CLVCHURN_NB_TRAIN_IF_MISSING=1` to train small models on the data above."
    )
    if not TRAIN_IF_MISSING:
        raise ModelNotRegisteredError(f"no champion models in {TRACKING_URI}; see the message above")
    outcome = train(
        raw, TrainingConfig(snapshots=3, seed=SEED), tracking_uri=TRACKING_URI, data_source=data_source
    )
    print("trained: " + ", ".join(f"{d.model_name} v{d.version} -> {d.alias}" for d in outcome.decisions))

# %%
churn_bundle = load_bundle(CHURN_MODEL_NAME, CHAMPION, TRACKING_URI)
value_bundle = load_bundle(VALUE_MODEL_NAME, CHAMPION, TRACKING_URI)
for name, bundle in ((CHURN_MODEL_NAME, churn_bundle), (VALUE_MODEL_NAME, value_bundle)):
    meta = bundle.metadata
    version = aliased_version(name, CHAMPION, TRACKING_URI)
    print(
        f"{name} v{version.version if version else '?'}: {meta.model_family}, trained {meta.trained_at:%Y-%m-%d %H:%M}, "
        f"horizon {meta.horizon_days} days, validated as of {meta.validation_as_of:%Y-%m-%d}, "
        f"{len(meta.feature_names)} features"
    )
VALIDATION_AS_OF = churn_bundle.metadata.validation_as_of
if value_bundle.metadata.validation_as_of != VALIDATION_AS_OF:
    print(
        f"the champions come from different runs: the value model was validated as of "
        f"{value_bundle.metadata.validation_as_of:%Y-%m-%d}; both are scored as of {VALIDATION_AS_OF:%Y-%m-%d}"
    )
CUTPOINTS = TierCutpoints.from_dict(value_bundle.metadata.tier_cutpoints or {})
print(
    f"tier cut-points ({CUTPOINTS.method}): A >= {CUTPOINTS.a_threshold:,.2f}, B >= {CUTPOINTS.b_threshold:,.2f}, C >= {CUTPOINTS.c_threshold:,.2f}"
)

# %% [markdown]
# ## 2. The validation snapshot, scored again
# Features as of the validation cutoff, labels from the events after it, and both champions' predictions.
# On the data they were trained on, the recomputed metrics equal the ones stored with the models.

# %%
data_end = datetime.combine(
    max(frame["timestamp"].max() for frame in (raw.transactions, raw.interactions) if frame.height).date(),
    datetime.min.time(),
) + timedelta(days=1)
for bundle in (churn_bundle, value_bundle):
    check_label_window(VALIDATION_AS_OF, bundle.metadata.horizon_days, data_end)


def score(bundle_churn: ModelBundle, bundle_value: ModelBundle, features: pl.DataFrame) -> pl.DataFrame:
    """Churn probability, predicted value and value tier for each row of a feature table."""
    features_pandas = features.to_pandas()
    predicted_value = bundle_value.predict_frame(features_pandas)
    return features.with_columns(
        pl.Series("churn_probability", bundle_churn.predict_frame(features_pandas)),
        pl.Series("predicted_value", predicted_value),
        pl.Series("tier", assign_tier(CUTPOINTS, predicted_value)),
    )


validation = score(
    churn_bundle,
    value_bundle,
    build_training_table(
        raw, [VALIDATION_AS_OF], churn_bundle.metadata.horizon_days, value_bundle.metadata.horizon_days
    ),
)
with_churn_label = validation.filter(pl.col("churned").is_not_null())
recomputed = {
    "churn": churn_metrics(
        with_churn_label["churned"].to_numpy(), with_churn_label["churn_probability"].to_numpy()
    ),
    "value": value_metrics(validation["future_value"].to_numpy(), validation["predicted_value"].to_numpy()),
}
stored = {
    "churn": churn_bundle.metadata.validation_metrics,
    "value": value_bundle.metadata.validation_metrics,
}
same = all(
    np.isclose(stored[kind].get(metric, np.nan), value, rtol=1e-9, atol=0.0, equal_nan=True)
    for kind in ("churn", "value")
    for metric, value in recomputed[kind].items()
)
print(f"recomputed metrics equal the stored ones: {same}")
if not same:
    print("(expected when CLVCHURN_NB_DATA is not the data the champions were trained on)")
pl.DataFrame(
    [
        {"model": kind, "metric": metric, "stored_with_model": stored[kind].get(metric), "recomputed": value}
        for kind in ("churn", "value")
        for metric, value in recomputed[kind].items()
    ]
)

# %% [markdown]
# ## 3. Global SHAP
# TreeSHAP contributions on a sample of the validation snapshot, in the model's output units (probability
# points for churn, currency for value). Each row's contributions add up to its prediction minus the base;
# the check below confirms it.


# %%
def global_shap(bundle: ModelBundle, features: pl.DataFrame, title: str) -> pl.DataFrame:
    """Summary plot and mean |SHAP| per feature, largest first, for a sample of `features`."""
    sample = features.sample(n=min(SHAP_ROWS, features.height), seed=0, shuffle=True).to_pandas()
    frame = bundle.model_frame(sample)
    base, contributions = bundle.scorer.contributions(frame)
    additivity_gap = np.abs(base + contributions.sum(axis=1) - bundle.predict_frame(sample)).max()
    print(
        f"{title}: base {base:.4g}, largest |base + sum of contributions - prediction| = {additivity_gap:.2e}"
    )
    display_values = frame.apply(
        lambda column: column.cat.codes if isinstance(column.dtype, pd.CategoricalDtype) else column
    )
    shap.summary_plot(contributions, display_values, show=False, max_display=15)
    plt.title(title)
    plt.show()
    return (
        pl.DataFrame(
            {
                "feature": list(frame.columns),
                "mean_abs_shap": np.abs(contributions).mean(axis=0),
                "description": [bundle.metadata.feature_descriptions[name] for name in frame.columns],
            }
        )
        .sort("mean_abs_shap", descending=True)
        .head(15)
    )


global_shap(churn_bundle, with_churn_label, "churn model: SHAP in probability points")

# %%
global_shap(value_bundle, validation, "value model: SHAP in currency")

# %% [markdown]
# ## 4. Calibration of the churn probabilities
# Observed churn rate against the mean predicted probability in ten equal-width bins: a calibrated model
# lies on the diagonal, so "0.3" means about 30% of such customers leave.

# %%
predicted_mean, observed_rate = calibration_curve_data(
    with_churn_label["churned"].to_numpy(), with_churn_label["churn_probability"].to_numpy(), n_bins=10
)
figure, axis = plt.subplots(figsize=(4.5, 4.5))
axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
axis.plot(predicted_mean, observed_rate, marker="o", label="champion")
axis.set_xlabel("mean predicted churn probability")
axis.set_ylabel("observed churn rate")
axis.set_title(f"Calibration, ECE {recomputed['churn']['ece']:.3f}")
axis.legend()
plt.show()
pl.DataFrame({"mean_predicted": predicted_mean, "observed_rate": observed_rate})

# %% [markdown]
# ## 5. Value deciles
# Customers ranked by predicted value; decile 1 is the highest predicted.

# %%
decile_table(validation["future_value"].to_numpy(), validation["predicted_value"].to_numpy())

# %% [markdown]
# ## 6. Metrics by segment and by tier
# One good overall score can hide a segment the model serves badly. Ranking metrics are left empty for
# segments with fewer than 30 customers or without both outcomes.


# %%
def guarded(metric: Callable[[np.ndarray, np.ndarray], float], *arrays: np.ndarray) -> float | None:
    """A metric that needs both outcomes or a positive total, or None where the segment lacks them."""
    if len(arrays[0]) < SEGMENT_MIN_CUSTOMERS:
        return None
    try:
        return float(metric(*arrays))
    except MetricInputError:
        return None


def metrics_by(frame: pl.DataFrame, segment: str) -> pl.DataFrame:
    rows = []
    for (level,), part in frame.group_by(segment, maintain_order=True):
        labelled = part.filter(pl.col("churned").is_not_null())
        churned, probability = labelled["churned"].to_numpy(), labelled["churn_probability"].to_numpy()
        actual, predicted = part["future_value"].to_numpy(), part["predicted_value"].to_numpy()
        rows.append(
            {
                "segment": segment,
                "level": level,
                "customers": part.height,
                "churn_rate": float(churned.mean()) if len(churned) else None,
                "mean_churn_probability": float(probability.mean()) if len(probability) else None,
                "churn_roc_auc": guarded(lambda y, p: churn_metrics(y, p)["roc_auc"], churned, probability),
                "mean_future_value": float(actual.mean()),
                "mean_predicted_value": float(predicted.mean()),
                "value_gini": guarded(lambda a, p: value_metrics(a, p)["gini"], actual, predicted),
            }
        )
    return pl.DataFrame(rows).sort("level")


segments = [
    column
    for column in ("profile_industry", "profile_region", "profile_company_size")
    if column in validation.columns
]
by_segment = pl.concat([metrics_by(validation, segment) for segment in [*segments, "tier"]])
print("metrics by segment and tier")
by_segment

# %%
tier_summary = (
    validation.group_by("tier")
    .agg(
        pl.len().alias("customers"),
        pl.col("predicted_value").sum().alias("predicted_value"),
        pl.col("future_value").sum().alias("future_value"),
        pl.col("churned").mean().alias("churn_rate"),
    )
    .with_columns((pl.col("future_value") / pl.col("future_value").sum()).alias("share_of_future_value"))
    .sort("tier")
)
tier_summary

# %% [markdown]
# ## 7. Tier migration
# The whole base scored at two cutoffs with the same champion and the same cut-points. Rows are the tier
# at the earlier cutoff, columns the tier at the later one; `new` customers were not yet known at the
# earlier cutoff. The diagonal is stability; large flows off it mean tiers an account manager cannot plan
# with.

# %%
later = VALIDATION_AS_OF
earlier = later - timedelta(days=MIGRATION_DAYS)
tiers_then = score(churn_bundle, value_bundle, build_features(raw, earlier)).select(
    "customer_id", pl.col("tier").alias("tier_before")
)
tiers_now = score(churn_bundle, value_bundle, build_features(raw, later)).select(
    "customer_id", pl.col("tier").alias("tier_after")
)
moves = tiers_now.join(tiers_then, on="customer_id", how="left").with_columns(
    pl.col("tier_before").fill_null("new")
)
migration = (
    moves.pivot(
        on="tier_after",
        index="tier_before",
        values="customer_id",
        aggregate_function="len",
        sort_columns=True,
    )
    .fill_null(0)
    .sort(pl.col("tier_before").replace_strict({tier: i for i, tier in enumerate([*TIERS, "new"])}))
)
stable = moves.filter(pl.col("tier_before") == pl.col("tier_after")).height / max(
    moves.filter(pl.col("tier_before") != "new").height, 1
)
print(
    f"tier migration from {earlier:%Y-%m-%d} (rows) to {later:%Y-%m-%d} (columns); {stable:.1%} of known customers kept their tier"
)
migration
