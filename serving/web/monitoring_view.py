"""The monitoring page's content: the monitor report turned into chart geometry and tables, on the server.

Charts are SVG drawn by the templates from the coordinates computed here (no script, no network
fetch): realised against backtest accuracy over the snapshots, with the CBPE estimate beside them;
the calibration of the latest closed churn snapshot, with the band where a calibrated model's observed
rates would fall; PSI bars per feature of the latest snapshot; and the tier-migration matrix as a heat
map whose cells link to the customers who moved. Every number comes from the report `clvchurn
monitor` wrote (`serving.monitor_report`); nothing is recomputed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from domain.vocabulary import LIFECYCLE_STAGES, TIERS, Language
from serving.text import Texts

ACCURACY_CHARTS: Final = (
    ("churn", "roc_auc"),
    ("churn", "ece"),
    ("value", "gini"),
    ("value", "total_error_pct"),
    ("reactivation", "roc_auc"),
    ("conversion", "roc_auc"),
)
UNIT_METRICS: Final = frozenset({"roc_auc", "pr_auc", "brier", "ece", "gini", "spearman"})
"""Metrics bounded by 0 and 1 (Gini and Spearman by -1 and 1): their axes never leave [0, 1]."""
SEGMENT_METRICS: Final = ("roc_auc", "ece", "brier")
HEAT_LEVELS: Final = 5

# Plot areas (SVG user units); the templates' viewBoxes use the same numbers.
LINE_WIDTH, LINE_HEIGHT, LINE_LEFT, LINE_RIGHT, LINE_TOP, LINE_BOTTOM = 420.0, 190.0, 46.0, 12.0, 10.0, 30.0
SQUARE, SQUARE_MARGIN = 260.0, 34.0
BAR_WIDTH = 220.0


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float
    day: str


@dataclass(frozen=True)
class Series:
    """One line of a chart: `kind` is realised, backtest or estimated."""

    kind: str
    points: list[Point]

    @property
    def path(self) -> str:
        return " ".join(f"{point.x:.1f},{point.y:.1f}" for point in self.points)


@dataclass(frozen=True)
class LineChart:
    model: str
    metric: str
    series: list[Series]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    width: float = LINE_WIDTH
    height: float = LINE_HEIGHT
    left: float = LINE_LEFT
    bottom: float = LINE_HEIGHT - LINE_BOTTOM
    right: float = LINE_WIDTH - LINE_RIGHT
    top: float = LINE_TOP


@dataclass(frozen=True)
class CalibrationChart:
    snapshot_as_of: str
    customers: int
    points: list[Point]
    bands: list[tuple[float, float, float]]  # x, y of the low end, y of the high end
    ticks: list[tuple[float, str]]
    size: float = SQUARE
    margin: float = SQUARE_MARGIN

    @property
    def path(self) -> str:
        return " ".join(f"{point.x:.1f},{point.y:.1f}" for point in self.points)

    @property
    def origin(self) -> float:
        return self.size - self.margin


@dataclass(frozen=True)
class DriftBar:
    name: str
    value: float
    level: str
    width: float
    is_prediction: bool = False


@dataclass(frozen=True)
class DriftView:
    snapshot_as_of: str
    reference_as_of: str | None
    flagged: bool
    flagged_share: float
    bars: list[DriftBar]
    watch_x: float
    flagged_x: float
    watch: float
    flagged_at: float
    absent: list[str]


@dataclass(frozen=True)
class HeatCell:
    origin: str
    target: str
    count: int
    value: float
    level: int
    link: str | None


@dataclass(frozen=True)
class MigrationView:
    from_as_of: str
    to_as_of: str
    customers: int
    entered: int
    left: int
    moved_up: int
    moved_down: int
    tiers: list[list[HeatCell]]
    stages: list[list[HeatCell]]
    stage_levels: list[str]


@dataclass(frozen=True)
class MonitoringView:
    """Everything the page shows, from one report."""

    as_of: str
    data_end: str
    generated_at: str
    champion_version: str | None
    scored_by: str
    latest_snapshot: str
    alert_count: int
    drift_flagged: bool
    cutoffs: list[str]
    accuracy: list[LineChart]
    calibration: CalibrationChart | None
    drift: DriftView | None
    migration: MigrationView | None
    alerts: list[dict[str, Any]]
    in_sample: list[dict[str, str]]
    segments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    segments_snapshot: str | None = None


def drift_labels(texts: Texts, language: Language) -> Callable[[str], str]:
    """Names of drift records in `language`: a prediction's from `web.monitoring.predictions`, a
    feature's (profile attributes included) as the reasons name it."""
    catalogue = texts.catalogues[language]

    def label(name: str) -> str:
        key = f"web.monitoring.predictions.{name}"
        return catalogue.text(key) if catalogue.has(key) else texts.reasons.label(name, language)

    return label


