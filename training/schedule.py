"""Which cutoffs a model learns from: the out-of-time backtest it is judged on, and the refit it serves.

Every model has a label horizon H (the churn family its churn horizon, the value models the value
horizon). Both schedules put a calibration cutoff C where a label window [C, C + H) closes inside the
data, and fit cutoffs stepping back from C - H: a gap of one horizon, so no fit row's label window
overlaps the calibration fold's (the fold stops boosting and calibrates probabilities, so it must be
as out of time as the customers the model will score).

- The **backtest** adds a validation cutoff V = data end - H (or `--as-of`) and sets C = V - H: neither
  the model nor its calibration sees an event on or after V, so its validation metrics mirror deploying
  it on day V. These are the figures training reports.
- The **refit** is the same recipe moved forward: C = data end - H, so the registered model learned
  from the newest labels the data allow (`trained_through` = C, no earlier than data end - H - step).

A fit cutoff needs `min_history_days` of data before it (180 days by default, half the longest feature
window; tenure features tell the model how much of a year it saw): a snapshot two weeks after the first
invoice describes customers by features that cannot yet hold what they measure. The schedule takes up to `snapshots` fit cutoffs, `step_days`
apart, the most recent first, and says which it chose and which it left out, and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import ScheduleError


@dataclass(frozen=True)
class Schedule:
    """The cutoffs of one model's backtest or refit (see the module docstring)."""

    horizon_days: int
    training: tuple[datetime, ...]
    calibration: datetime
    validation: datetime | None
    notes: tuple[str, ...]

    @property
    def all(self) -> list[datetime]:
        """Every cutoff, oldest first."""
        return [*self.training, self.calibration, *([self.validation] if self.validation else [])]

    @property
    def trained_through(self) -> datetime:
        """The newest cutoff whose labels the model learns from (its calibration fold's)."""
        return self.calibration


def plan_backtest(
    data_start: datetime,
    data_end: datetime,
    horizon_days: int,
    snapshots: int,
    step_days: int,
    min_history_days: int,
    validation_as_of: datetime | None = None,
    what: str = "model",
) -> Schedule:
    """Validation at the latest cutoff whose `horizon_days` label window closes in the data (or
    `validation_as_of`), calibration one horizon earlier, fit cutoffs from one more horizon back."""
    horizon = timedelta(days=horizon_days)
    latest = _midnight(data_end - horizon)
    validation = validation_as_of or latest
    if validation > latest:
        raise ScheduleError(
            f"--as-of {validation.date()} leaves a {horizon_days}-day label window that ends after the "
            f"data ({data_end.date()}); use --as-of {latest.date()} or earlier"
        )
    calibration = validation - horizon
    training, notes = _fit_cutoffs(
        data_start, calibration, horizon_days, snapshots, step_days, min_history_days, what
    )
    notes.insert(
        0,
        f"{what} backtest: validated as of {validation.date()}, calibrated as of {calibration.date()}, "
        f"fitted on {_dates(training)}",
    )
    return Schedule(horizon_days, training, calibration, validation, tuple(notes))


def plan_refit(
    data_start: datetime,
    data_end: datetime,
    horizon_days: int,
    snapshots: int,
    step_days: int,
    min_history_days: int,
    what: str = "model",
) -> Schedule:
    """Calibration at the latest cutoff whose label window closes in the data, fit cutoffs one
    horizon before it: the model that is registered and served."""
    calibration = _midnight(data_end - timedelta(days=horizon_days))
    training, notes = _fit_cutoffs(
        data_start, calibration, horizon_days, snapshots, step_days, min_history_days, what
    )
    notes.insert(
        0,
        f"{what} refit: calibrated as of {calibration.date()} (labels to {data_end.date()}), fitted on "
        f"{_dates(training)}",
    )
    return Schedule(horizon_days, training, calibration, None, tuple(notes))


def _fit_cutoffs(
    data_start: datetime,
    calibration: datetime,
    horizon_days: int,
    snapshots: int,
    step_days: int,
    min_history_days: int,
    what: str,
) -> tuple[tuple[datetime, ...], list[str]]:
    if snapshots < 1 or step_days < 1:
        raise ScheduleError(
            f"--snapshots ({snapshots}) and --step-days ({step_days}) must both be at least 1"
        )
    earliest = _midnight(data_start) + timedelta(days=min_history_days)
    newest = calibration - timedelta(days=horizon_days)
    wanted = [newest - timedelta(days=step_days * back) for back in range(snapshots)]
    kept = [cutoff for cutoff in wanted if cutoff >= earliest]
    if not kept:
        raise ScheduleError(
            f"{what}: no fit cutoff has {min_history_days} days of history: the newest possible one, "
            f"{newest.date()} ({horizon_days} days before the calibration cutoff {calibration.date()}), is only "
            f"{(newest - data_start).days} days after the first event ({data_start.date()}); use shorter "
            "--churn-horizon-days / --value-horizon-days, a smaller --min-history-days, or more history"
        )
    notes = [f"{what}: a gap of {horizon_days} days keeps every fit label window before the calibration one"]
    if len(kept) < len(wanted):
        notes.append(
            f"{what}: {len(wanted) - len(kept)} older fit cutoffs left out: less than {min_history_days} "
            f"days of history before them (the data start {data_start.date()})"
        )
    return tuple(sorted(kept)), notes


def _midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), datetime.min.time())


def _dates(cutoffs: tuple[datetime, ...]) -> str:
    return ", ".join(cutoff.date().isoformat() for cutoff in cutoffs)
