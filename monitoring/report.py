"""`clvchurn monitor`'s report: every past snapshot judged on what then happened, drift and tier migration.

Inputs are the raw data (the outcomes), the snapshot history (`serving.history`: each cutoff's rows
and the pair that scored them) and the day outcomes are known up to (default the data end). For each
snapshot and each model of the pair:

1. **realised** performance (`monitoring.realised`) when the model's label window has closed: churn,
   reactivation and conversion on their populations, the value over everyone, overall, by tier and by
   lifecycle stage, beside the backtest figures stored with the pair that scored the snapshot, and an
   alert per metric worse than the backtest by more than its tolerance. A window the pair's own
   training labels reached into is marked `out_of_time: false`: its figures flatter the model;
2. **estimated** performance (`monitoring.estimated`, CBPE) of every probability from the calibrated
   probabilities alone, with the realised figure beside it once the window has closed, so the
   estimate can be checked;
3. **drift** (`monitoring.drift`) of the latest snapshot: its features (those `clvchurn score` filed
   beside it, else rebuilt from the raw data with the one feature function) and predictions against the reference distribution of the pair that
   scored it;
4. **migration** (`monitoring.migration`) between the two latest snapshots, with the customers who
   moved tier, the largest later value first, `movers_per_cell` per cell (all of them in `movers`).

Everything is JSON-ready (NaN and infinities become null); keys are documented in README "Monitoring".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from domain.errors import MonitoringInputError
from features.build import build_features, data_end
from features.contract import RawData
from model_contract import PROBABILITY_MODELS
from monitoring.drift import drift_report
from monitoring.estimated import estimated_binary_performance
from monitoring.migration import migration, tier_movers
from monitoring.outcomes import FUTURE_VALUE, OUTCOME, is_closed, snapshot_outcomes, window_end
from monitoring.realised import backtest_comparison, realised_binary_performance, realised_value_performance
from monitoring.settings import MonitoringSettings
from serving.history import history_cutoffs, read_history_features, read_history_pair, read_history_snapshot
from serving.serialise import PROBABILITY_COLUMNS

logger = logging.getLogger(__name__)

REPORT_FORMAT: Final = 1
SNAPSHOT_COLUMNS: Final = (
    "customer_id",
    "population",
    "tier",
    "lifecycle_stage",
    "churn_probability",
    "reactivation_probability",
    "conversion_probability",
    "predicted_value",
)
"""The columns of a history entry the report reads (reason codes and actions are left on disk)."""
DRIFT_PREDICTION: Final = "churn_probability"
_ESTIMATE_CHECKED: Final = ("roc_auc", "pr_auc", "brier", "ece")


@dataclass(frozen=True)
class MonitorResult:
    """The report (JSON-ready) and every tier mover between the two latest snapshots (or None)."""

    report: dict[str, Any]
    movers: pl.DataFrame | None


@dataclass(frozen=True)
class MonitorSources:
    """Where a report's inputs come from, so that one report serves every engine: in process from the
    raw data and a local history (`local_sources`), or a whole history judged on Spark
    (`spark_engine.monitoring`).

    `snapshot(day)` gives a cutoff's `SNAPSHOT_COLUMNS`; `outcomes(snapshot, as_of, churn_days,
    value_days)` that frame with `OUTCOME` and `FUTURE_VALUE` (`monitoring.outcomes.snapshot_outcomes`);
    `features(day)` the features the cutoff was scored from, for drift.
    """

    history: str
    data_end: datetime | None
    cutoffs: Sequence[date]
    pair: Callable[[date], dict[str, Any]]
    snapshot: Callable[[date], pl.DataFrame]
    outcomes: Callable[[pl.DataFrame, datetime, int, int], pl.DataFrame]
    features: Callable[[date], pl.DataFrame]


def local_sources(raw: RawData, history_dir: Path) -> MonitorSources:
    """The inputs of `clvchurn monitor` in process: outcomes and features from `raw`, the history on disk."""

    def outcomes(snapshot: pl.DataFrame, as_of: datetime, churn_days: int, value_days: int) -> pl.DataFrame:
        return snapshot_outcomes(raw, snapshot, as_of, churn_days, value_days)

    def features(day: date) -> pl.DataFrame:
        kept = read_history_features(history_dir, day)
        if kept is not None:
            return kept
        # an entry filed without its features (by an older clvchurn): build them with the one function
        logger.info("The history keeps no features for %s: building them from the raw data", day)
        return build_features(raw, _midnight(day))

    return MonitorSources(
        history=str(history_dir),
        data_end=data_end(raw),
        cutoffs=history_cutoffs(history_dir),
        pair=lambda day: read_history_pair(history_dir, day),
        snapshot=lambda day: read_history_snapshot(history_dir, day, columns=list(SNAPSHOT_COLUMNS)),
        outcomes=outcomes,
        features=features,
    )


def monitor(
    raw: RawData,
    history_dir: Path,
    *,
    as_of: datetime | None = None,
    settings: MonitoringSettings | None = None,
    champion: Mapping[str, Any] | None = None,
) -> MonitorResult:
    """The monitoring report of the snapshots in `history_dir` against the outcomes in `raw`.

    Parameters
    ----------
    raw
        The raw CRM data up to now: the outcomes of past snapshots (and the features of the latest,
        when its history entry does not keep them).
    history_dir
        The snapshot history `clvchurn score` filed the cutoffs in.
    as_of
        The day outcomes are known up to (default, and at most, the data end); snapshots after it are
        left out.
    champion
        The registry's champion (`{"name", "version", "run_id"}`), recorded as the report's "champion".

    Raises
    ------
    MonitoringInputError
        The data hold no events, or the history holds no snapshot on or before `as_of`.
    """
    return monitor_sources(local_sources(raw, history_dir), as_of=as_of, settings=settings, champion=champion)


def monitor_sources(
    sources: MonitorSources,
    *,
    as_of: datetime | None = None,
    settings: MonitoringSettings | None = None,
    champion: Mapping[str, Any] | None = None,
) -> MonitorResult:
    """`monitor` on inputs from any engine (`MonitorSources`); the same report for the same inputs.

    Raises
    ------
    MonitoringInputError
        The data hold no events, or the history holds no snapshot on or before `as_of`.
    """
    settings = settings or MonitoringSettings()
    end = sources.data_end
    if end is None:
        raise MonitoringInputError("the raw data hold no transactions or interactions to judge snapshots by")
    known_until = min(as_of, end) if as_of is not None else end
    cutoffs = [day for day in sources.cutoffs if _midnight(day) <= known_until]
    if not cutoffs:
        held = ", ".join(day.isoformat() for day in sources.cutoffs) or "none"
        raise MonitoringInputError(
            f"the snapshot history {sources.history} holds no snapshot on or before {known_until.date()} (it "
            f"holds: {held}); score one with `clvchurn score --data DIR --as-of DATE --out FILE --history "
            f"{sources.history}`"
        )
    realised, estimated = [], []
    snapshots: dict[date, pl.DataFrame] = {}
    pairs: dict[date, dict[str, Any]] = {}
    for day in cutoffs:
        pairs[day] = sources.pair(day)
        snapshots[day] = sources.snapshot(day)
        judged = _judge_snapshot(sources, day, snapshots[day], pairs[day], known_until, settings)
        if judged.realised is not None:
            realised.append(judged.realised)
        estimated.append(judged.estimated)
        if len(snapshots) > 2:  # only the two latest are needed later
            del snapshots[min(snapshots)]
    latest = cutoffs[-1]
    drift = _drift(sources, latest, snapshots[latest], pairs[latest], settings)
    moves, movers = (None, None)
    if len(cutoffs) > 1:
        previous = cutoffs[-2]
        moves, movers = _migration(snapshots[previous], snapshots[latest], previous, latest, settings)
    alerts = sum(len(entry["alerts"]) for entry in realised)
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "generated_at": datetime.now().replace(microsecond=0).isoformat(),
        "as_of": known_until.date().isoformat(),
        "data_end": end.date().isoformat(),
        "champion": _champion(champion),
        "history": {"path": sources.history, "cutoffs": [day.isoformat() for day in cutoffs]},
        "settings": _settings_used(settings),
        "status": {
            "alerts": alerts,
            "drift_flagged": bool(drift and drift["flagged"]),
            "latest_snapshot": latest.isoformat(),
            "latest_closed": _latest_closed(realised),
            "scored_by": pairs[latest]["version"],
        },
        "realised": realised,
        "estimated": estimated,
        "drift": drift,
        "migration": moves,
    }
    logger.info(
        "Monitored %d snapshots up to %s: %d realised, %d alerts, drift %s",
        len(cutoffs),
        known_until.date(),
        len(realised),
        alerts,
        "flagged" if report["status"]["drift_flagged"] else "not flagged",
    )
    return MonitorResult(json_ready(report), movers)