def monitoring_view(
    report: Mapping[str, Any], feature_label: Any = None, moves_link: str | None = "/monitoring/moves"
) -> MonitoringView:
    """The page's content for `report`; `feature_label(name)` names features in the page's language, and
    heat-map cells link to `moves_link` (None: no links, as in a file written by `clvchurn monitor --html`)."""
    label = feature_label or (lambda name: name)
    status = report["status"]
    champion = report.get("champion") or {}
    realised = list(report.get("realised") or [])
    estimated = list(report.get("estimated") or [])
    latest_churn = next((entry for entry in reversed(realised) if entry.get("churn")), None)
    return MonitoringView(
        as_of=report["as_of"],
        data_end=report.get("data_end", report["as_of"]),
        generated_at=report.get("generated_at", ""),
        champion_version=champion.get("version"),
        scored_by=str(status.get("scored_by", "")),
        latest_snapshot=status["latest_snapshot"],
        alert_count=int(status.get("alerts", 0)),
        drift_flagged=bool(status.get("drift_flagged")),
        cutoffs=list(report["history"]["cutoffs"]),
        accuracy=[
            chart
            for model, metric in ACCURACY_CHARTS
            if (chart := accuracy_chart(realised, estimated, model, metric)) is not None
        ],
        calibration=calibration_chart(realised, estimated),
        drift=drift_view(report.get("drift"), label),
        migration=migration_view(report.get("migration"), moves_link),
        alerts=[
            alert | {"snapshot_as_of": entry["snapshot_as_of"]}
            for entry in realised
            for alert in entry["alerts"]
        ],
        in_sample=[
            {"snapshot_as_of": entry["snapshot_as_of"], "model": model}
            for entry in realised
            for model, window in entry.get("windows", {}).items()
            if window["closed"] and not window["out_of_time"] and entry.get(model) is not None
        ],
        segments=_segments(latest_churn),
        segments_snapshot=None if latest_churn is None else latest_churn["snapshot_as_of"],
    )


def accuracy_chart(
    realised: Sequence[Mapping[str, Any]], estimated: Sequence[Mapping[str, Any]], model: str, metric: str
) -> LineChart | None:
    """Realised and backtest `metric` of `model` per closed snapshot, and its CBPE estimate per snapshot."""
    raw: dict[str, list[tuple[str, float]]] = {"realised": [], "backtest": [], "estimated": []}
    for entry in realised:
        card = entry.get(model)
        if not card or _number(card.get(metric)) is None:
            continue
        raw["realised"].append((entry["snapshot_as_of"], float(card[metric])))
        stored = _number(entry.get("backtest", {}).get(model, {}).get(metric))
        if stored is not None:
            raw["backtest"].append((entry["snapshot_as_of"], stored))
    if not raw["realised"]:
        return None
    for entry in estimated:
        guess = _number((entry.get(model) or {}).get(f"{metric}_expected"))
        if guess is not None:
            raw["estimated"].append((entry["snapshot_as_of"], guess))
    days = sorted({day for points in raw.values() for day, _ in points})
    values = [value for points in raw.values() for _, value in points]
    low, high = _value_range(values, metric in UNIT_METRICS)
    x_of = _day_scale(days, LINE_LEFT, LINE_WIDTH - LINE_RIGHT)
    bottom = LINE_HEIGHT - LINE_BOTTOM

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - LINE_TOP)

    series = [
        Series(kind, [Point(x_of(day), y_of(value), value, day) for day, value in points])
        for kind, points in raw.items()
        if points
    ]
    y_ticks = [(y_of(tick), _tick_text(tick)) for tick in _ticks(low, high)]
    x_ticks = [(x_of(day), day) for day in days]
    return LineChart(model, metric, series, y_ticks, x_ticks)


