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
# # Diagnostics of the champion model pair
#
# Loads the model pair that carries the `champion` alias in MLflow (one registered model,
# `clvchurn-pair`, whose every version holds five models: churn for active customers, reactivation for
# lapsed ones, conversion for prospects, the value of everyone and the value if retained), rebuilds each
# model's backtest validation rows from the raw data, and looks at what a single score hides: global
# SHAP, calibration, the value deciles, metrics by segment and value tier, and how customers move between
# tiers from one cutoff to the next.
#
# **Parameters** (environment variables; the defaults suit an interactive session, the test suite runs
# the notebook small on a temporary store):
#
# | variable | meaning | default |
# |---|---|---|
# | `MLFLOW_TRACKING_URI` | the MLflow store holding the champion pair | `sqlite:///<repository>/mlruns/mlflow.db` |
# | `CLVCHURN_NB_DATA` | contract data folder the pair was trained on (relative paths from the repository root) | none: a synthetic base |
# | `CLVCHURN_NB_CUSTOMERS`, `CLVCHURN_NB_SEED` | size and seed of that synthetic base | 20000, 7 |
# | `CLVCHURN_NB_TRAIN_IF_MISSING` | `1` trains a small pair into the store when no champion exists | 0 |
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
from IPython.display import display

from domain.errors import MetricInputError, ModelNotRegisteredError
from domain.vocabulary import TIERS
from features.build import build_features, build_training_table, data_end
from features.contract import load_raw
from features.populations import ORDERED_COLUMN, POPULATION_COLUMN, POPULATION_LABELS, population_expr
from features.synth import generate
from model_contract.bundle import PROBABILITY_MODELS, ModelBundle
from model_contract.registry import CHAMPION, PAIR_MODEL_NAME, champion_version, load_pair
from model_contract.tiers import TierCutpoints, assign_tier
from training.dataset import check_label_window
from training.metrics import calibration_curve_data, decile_table, probability_metrics, value_metrics
from training.recipe import SPECS
from training.train import TrainingConfig, train

# Importing training.train switches matplotlib to its file-only Agg backend (training.artifacts):
# switch the notebook back to inline figures (a comment when this file runs as a plain script).
# %matplotlib inline


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
PROBABILITY_MODEL_NAMES = tuple(PROBABILITY_MODELS.values())

pl.Config.set_tbl_rows(60)
pl.Config.set_tbl_cols(14)
pl.Config.set_fmt_str_lengths(80)
pl.Config.set_tbl_width_chars(160)
print(f"MLflow store {TRACKING_URI}")
print(f"data {DATA_DIR or f'synthetic, {N_CUSTOMERS:,} customers, seed {SEED}'}")

# %% [markdown]
# ## 1. The data and the champion pair
# The raw data must be what the pair was trained on (or a later extract of the same company): the
# notebook rebuilds each model's backtest validation rows from it.

# %%
if DATA_DIR is None:
    raw = generate(N_CUSTOMERS, SEED).raw
    data_source = f"synthetic ({N_CUSTOMERS} customers, seed {SEED})"
else:
    raw = load_raw(DATA_DIR).raw
    data_source = str(DATA_DIR)
DATA_END = data_end(raw)
if DATA_END is None:
    raise ValueError(f"{data_source} holds no transactions or interactions to diagnose a model pair on")
print(
    f"{raw.transactions.height:,} transactions, {raw.customers.height:,} customers, {raw.interactions.height:,} interactions; "
    f"data end {DATA_END:%Y-%m-%d}"
)


def champion_exists(tracking_uri: str) -> bool:
    """A champion pair is registered; a SQLite store that does not exist is not created by asking."""
    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri.removeprefix("sqlite:///")).is_file():
        return False
    return champion_version(tracking_uri) is not None


