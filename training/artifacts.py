"""Files logged beside each model: charts, tables, the feature list and a model card.

They are for the people who decide whether to trust a model (data scientists in MLflow, the model
pages); serving reads only the bundle's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import polars as pl

from model_contract.bundle import ModelBundle
from training.metrics import calibration_curve_data, cumulative_gain_curve, decile_table

# TreeSHAP costs about a millisecond per row for a few hundred trees; a thousand dots already show
# each feature's spread and direction in the summary plot.
SHAP_SAMPLE_ROWS = 1_000


def write_churn_artifacts(
    folder: Path,
    bundle: ModelBundle,
    features: pl.DataFrame,
    churned: np.ndarray,
    probability: np.ndarray,
    metrics_table: dict[str, dict[str, float]],
) -> None:
    _write_common(folder, bundle, features, metrics_table)
    observed, predicted = calibration_curve_data(churned, probability, n_bins=10)
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axis.plot(predicted, observed, marker="o", label="clvchurn churn model")
    axis.set_xlabel("predicted churn probability")
    axis.set_ylabel("observed churn rate")
    axis.set_title(f"Calibration on the validation snapshot (ECE {metrics_table['clvchurn']['ece']:.3f})")
    axis.legend()
    _save(figure, folder / "calibration_curve.png")
    _gain_chart(folder / "cumulative_gain.png", churned.astype(float), probability, "churners")
    _write_model_card(folder, bundle, metrics_table, purpose=_CHURN_PURPOSE)


def write_value_artifacts(
    folder: Path,
    bundle: ModelBundle,
    features: pl.DataFrame,
    actual: np.ndarray,
    predicted: np.ndarray,
    metrics_table: dict[str, dict[str, float]],
    candidates: dict[str, Any],
) -> None:
    _write_common(folder, bundle, features, metrics_table)
    decile_table(actual, predicted).write_csv(folder / "decile_table.csv")
    _gain_chart(folder / "cumulative_gain.png", actual, predicted, "actual value")
    (folder / "value_model_candidates.json").write_text(json.dumps(candidates, indent=2))
    (folder / "tier_cutpoints.json").write_text(json.dumps(bundle.metadata.tier_cutpoints, indent=2))
    _write_model_card(folder, bundle, metrics_table, purpose=_VALUE_PURPOSE, candidates=candidates)


def _write_common(
    folder: Path, bundle: ModelBundle, features: pl.DataFrame, metrics_table: dict[str, dict[str, float]]
) -> None:
    metadata = bundle.metadata
    feature_list = [
        {"name": n, "description": metadata.feature_descriptions[n]} for n in metadata.feature_names
    ]
    (folder / "feature_list.json").write_text(json.dumps(feature_list, indent=2, ensure_ascii=False))
    (folder / "reference_statistics.json").write_text(json.dumps(metadata.reference_statistics, indent=2))
    (folder / "validation_metrics.json").write_text(json.dumps(metrics_table, indent=2, allow_nan=True))
    _shap_summary(folder / "shap_summary.png", bundle, features)


def _shap_summary(path: Path, bundle: ModelBundle, features: pl.DataFrame) -> None:
    """Beeswarm of per-customer contributions (output units) on a fixed random sample of validation rows."""
    import shap

    sample = features.sample(n=min(SHAP_SAMPLE_ROWS, features.height), seed=0)
    frame = bundle.model_frame(sample)
    _, contributions = bundle.scorer.contributions(frame)
    display = frame.apply(
        lambda column: column.cat.codes if isinstance(column.dtype, pd.CategoricalDtype) else column
    )
    shap.summary_plot(np.asarray(contributions), display, show=False, max_display=15)
    figure = plt.gcf()
    unit = "probability points" if bundle.metadata.kind == "churn" else "currency"
    figure.suptitle(f"SHAP contributions ({unit}) on the validation snapshot", fontsize=10)
    _save(figure, path)


def _gain_chart(path: Path, actual: np.ndarray, predicted: np.ndarray, what: str) -> None:
    share_of_customers, share_captured = cumulative_gain_curve(actual, predicted)
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(share_of_customers, share_captured, label="clvchurn")
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    axis.set_xlabel("share of customers, highest predicted first")
    axis.set_ylabel(f"share of {what} captured")
    axis.set_title("Cumulative gain on the validation snapshot")
    axis.legend()
    _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


_CHURN_PURPOSE = (
    "Estimates the probability that a customer who bought in the last year places no order in the next "
    "{horizon} days. Probabilities are calibrated on an out-of-time fold: 0.3 means about 30%. Used to rank "
    "retention work by value at risk; it does not say why a customer leaves, only which signals moved."
)
_VALUE_PURPOSE = (
    "Predicts each customer's net spend over the next {horizon} days (refunds included). Its predictions are "
    "cut into value tiers A-D. It ranks customers for account management; it is not a revenue forecast "
    "for finance."
)


def _write_model_card(
    folder: Path,
    bundle: ModelBundle,
    metrics_table: dict[str, dict[str, float]],
    *,
    purpose: str,
    candidates: dict[str, Any] | None = None,
) -> None:
    metadata = bundle.metadata
    metric_names = list(metrics_table["clvchurn"])
    lines = [
        f"# clvchurn {metadata.kind} model",
        "",
        "## What it is for",
        purpose.format(horizon=metadata.horizon_days),
        "",
        "## How it was built",
        f"- Family: {metadata.model_family}",
        f"- Trained: {metadata.trained_at:%Y-%m-%d %H:%M}; validated out of time on the snapshot of "
        f"{metadata.validation_as_of:%Y-%m-%d} (labels from events on or after that date only).",
        f"- Features: {len(metadata.feature_names)} point-in-time features (feature_list.json).",
        "",
        "## How it scored on the validation snapshot",
        "| model | " + " | ".join(metric_names) + " |",
        "|---" * (len(metric_names) + 1) + "|",
    ]
    for model_name, metrics in metrics_table.items():
        cells = " | ".join(_fmt(metrics.get(name, float("nan"))) for name in metric_names)
        lines.append(f"| {model_name} | {cells} |")
    if candidates:
        lines += ["", "## Value model candidates (calibration snapshot)", f"Rule: {candidates['rule']}."]
        for name, scores in candidates["candidates"].items():
            chosen = " (selected)" if name == candidates["selected"] else ""
            described = ", ".join(f"{k} {v if isinstance(v, str) else _fmt(v)}" for k, v in scores.items())
            lines.append(f"- {name}{chosen}: {described}")
    lines += [
        "",
        "## Limits",
        "- Trained on one company's history; re-validate after changes in pricing, catalogue or data capture.",
        "- Baselines marked NaN produce ranking scores only, so probability or currency errors are undefined.",
    ]
    (folder / "model_card.md").write_text("\n".join(lines) + "\n")


def _fmt(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4g}"
