"""Files logged beside each model of the pair: charts, tables, the feature list and a model card.

They are for the people who decide whether to trust a model (data scientists in MLflow, the model
pages); serving reads only the pair's metadata. Charts are drawn on the backtest's validation rows,
the figures the run reports; the model card also says what the registered refit learned from.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from model_contract import ModelBundle
from training.backtest import Backtest
from training.metrics import calibration_curve_data, cumulative_gain_curve, decile_table
from training.schedule import HELD_OUT_SHARE

# TreeSHAP costs about a millisecond per row for a few hundred trees; a thousand dots already show
# each feature's spread and direction in the summary plot.
SHAP_SAMPLE_ROWS = 1_000

PURPOSES = {
    "churn": "Estimates the probability that an active customer (an order within the lookback) places no order "
    "in the next {horizon} days. Calibrated out of time: 0.3 means about 30%. With the value if retained it "
    "gives the value at risk that ranks retention work.",
    "reactivation": "Estimates the probability that a lapsed customer (no order within the lookback) orders again "
    "in the next {horizon} days: whom a win-back is worth trying on.",
    "conversion": "Estimates the probability that a prospect (never ordered) places a first order in the next "
    "{horizon} days.",
    "value": "Predicts each customer's net spend over the next {horizon} days (refunds included); its "
    "predictions for active customers set the value tiers A-D. It ranks customers for account management; "
    "it is not a revenue forecast for finance.",
    "value_if_retained": "Predicts the net spend over the next {horizon} days of a customer who orders within the "
    "churn horizon (stays, or comes back): the value lost if an active customer churns.",
    "orders": "Predicts each customer's number of orders over the next {horizon} days (predicted_orders), judged "
    "against the orders of the last 365 days scaled to the horizon.",
    "next_order": "Predicts, for an active customer who orders within the next {horizon} days, how many days after "
    "the cutoff the next order comes (the median): expected_next_order_date. Read it with the churn probability, "
    "which says how likely that order is; judged against the naive last order plus the usual interval.",
    "value_range": "Gives each customer's predicted value an interval (predicted_value.low and .high) that holds "
    "the actual spend over the next {horizon} days with the stated probability, per tier: conformalized quantile "
    "regression calibrated out of time on the calibration fold.",
}
UNITS = {"orders": "orders", "next_order": "days"}
"""The unit of the contributions of the models that are neither probabilities nor currency."""


def write_model_artifacts(bundle: ModelBundle, backtest: Backtest) -> None:
    """Log `bundle`'s charts, tables and model card to the active MLflow run.

    The charts are drawn with the file-only Agg backend, and the caller's backend is restored after,
    so training from a notebook keeps its inline figures.
    """
    previous = plt.get_backend()
    plt.switch_backend("Agg")
    try:
        _write_model_artifacts(bundle, backtest)
    finally:
        plt.switch_backend(previous)


def _write_model_artifacts(bundle: ModelBundle, backtest: Backtest) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        metadata = bundle.metadata
        feature_list = [
            {"name": n, "description": metadata.feature_descriptions[n]} for n in metadata.feature_names
        ]
        (folder / "feature_list.json").write_text(json.dumps(feature_list, indent=2, ensure_ascii=False))
        (folder / "reference_statistics.json").write_text(json.dumps(metadata.reference_statistics, indent=2))
        (folder / "validation_metrics.json").write_text(json.dumps(backtest.table, indent=2, allow_nan=True))
        if backtest.validation.height and metadata.fallback is None and metadata.name in _OWN_CHARTS:
            _OWN_CHARTS[metadata.name](folder, bundle, backtest)
        elif backtest.validation.height and metadata.fallback is None:
            _shap_summary(folder / "shap_summary.png", bundle, backtest)
            if backtest.spec.is_probability:
                _calibration_chart(folder / "calibration_curve.png", backtest)
            else:
                decile_table(backtest.actual, backtest.predicted).write_csv(folder / "decile_table.csv")
            _gain_chart(folder / "cumulative_gain.png", backtest)
        if backtest.fitted.comparison:
            (folder / "value_model_candidates.json").write_text(
                json.dumps(backtest.fitted.comparison, indent=2)
            )
        _write_model_card(folder / "model_card.md", bundle, backtest)
        mlflow.log_artifacts(str(folder))


def _shap_summary(path: Path, bundle: ModelBundle, backtest: Backtest) -> None:
    """Beeswarm of per-customer contributions (output units) on a fixed random sample of validation rows."""
    import shap

    sample = backtest.validation.sample(n=min(SHAP_SAMPLE_ROWS, backtest.validation.height), seed=0)
    frame = bundle.model_frame(sample)
    _, contributions = bundle.scorer.contributions(frame)
    display = frame.apply(
        lambda column: column.cat.codes if isinstance(column.dtype, pd.CategoricalDtype) else column
    )
    shap.summary_plot(np.asarray(contributions), display, show=False, max_display=15)
    figure = plt.gcf()
    unit = UNITS.get(backtest.spec.name) or (
        "probability points" if backtest.spec.is_probability else "currency"
    )
    figure.suptitle(f"SHAP contributions ({unit}) on the validation snapshot", fontsize=10)
    _save(figure, path)


def _calibration_chart(path: Path, backtest: Backtest) -> None:
    observed, predicted = calibration_curve_data(backtest.actual, backtest.predicted, n_bins=10)
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axis.plot(predicted, observed, marker="o", label=f"clvchurn {backtest.spec.name} model")
    axis.set_xlabel(f"predicted {backtest.spec.target} probability")
    axis.set_ylabel("observed rate")
    axis.set_title(
        f"Calibration on the validation snapshot (ECE {backtest.metrics.get('ece', float('nan')):.3f})"
    )
    axis.legend()
    _save(figure, path)


def _gain_chart(path: Path, backtest: Backtest) -> None:
    share_of_customers, share_captured = cumulative_gain_curve(
        backtest.actual.astype(float), backtest.predicted
    )
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(share_of_customers, share_captured, label="clvchurn")
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="random")
    axis.set_xlabel("share of customers, highest predicted first")
    axis.set_ylabel(f"share of {backtest.spec.target} captured")
    axis.set_title("Cumulative gain on the validation snapshot")
    axis.legend()
    _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _calibration_text(mode: str, cutoff: datetime) -> str:
    if mode == "out_of_time":
        return f"calibrated on the snapshot of {cutoff:%Y-%m-%d}"
    return f"calibrated on {HELD_OUT_SHARE:.0%} of the customers held out at those cutoffs"


def _calibration_gap(mode: str, horizon_days: int) -> str:
    if mode == "out_of_time":
        return (
            f"- Fit and calibration are {horizon_days} days apart (a gap of one horizon), so no fit row's "
            "label window overlaps the calibration fold's."
        )
    return (
        "- The history is too short for an out-of-time calibration fold: the fold is customers held out at "
        "the fit cutoffs (no customer on both sides, the same label weeks), so it calibrates to the fit "
        "period's base rate."
    )


def _write_model_card(path: Path, bundle: ModelBundle, backtest: Backtest) -> None:
    metadata = bundle.metadata
    table = backtest.table
    metric_names = list(table.get("clvchurn", {}))
    lines = [
        f"# clvchurn {metadata.name} model",
        "",
        "## What it is for",
        PURPOSES[metadata.name].format(horizon=metadata.horizon_days),
        "",
        "## How it was built",
        f"- Family: {metadata.model_family}; rows of {', '.join(metadata.populations)} customers, label "
        f"`{metadata.target}` over {metadata.horizon_days} days.",
        f"- Registered model (the refit): fitted on the cutoffs {_dates(metadata.fit_cutoffs)}, "
        f"{_calibration_text(metadata.calibration_mode, metadata.calibration_cutoff)}: trained through "
        f"{metadata.trained_through:%Y-%m-%d}.",
        _calibration_gap(metadata.calibration_mode, metadata.horizon_days),
        f"- Backtest: the same recipe fitted on {_dates(list(backtest.schedule.training))}, "
        f"{_calibration_text(backtest.schedule.calibration_mode, backtest.schedule.calibration)}, validated on "
        f"{metadata.backtest_as_of:%Y-%m-%d}"
        if metadata.backtest_as_of
        else "- Backtest: none",
        f"- Features: {len(metadata.feature_names)} point-in-time features (feature_list.json).",
    ]
    if metadata.fallback:
        lines += ["", "## Fallback", metadata.fallback]
    if metric_names:
        lines += [
            "",
            "## How it scored on the validation snapshot",
            "| model | " + " | ".join(metric_names) + " |",
            "|---" * (len(metric_names) + 1) + "|",
        ]
        for model_name, metrics in table.items():
            cells = " | ".join(_fmt(metrics.get(name, float("nan"))) for name in metric_names)
            lines.append(f"| {model_name} | {cells} |")
    candidates: dict[str, Any] = backtest.fitted.comparison
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
        "- Customer attributes are taken as they are now at every historical cutoff.",
        "- Baselines marked n/a produce ranking scores only, so probability or currency errors are undefined.",
    ]
    path.write_text("\n".join(lines) + "\n")


def _dates(cutoffs: list[Any]) -> str:
    return ", ".join(f"{cutoff:%Y-%m-%d}" for cutoff in cutoffs) or "-"


def _fmt(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4g}"


def _orders_charts(folder: Path, bundle: ModelBundle, backtest: Backtest) -> None:
    _shap_summary(folder / "shap_summary.png", bundle, backtest)
    decile_table(backtest.actual, backtest.predicted).write_csv(folder / "decile_table.csv")


def _next_order_charts(folder: Path, bundle: ModelBundle, backtest: Backtest) -> None:
    _shap_summary(folder / "shap_summary.png", bundle, backtest)
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.scatter(backtest.actual, backtest.predicted, s=4, alpha=0.3)
    top = float(max(np.max(backtest.actual), np.max(backtest.predicted)))
    axis.plot([0, top], [0, top], linestyle="--", color="grey")
    axis.set_xlabel("actual days to the next order")
    axis.set_ylabel("predicted days (median)")
    axis.set_title(
        f"Next order on the validation snapshot (MAE {backtest.metrics.get('mae_days', float('nan')):.1f} days, "
        f"naive {backtest.metrics.get('naive_mae_days', float('nan')):.1f})",
        fontsize=9,
    )
    _save(figure, folder / "predicted_vs_actual_days.png")


def _value_range_charts(folder: Path, bundle: ModelBundle, backtest: Backtest) -> None:
    """Coverage per tier of the range and of the simpler intervals, against the level."""
    level = float(bundle.metadata.model_params.get("level", 0.8))
    groups = [name for name in backtest.metrics if name.startswith("coverage")]
    figure, axis = plt.subplots(figsize=(6, 4))
    width = 0.8 / max(len(backtest.table), 1)
    for offset, (method, metrics) in enumerate(backtest.table.items()):
        positions = np.arange(len(groups)) + offset * width
        axis.bar(positions, [metrics.get(group, np.nan) for group in groups], width, label=method)
    axis.axhline(level, color="grey", linestyle="--", label=f"level {level:.0%}")
    axis.set_xticks(
        np.arange(len(groups)) + 0.4 - width / 2, [g.replace("coverage_", "tier ") for g in groups]
    )
    axis.set_ylim(0, 1)
    axis.set_ylabel("share of actual spend inside the range")
    axis.set_title("Value range coverage on the validation snapshot", fontsize=10)
    axis.legend(fontsize=7)
    _save(figure, folder / "coverage_by_tier.png")


_OWN_CHARTS = {"orders": _orders_charts, "next_order": _next_order_charts, "value_range": _value_range_charts}