@dataclass(frozen=True)
class _Judged:
    realised: dict[str, Any] | None
    estimated: dict[str, Any]


def _judge_snapshot(
    sources: MonitorSources,
    day: date,
    snapshot: pl.DataFrame,
    pair: Mapping[str, Any],
    known_until: datetime,
    settings: MonitoringSettings,
) -> _Judged:
    """One snapshot's realised figures (None while no window has closed) and its CBPE estimates."""
    as_of = _midnight(day)
    churn_days, value_days = int(pair["churn_horizon_days"]), int(pair["value_horizon_days"])
    windows = {
        name: _window(as_of, name, pair, known_until) for name in (*PROBABILITY_MODELS.values(), "value")
    }
    closed = any(window["closed"] for window in windows.values())
    frame = sources.outcomes(snapshot, as_of, churn_days, value_days) if closed else snapshot
    estimated: dict[str, Any] = {
        "snapshot_as_of": day.isoformat(),
        "pair_version": pair["version"],
        "customers": snapshot.height,
    }
    realised: dict[str, Any] = {
        "snapshot_as_of": day.isoformat(),
        "pair_version": pair["version"],
        "run_id": pair.get("run_id"),
        "customers": snapshot.height,
        "unmatched": int(frame[OUTCOME].null_count()) if closed else 0,
        "windows": windows,
    }
    comparison: list[dict[str, Any]] = []
    for population, model in PROBABILITY_MODELS.items():
        rows = frame.filter(pl.col("population") == population)
        column = PROBABILITY_COLUMNS[population]
        if rows.height == 0:
            estimated[model] = realised[model] = None
            continue
        guess = _estimate(rows[column].to_numpy(), settings)
        guess["closes_on"] = windows[model]["to"]
        card = None
        if windows[model]["closed"]:
            known = rows.filter(pl.col(OUTCOME).is_not_null())
            card = (
                realised_binary_performance(known, outcome=OUTCOME, probability=column)
                if known.height
                else None
            )
        guess["realised"] = None if card is None else {name: card[name] for name in _ESTIMATE_CHECKED}
        estimated[model] = guess
        realised[model] = card
        if card is not None:
            comparison += backtest_comparison(card, _backtest(pair, model), settings, model=model)
    value = None
    if windows["value"]["closed"]:
        known = frame.filter(pl.col(FUTURE_VALUE).is_not_null())
        value = (
            realised_value_performance(known, actual=FUTURE_VALUE, predicted="predicted_value")
            if known.height
            else None
        )
        if value is not None:
            comparison += backtest_comparison(value, _backtest(pair, "value"), settings, model="value")
    realised["value"] = value
    realised["backtest"] = {
        name: {"as_of": model.get("backtest_as_of"), **model.get("backtest_metrics", {})}
        for name, model in pair.get("models", {}).items()
    }
    realised["comparison"] = comparison
    realised["alerts"] = [record for record in comparison if record["alert"]]
    return _Judged(realised if closed else None, estimated)


