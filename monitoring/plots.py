"""The monitor report's charts as PNG files, for the MLflow monitoring run (the pages draw their own SVG).

Four charts, each from the report alone: realised against backtest accuracy over the snapshots, the
calibration of the latest closed churn snapshot, PSI per feature of the latest snapshot, and the tier
migration matrix between the two latest snapshots. A chart without data (no closed snapshot yet, a
single snapshot) is not drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no screen: files only

import matplotlib.pyplot as plt
import numpy as np

from domain.vocabulary import TIERS

ACCURACY_SERIES = (("churn", "roc_auc"), ("value", "gini"))


def write_plots(report: Mapping[str, Any], folder: Path) -> list[Path]:
    """Every chart the report has data for, written into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in (
        ("realised_vs_backtest.png", _accuracy_over_time),
        ("calibration_latest_closed.png", _calibration),
        ("drift_psi.png", _drift),
        ("tier_migration.png", _migration),
    ):
        figure = draw(report)
        if figure is None:
            continue
        path = folder / name
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def _accuracy_over_time(report: Mapping[str, Any]) -> Any:
    realised = report.get("realised") or []
    series = [
        (
            model,
            metric,
            [(entry["snapshot_as_of"], entry[model][metric]) for entry in realised if entry.get(model)],
        )
        for model, metric in ACCURACY_SERIES
    ]
    if not any(points for _, _, points in series):
        return None
    figure, axes = plt.subplots(1, len(series), figsize=(10, 3.5), squeeze=False)
    for axis, (model, metric, points) in zip(axes[0], series, strict=True):
        axis.set_title(f"{model} {metric}")
        if not points:
            axis.text(0.5, 0.5, "no closed window yet", ha="center", transform=axis.transAxes)
            continue
        days = [day for day, _ in points]
        axis.plot(days, [value for _, value in points], marker="o", label="realised")
        backtests = [
            entry["backtest"].get(model, {}).get(metric) for entry in realised if entry.get(model) is not None
        ]
        axis.plot(days, backtests, linestyle="--", marker="x", label="backtest")
        axis.tick_params(axis="x", rotation=30)
        axis.legend()
    return figure


def _calibration(report: Mapping[str, Any]) -> Any:
    closed = [
        entry for entry in report.get("realised") or [] if (entry.get("churn") or {}).get("calibration")
    ]
    if not closed:
        return None
    entry = closed[-1]
    table = entry["churn"]["calibration"]
    predicted = [row["mean_predicted"] for row in table]
    observed = [row["observed_rate"] for row in table]
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    axis.plot(predicted, observed, marker="o", label="deciles")
    axis.set_xlabel("mean predicted churn probability")
    axis.set_ylabel("observed churn rate")
    axis.set_title(f"calibration, snapshot {entry['snapshot_as_of']}")
    axis.legend()
    return figure


def _drift(report: Mapping[str, Any]) -> Any:
    drift = report.get("drift")
    if not drift or not drift.get("features"):
        return None
    records = sorted(drift["features"], key=lambda record: record["value"])
    if drift.get("prediction"):
        records.append(drift["prediction"])
    figure, axis = plt.subplots(figsize=(7, max(3.0, 0.2 * len(records))))
    colours = [
        "#c0392b" if r["level"] == "flagged" else "#b7791f" if r["level"] == "watch" else "#2f855a"
        for r in records
    ]
    axis.barh([record["name"] for record in records], [record["value"] for record in records], color=colours)
    thresholds = drift.get("thresholds", {})
    for value in (thresholds.get("watch"), thresholds.get("flagged")):
        if value is not None:
            axis.axvline(value, color="grey", linestyle="--")
    axis.set_xlabel("population stability index")
    axis.set_title(f"drift of snapshot {drift['snapshot_as_of']}")
    axis.tick_params(axis="y", labelsize=7)
    return figure


def _migration(report: Mapping[str, Any]) -> Any:
    moves = report.get("migration")
    if not moves:
        return None
    counts = np.array([[moves["tiers"][origin][target] for target in TIERS] for origin in TIERS], dtype=float)
    figure, axis = plt.subplots(figsize=(4.5, 4))
    axis.imshow(counts, cmap="Blues")
    for row in range(len(TIERS)):
        for column in range(len(TIERS)):
            axis.text(column, row, f"{int(counts[row, column]):,}", ha="center", va="center", fontsize=8)
    axis.set_yticks(range(len(TIERS)), labels=list(TIERS))
    axis.set_xticks(range(len(TIERS)), labels=list(TIERS))
    axis.set_xlabel(f"tier on {moves['to']}")
    axis.set_ylabel(f"tier on {moves['from']}")
    axis.set_title("tier migration (customers)")
    return figure