outcome = None  # the training run, when this notebook trains the pair itself
if not champion_exists(TRACKING_URI):
    print(
        f"**No champion is registered** in `{TRACKING_URI}`.\n\n"
        "Train one with `uv run clvchurn train --data DIR` (and point `CLVCHURN_NB_DATA` at the same folder), "
        "or set `CLVCHURN_NB_TRAIN_IF_MISSING=1` to train a small pair on the data above."
    )
    if not TRAIN_IF_MISSING:
        raise ModelNotRegisteredError(
            f"no champion '{PAIR_MODEL_NAME}' in {TRACKING_URI}; see the message above"
        )
    outcome = train(
        raw, TrainingConfig(snapshots=3, seed=SEED), tracking_uri=TRACKING_URI, data_source=data_source
    )
    decision = outcome.decision
    assert decision is not None  # train() always gates the pair it registers
    print(f"trained: {PAIR_MODEL_NAME} v{decision.version} -> {decision.alias} ({decision.reason})")

# %%
LOADED = load_pair(CHAMPION, TRACKING_URI)
PAIR = LOADED.pair
PAIR_META = PAIR.metadata
LOOKBACK_DAYS = PAIR_META.lookback_days
CUTPOINTS = TierCutpoints.from_dict(PAIR_META.tier_cutpoints)
print(
    f"{PAIR_MODEL_NAME} v{LOADED.version} (run {LOADED.run_id}): trained {PAIR_META.trained_at:%Y-%m-%d %H:%M} on data "
    f"to {PAIR_META.data_end:%Y-%m-%d}; active customers ordered within {LOOKBACK_DAYS} days; churn horizon "
    f"{PAIR_META.churn_horizon_days} days, value horizon {PAIR_META.value_horizon_days} days"
)
for name, bundle in PAIR.models.items():
    meta = bundle.metadata
    backtest = f"{meta.backtest_as_of:%Y-%m-%d}" if meta.backtest_as_of else "none"
    print(
        f"{name} v{LOADED.version}: {meta.model_family}; {'/'.join(meta.populations)} customers, label {meta.target} "
        f"over {meta.horizon_days} days; backtest as of {backtest}; trained through {meta.trained_through:%Y-%m-%d}; "
        f"fallback: {meta.fallback or 'none'}"
    )
print(
    f"tier cut-points ({CUTPOINTS.method}): A >= {CUTPOINTS.a_threshold:,.2f}, B >= {CUTPOINTS.b_threshold:,.2f}, "
    f"C >= {CUTPOINTS.c_threshold:,.2f}; minimum orders in 365 days {CUTPOINTS.minimum_orders_365d or 'none'}"
)
if PAIR_META.data_end > DATA_END:
    print(
        f"the data ends {DATA_END:%Y-%m-%d}, before the pair's training data ({PAIR_META.data_end:%Y-%m-%d}): "
        "it is not the data the pair was trained on"
    )
print("what the schedule and the recipe chose:")
print("\n".join(f"- {note}" for note in PAIR_META.notes))

# %% [markdown]
# ## 2. The backtest validation rows, scored again
# Each model was backtested on its own snapshot (`backtest_as_of`: the data end minus its horizon): the
# features then, the labels from the events after it, and only the rows of the model's populations (the
# value if retained: only active and lapsed customers who ordered within the churn horizon). Its
# `backtest_metrics` are those of the **backtest model**, fitted before that cutoff: out of time.
#
# The registered pair holds the **refits** instead, the same recipe moved forward to the newest labels:
# each was calibrated on the latest snapshot whose labels close in the data, which is its backtest
# snapshot. On these rows the refit's figures are therefore in sample, not out of time (usually better
# than the stored ones): they describe the registered model, the stored figures are the ones to trust for
# new customers.
# The stored figures can be recomputed only with the backtest models, which are not registered: when
# this notebook trains the pair itself, it checks them with the run's backtest models.

# %%
_tables: dict[datetime, pl.DataFrame] = {}