def _window(as_of: datetime, model: str, pair: Mapping[str, Any], known_until: datetime) -> dict[str, Any]:
    """A model's label window for the snapshot: its dates, whether it has closed, and whether the pair's
    own training labels stopped before it (out of time) or reached into it."""
    described = pair.get("models", {}).get(model, {})
    fallback = pair["value_horizon_days"] if model == "value" else pair["churn_horizon_days"]
    horizon = int(described.get("horizon_days", fallback))
    trained_through = described.get("trained_through")
    learned_until = (
        window_end(datetime.fromisoformat(trained_through), horizon) if trained_through is not None else None
    )
    return {
        "from": as_of.date().isoformat(),
        "to": window_end(as_of, horizon).date().isoformat(),
        "horizon_days": horizon,
        "closed": is_closed(as_of, horizon, known_until),
        "out_of_time": learned_until is not None and learned_until <= as_of,
    }


def _estimate(probabilities: np.ndarray, settings: MonitoringSettings) -> dict[str, Any]:
    return estimated_binary_performance(probabilities, n_bins=settings.calibration_bins)


def _backtest(pair: Mapping[str, Any], model: str) -> dict[str, Any]:
    metrics: dict[str, Any] = pair.get("models", {}).get(model, {}).get("backtest_metrics", {})
    return metrics