def calibration_chart(
    realised: Sequence[Mapping[str, Any]], estimated: Sequence[Mapping[str, Any]]
) -> CalibrationChart | None:
    """Observed against predicted churn per decile of the latest closed snapshot, and the 5%-95% band of
    the observed rate a calibrated model would show (from the same snapshot's CBPE table)."""
    closed = [entry for entry in realised if (entry.get("churn") or {}).get("calibration")]
    if not closed:
        return None
    entry = closed[-1]
    span = SQUARE - 2 * SQUARE_MARGIN

    def x_of(value: float) -> float:
        return SQUARE_MARGIN + value * span

    def y_of(value: float) -> float:
        return SQUARE - SQUARE_MARGIN - value * span

    points = [
        Point(
            x_of(row["mean_predicted"]), y_of(row["observed_rate"]), row["observed_rate"], str(row["decile"])
        )
        for row in entry["churn"]["calibration"]
    ]
    same = next((e for e in estimated if e["snapshot_as_of"] == entry["snapshot_as_of"]), None)
    table = ((same or {}).get("churn") or {}).get("calibration") or []
    bands = [
        (x_of(row["mean_predicted"]), y_of(row["observed_rate_low"]), y_of(row["observed_rate_high"]))
        for row in table
    ]
    ticks = [(value, f"{value:.2g}") for value in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return CalibrationChart(
        entry["snapshot_as_of"],
        int(entry["churn"]["n"]),
        points,
        bands,
        [(x_of(value), text) for value, text in ticks],
    )


def drift_view(drift: Mapping[str, Any] | None, label: Any) -> DriftView | None:
    """One bar per prediction and feature, largest PSI first, on a scale that shows both thresholds."""
    if not drift:
        return None
    thresholds = drift.get("thresholds", {})
    watch, flagged = float(thresholds.get("watch", 0.1)), float(thresholds.get("flagged", 0.25))
    predictions = list(drift.get("predictions") or [])
    features = sorted(drift.get("features") or [], key=lambda record: -record["value"])
    scale = max([flagged * 1.25, *(record["value"] for record in [*predictions, *features])])
    bars = [
        DriftBar(
            label(record["name"]),
            record["value"],
            record["level"],
            round(min(record["value"], scale) / scale * BAR_WIDTH, 2),
            is_prediction=record in predictions,
        )
        for record in [*predictions, *features]
    ]
    return DriftView(
        drift["snapshot_as_of"],
        (drift.get("reference") or {}).get("as_of"),
        bool(drift["flagged"]),
        float(drift.get("flagged_share", 0.0)),
        bars,
        round(watch / scale * BAR_WIDTH, 2),
        round(flagged / scale * BAR_WIDTH, 2),
        watch,
        flagged,
        list(drift.get("absent_columns") or []),
    )


def migration_view(
    moves: Mapping[str, Any] | None, link_base: str | None = "/monitoring/moves"
) -> MigrationView | None:
    """The tier matrix as a heat map shaded by the share of the earlier tier, and the stage matrix."""
    if not moves:
        return None
    stages: list[str] = [stage for stage in LIFECYCLE_STAGES if stage in moves["stages"]]
    return MigrationView(
        from_as_of=moves["from"],
        to_as_of=moves["to"],
        customers=int(moves["customers"]),
        entered=int(moves["entered"]),
        left=int(moves["left"]),
        moved_up=int(moves["moved_up"]),
        moved_down=int(moves["moved_down"]),
        tiers=_heat(moves["tiers"], moves["tier_values"], list(TIERS), link_base),
        stages=_heat(moves["stages"], moves["stage_values"], stages, None),
        stage_levels=stages,
    )


def movers_of(moves: Mapping[str, Any] | None, origin: str, target: str) -> tuple[list[dict[str, Any]], int]:
    """The listed customers who moved from tier `origin` to `target`, and how many moved in all."""
    if not moves or origin not in TIERS or target not in TIERS:
        return [], 0
    listed = [
        mover
        for mover in moves.get("movers", [])
        if mover["tier_from"] == origin and mover["tier_to"] == target
    ]
    return listed, int(moves["tiers"][origin][target])


def _heat(
    counts: Mapping[str, Mapping[str, int]],
    values: Mapping[str, Mapping[str, float]],
    levels: list[str],
    link_base: str | None,
) -> list[list[HeatCell]]:
    rows = []
    for origin in levels:
        total = sum(counts[origin].values())
        row = []
        for target in levels:
            count = int(counts[origin][target])
            level = math.ceil(HEAT_LEVELS * count / total) if total else 0
            link = (
                f"{link_base}?from={origin}&to={target}"
                if link_base is not None and origin != target and count > 0
                else None
            )
            row.append(HeatCell(origin, target, count, float(values[origin][target]), level, link))
        rows.append(row)
    return rows


def _segments(entry: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    if entry is None:
        return {}
    segments = entry["churn"].get("segments") or {}
    return {
        segment: [
            {"level": level, "n": card["n"], **{metric: card.get(metric) for metric in SEGMENT_METRICS}}
            for level, card in levels.items()
        ]
        for segment, levels in segments.items()
    }


def _day_scale(days: list[str], left: float, right: float) -> Any:
    ordinals = [date.fromisoformat(day).toordinal() for day in days]
    first, last = min(ordinals), max(ordinals)

    def x_of(day: str) -> float:
        if first == last:
            return (left + right) / 2
        return left + (date.fromisoformat(day).toordinal() - first) / (last - first) * (right - left)

    return x_of


def _value_range(values: list[float], unit: bool) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = max((high - low) * 0.15, 0.02 if unit else max(abs(high), 1.0) * 0.05)
    low, high = low - pad, high + pad
    if unit:
        low, high = max(low, 0.0 if min(values) >= 0 else -1.0), min(high, 1.0)
    return low, high


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    step = _nice((high - low) / count)
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + 1e-12:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _nice(raw: float) -> float:
    exponent = math.floor(math.log10(raw)) if raw > 0 else 0
    fraction = raw / 10**exponent
    nice = (
        1 if fraction <= 1 else 2 if fraction <= 2 else 2.5 if fraction <= 2.5 else 5 if fraction <= 5 else 10
    )
    return float(nice * 10**exponent)


def _tick_text(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)