def training_table(as_of: datetime) -> pl.DataFrame:
    """Features, population and labels of every customer at one cutoff, with the pair's lookback and horizons."""
    if as_of not in _tables:
        _tables[as_of] = build_training_table(
            raw, [as_of], PAIR_META.churn_horizon_days, PAIR_META.value_horizon_days, LOOKBACK_DAYS
        )
    return _tables[as_of]


def score(features: pl.DataFrame) -> pl.DataFrame:
    """Every customer's population, its population's probability, the values and the value tier, as served."""
    if POPULATION_COLUMN not in features.columns:
        features = features.with_columns(population_expr(LOOKBACK_DAYS))
    predictions = PAIR.predict_frame(features)
    population = features[POPULATION_COLUMN].to_numpy()
    probability = np.full(features.height, np.nan)
    for members_of, model in PROBABILITY_MODELS.items():
        members = population == members_of
        probability[members] = predictions[model].to_numpy()[members]
    predicted_value = np.maximum(predictions["value"].to_numpy(), 0.0)
    return features.with_columns(
        pl.Series("probability", probability),
        pl.Series("predicted_value", predicted_value),
        pl.Series("tier", assign_tier(CUTPOINTS, predicted_value, features["orders_365d"].to_numpy())),
    )


def validation_rows(name: str) -> pl.DataFrame:
    """The rows `name` was backtested on, scored by the registered pair: `actual` and `predicted` added."""
    meta = PAIR[name].metadata
    assert meta.backtest_as_of is not None
    table = training_table(meta.backtest_as_of)
    rows = table.filter(pl.col(POPULATION_COLUMN).is_in(meta.populations))
    if SPECS[name].retained_only:
        rows = rows.filter(pl.col(ORDERED_COLUMN) == 1)
    return score(rows).with_columns(
        pl.col(meta.target).cast(pl.Float64).alias("actual"),
        pl.Series("predicted", PAIR[name].predict_frame(rows)),
    )