def _drift(
    sources: MonitorSources,
    day: date,
    snapshot: pl.DataFrame,
    pair: Mapping[str, Any],
    settings: MonitoringSettings,
) -> dict[str, Any] | None:
    """Drift of the latest snapshot against its pair's reference; None for a pair stored without one."""
    reference = pair.get("reference_distribution") or {}
    if not reference.get("features"):
        logger.warning("Pair v%s has no reference distribution: no drift report", pair.get("version"))
        return None
    features = sources.features(day)
    predictions = [name for name in reference.get("predictions", {}) if name in snapshot.columns]
    current = features.join(snapshot.select("customer_id", *predictions), on="customer_id", how="left")
    absent = [name for name in reference["features"] if name not in current.columns]
    if absent:  # an attribute the customers file no longer has: every customer is missing it now
        current = current.with_columns(pl.lit(None, dtype=pl.String).alias(name) for name in absent)
    headline = DRIFT_PREDICTION if DRIFT_PREDICTION in reference.get("predictions", {}) else None
    report = drift_report(current, reference, settings=settings, prediction=headline)
    return {
        "snapshot_as_of": day.isoformat(),
        "pair_version": pair["version"],
        "absent_columns": absent,
        **report,
    }


def _migration(
    previous: pl.DataFrame,
    current: pl.DataFrame,
    previous_day: date,
    current_day: date,
    settings: MonitoringSettings,
) -> tuple[dict[str, Any], pl.DataFrame]:
    moves = migration(
        previous, current, from_as_of=previous_day.isoformat(), to_as_of=current_day.isoformat()
    )
    movers = tier_movers(previous, current)
    listed = (
        movers.with_columns(pl.int_range(pl.len()).over("tier_from", "tier_to").alias("_rank"))
        .filter(pl.col("_rank") < settings.movers_per_cell)
        .drop("_rank")
    )
    moves["movers_total"] = movers.height
    moves["movers"] = listed.to_dicts()
    return moves, movers


def _latest_closed(realised: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
    latest: dict[str, str | None] = dict.fromkeys((*PROBABILITY_MODELS.values(), "value"))
    for entry in realised:
        for model in latest:
            if entry.get(model) is not None:
                latest[model] = entry["snapshot_as_of"]
    return latest


def _champion(champion: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if champion is None:
        return None
    version = champion.get("version")
    names = (*PROBABILITY_MODELS.values(), "value", "value_if_retained")
    return {
        "name": champion.get("name"),
        "run_id": champion.get("run_id"),
        "version": version,
        "versions": {"pair": version, **dict.fromkeys(names, version)},
    }


def _settings_used(settings: MonitoringSettings) -> dict[str, Any]:
    return {
        "psi_watch": settings.psi_watch,
        "psi_flagged": settings.psi_flagged,
        "drift_flagged_share": settings.drift_flagged_share,
        "calibration_bins": settings.calibration_bins,
        "tolerances": dict(settings.tolerances),
        "relative_tolerances": dict(settings.relative_tolerances),
    }


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def json_ready(value: Any) -> Any:
    """`value` with NaN and infinities as None, numpy scalars as Python numbers, dates as ISO text."""
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