def report_card(name: str, actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The backtest's metrics of a model: probability ones for the three probabilities, value ones otherwise."""
    try:
        if name in PROBABILITY_MODEL_NAMES:
            return probability_metrics(actual.astype(np.int64), predicted)
        return value_metrics(actual, predicted)
    except MetricInputError as error:
        print(f"{name}: no metrics on {len(actual)} rows ({error})")
        return {}


VALIDATION: dict[str, pl.DataFrame] = {}
DIAGNOSED = (*PROBABILITY_MODEL_NAMES, "value", "value_if_retained")
for name, bundle in PAIR.models.items():
    meta = bundle.metadata
    if name not in DIAGNOSED:
        print(f"{name}: its backtest against a naive forecast is in its model card; not diagnosed here")
        continue
    if meta.backtest_as_of is None:
        print(f"{name}: no backtest recorded; not diagnosed")
        continue
    check_label_window(meta.backtest_as_of, meta.horizon_days, DATA_END)
    VALIDATION[name] = validation_rows(name)
    horizon = timedelta(days=meta.horizon_days)
    learned = any(
        cutoff < meta.backtest_as_of + horizon and meta.backtest_as_of < cutoff + horizon
        for cutoff in (*meta.fit_cutoffs, meta.calibration_cutoff)
    )
    print(
        f"{name}: {VALIDATION[name].height:,} rows as of {meta.backtest_as_of:%Y-%m-%d}; the registered refit "
        f"{'learned' if learned else 'did not learn'} their labels (calibrated as of {meta.calibration_cutoff:%Y-%m-%d})"
    )

comparison = []
same = []
for name, frame in VALIDATION.items():
    actual, stored = frame["actual"].to_numpy(), PAIR[name].metadata.backtest_metrics
    registered = report_card(name, actual, frame["predicted"].to_numpy())
    recomputed = {}
    if outcome is not None:
        backtest_model = outcome.models[name].backtest.fitted
        recomputed = report_card(name, actual, backtest_model.predict(frame))
        same.append(outcome.models[name].backtest.validation.height == frame.height)
        same += [
            np.isclose(stored.get(metric, np.nan), value, rtol=1e-9, atol=0.0, equal_nan=True)
            for metric, value in recomputed.items()
        ]
    comparison += [
        {
            "model": name,
            "metric": metric,
            "stored_backtest": stored.get(metric),
            "recomputed_backtest": recomputed.get(metric),
            "registered_refit": value,
        }
        for metric, value in registered.items()
    ]
if outcome is not None:
    print(f"recomputed backtest metrics equal the stored ones: {all(same)}")
    if not all(same):
        print(
            "(the rows above are not the ones the backtest was judged on: a bug in this notebook or the library)"
        )
else:
    print(
        "the stored backtest metrics come from backtest models that are not registered; recomputed_backtest "
        "stays empty (the notebook recomputes them when it trains the pair itself)"
    )
pl.DataFrame(comparison)

# %% [markdown]
# ## 3. Global SHAP
# TreeSHAP contributions on a sample of each model's validation rows, in the model's output units
# (probability points for the probabilities, currency for the values). Each row's contributions add up
# to its prediction minus the base; the check below confirms it. A model that fell back to its
# population's base rate has no contributions.


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


for name, frame in VALIDATION.items():
    bundle = PAIR[name]
    if bundle.metadata.fallback:
        print(f"{name} model: no SHAP, {bundle.metadata.fallback}")
        continue
    if frame.height == 0:
        print(f"{name} model: no SHAP, no validation rows")
        continue
    units = "probability points" if name in PROBABILITY_MODEL_NAMES else "currency"
    display(global_shap(bundle, frame, f"{name} model: SHAP in {units}"))

# %% [markdown]
# ## 4. Calibration of the probabilities
# Observed rate of each population's label against the mean predicted probability in ten equal-width
# bins: a calibrated model lies on the diagonal, so "0.3" means about 30% of such customers churn (come
# back, convert). The refits were calibrated on these rows (section 2), so this shows how well the Platt
# map fitted them; the stored `ece` is the out-of-time figure.


# %%
def calibration_panel(axis: plt.Axes, name: str) -> pl.DataFrame:
    """One probability model's reliability curve on its validation rows, drawn on `axis`."""
    frame, meta = VALIDATION[name], PAIR[name].metadata
    population = meta.populations[0]
    actual, predicted = frame["actual"].to_numpy().astype(np.int64), frame["predicted"].to_numpy()
    predicted_mean, observed_rate = calibration_curve_data(actual, predicted, n_bins=10)
    ece = report_card(name, actual, predicted).get("ece", np.nan)
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axis.plot(predicted_mean, observed_rate, marker="o", label="champion")
    axis.set_xlabel(f"mean predicted {name} probability")
    axis.set_ylabel(f"observed {POPULATION_LABELS[population][0]} rate ({population} customers)")
    axis.set_title(f"{name}, ECE {ece:.3f}" + (" (base rate)" if meta.fallback else ""))
    axis.legend()
    return pl.DataFrame({"model": name, "mean_predicted": predicted_mean, "observed_rate": observed_rate})


calibrated = [name for name in PROBABILITY_MODEL_NAMES if name in VALIDATION and VALIDATION[name].height]
if not calibrated:
    print("no probability model has validation rows: nothing to calibrate")
else:
    figure, axes = plt.subplots(1, len(calibrated), figsize=(4.5 * len(calibrated), 4.5), squeeze=False)
    curves = [calibration_panel(axis, name) for axis, name in zip(axes[0], calibrated, strict=True)]
    figure.tight_layout()
    plt.show()
    display(pl.concat(curves))

# %% [markdown]
# ## 5. Value deciles
# Customers ranked by predicted value; decile 1 is the highest predicted. The value model ranks
# everyone, the value if retained the active and lapsed customers who ordered within the churn horizon.

# %%
pl.concat(
    [
        decile_table(VALIDATION[name]["actual"].to_numpy(), VALIDATION[name]["predicted"].to_numpy()).select(
            pl.lit(name).alias("model"), pl.all()
        )
        for name in ("value", "value_if_retained")
        if name in VALIDATION and VALIDATION[name].height
    ]
)

# %% [markdown]
# ## 6. Metrics by segment and by tier
# One good overall score can hide a segment a model serves badly. Each model is judged on its own
# validation rows: `observed` is the label rate (probabilities) or the mean future value (values),
# `ranking` the ROC-AUC or the normalised Gini. Ranking metrics are left empty for segments with fewer
# than 30 customers or without both outcomes. The tier is each row's value tier as served.


# %%
def guarded(metric: Callable[[np.ndarray, np.ndarray], float], *arrays: np.ndarray) -> float | None:
    """A metric that needs both outcomes or a positive total, or None where the segment lacks them."""
    if len(arrays[0]) < SEGMENT_MIN_CUSTOMERS:
        return None
    try:
        return float(metric(*arrays))
    except MetricInputError:
        return None


def ranking(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    if name in PROBABILITY_MODEL_NAMES:
        return lambda y, p: probability_metrics(y.astype(np.int64), p)["roc_auc"]
    return lambda a, p: value_metrics(a, p)["gini"]


def metrics_by(name: str, frame: pl.DataFrame, segment: str) -> pl.DataFrame:
    rows = []
    for (level,), part in frame.group_by(segment, maintain_order=True):
        actual, predicted = part["actual"].to_numpy(), part["predicted"].to_numpy()
        rows.append(
            {
                "model": name,
                "segment": segment,
                "level": level,
                "customers": part.height,
                "observed": float(actual.mean()),
                "mean_predicted": float(predicted.mean()),
                "ranking": guarded(ranking(name), actual, predicted),
            }
        )
    return pl.DataFrame(rows).sort("level")


segments = ("profile_industry", "profile_region", "profile_company_size", "tier")
by_segment = pl.concat(
    [
        metrics_by(name, frame, segment)
        for name, frame in VALIDATION.items()
        if frame.height
        for segment in segments
        if segment in frame.columns
    ]
)
print("metrics by segment and tier")
display(by_segment)

# %% [markdown]
# The tiers on the value model's validation rows (everyone at its backtest cutoff): how much of the
# future value each tier held, and how often its active customers churned.

# %%
VALUE_ROWS = VALIDATION["value"]
tier_summary = (
    VALUE_ROWS.group_by("tier")
    .agg(
        pl.len().alias("customers"),
        (pl.col(POPULATION_COLUMN) == "active").mean().alias("active_share"),
        pl.col("predicted_value").sum().alias("predicted_value"),
        pl.col("future_value").sum().alias("future_value"),
        pl.col("churned").mean().alias("churn_rate_of_active"),
    )
    .with_columns((pl.col("future_value") / pl.col("future_value").sum()).alias("share_of_future_value"))
    .sort("tier")
)
display(tier_summary)

# %% [markdown]
# ## 7. Tier migration
# The whole base scored at two cutoffs with the same champion pair and the same cut-points: the data
# end (the cutoff the next scoring run sees) and `CLVCHURN_NB_MIGRATION_DAYS` before it. Rows are the
# tier at the earlier cutoff, columns the tier at the later one; `new` customers were not yet known at
# the earlier cutoff. The diagonal is stability; large flows off it mean tiers an account manager cannot
# plan with.

# %%
later = DATA_END
earlier = later - timedelta(days=MIGRATION_DAYS)
tiers_then = score(build_features(raw, earlier)).select("customer_id", pl.col("tier").alias("tier_before"))
tiers_now = score(build_features(raw, later)).select("customer_id", pl.col("tier").alias("tier_after"))
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
display(migration)
