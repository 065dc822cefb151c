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
invoice describes customers by features that cannot yet hold what they measure. The schedule takes up
to `snapshots` fit cutoffs, `step_days` apart, the most recent first, and says which it chose and which
it left out, and why.

**Short histories.** An out-of-time calibration fold costs one horizon of data, so the backtest needs
three horizons plus the minimum history (a year of invoices with 91-day horizons does not have them).
When the out-of-time backtest would keep fewer than half of the requested fit cutoffs, the calibration
fold is instead a held-out share of customers (`HELD_OUT_SHARE`, grouped by customer) at the fit
cutoffs themselves, which then step back from C = V - H (backtest) or C = data end - H (refit): no fit
row shares a customer with a calibration row, but their label windows are the same weeks, so the fold
calibrates to the fit period's base rate rather than a later one. The mode is chosen once per model
family from the backtest and used by the refit too, so the refit is the backtest's recipe moved
forward; the notes and the model card say which was used (`calibration_mode`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from domain.errors import ScheduleError

CalibrationMode = Literal["out_of_time", "held_out_customers"]
CalibrationChoice = Literal["auto", "out_of_time", "held_out_customers"]
CALIBRATION_CHOICES: Final[tuple[str, ...]] = ("auto", "out_of_time", "held_out_customers")
HELD_OUT_SHARE: Final = 0.25
"""The share of customers kept apart as the calibration fold in the held-out mode."""


@dataclass(frozen=True)
class Schedule:
    """The cutoffs of one model's backtest or refit (see the module docstring)."""

    horizon_days: int
    training: tuple[datetime, ...]
    calibration: datetime
    validation: datetime | None
    notes: tuple[str, ...]
    calibration_mode: CalibrationMode = "out_of_time"

    @property
    def all(self) -> list[datetime]:
        """Every distinct cutoff, oldest first."""
        return sorted({*self.training, self.calibration, *([self.validation] if self.validation else [])})

    @property
    def trained_through(self) -> datetime:
        """The newest cutoff whose labels the model learns from (its calibration fold's)."""
        return self.calibration

    @property
    def held_out(self) -> bool:
        return self.calibration_mode == "held_out_customers"


def plan_model(
    data_start: datetime,
    data_end: datetime,
    horizon_days: int,
    snapshots: int,
    step_days: int,
    min_history_days: int,
    validation_as_of: datetime | None = None,
    calibration: CalibrationChoice = "auto",
    what: str = "model",
) -> tuple[Schedule, Schedule]:
    """The backtest and the refit of one model family, with one calibration mode for both."""
    common = (data_start, data_end, horizon_days, snapshots, step_days, min_history_days)
    mode: CalibrationMode
    if calibration == "auto":
        try:
            trial = plan_backtest(*common, validation_as_of, what=what)
        except ScheduleError:
            mode = "held_out_customers"
        else:
            mode = "out_of_time" if len(trial.training) >= math.ceil(snapshots / 2) else "held_out_customers"
    else:
        mode = calibration
    backtest = plan_backtest(*common, validation_as_of, what=what, calibration_mode=mode)
    refit = plan_refit(*common, what=what, calibration_mode=mode)
    if mode == "held_out_customers" and calibration == "auto":
        note = (
            f"{what}: too little history for an out-of-time calibration fold (it costs one {horizon_days}-day "
            f"horizon); calibrated on {HELD_OUT_SHARE:.0%} of the customers held out at the fit cutoffs"
        )
        backtest = _with_note(backtest, note)
    return backtest, refit


def _with_note(schedule: Schedule, note: str) -> Schedule:
    return Schedule(
        schedule.horizon_days,
        schedule.training,
        schedule.calibration,
        schedule.validation,
        (*schedule.notes, note),
        schedule.calibration_mode,
    )


def plan_backtest(
    data_start: datetime,
    data_end: datetime,
    horizon_days: int,
    snapshots: int,
    step_days: int,
    min_history_days: int,
    validation_as_of: datetime | None = None,
    what: str = "model",
    calibration_mode: CalibrationMode = "out_of_time",
) -> Schedule:
    """Validation at the latest cutoff whose `horizon_days` label window closes in the data (or
    `validation_as_of`), calibration one horizon earlier, fit cutoffs from one more horizon back (held
    out: fit cutoffs from one horizon back, the calibration fold among them)."""
    horizon = timedelta(days=horizon_days)
    latest = _midnight(data_end - horizon)
    validation = validation_as_of or latest
    if validation > latest:
        raise ScheduleError(
            f"--as-of {validation.date()} leaves a {horizon_days}-day label window that ends after the "
            f"data ({data_end.date()}); use --as-of {latest.date()} or earlier"
        )
    newest = validation - horizon
    training, calibration, notes = _fit_cutoffs(
        data_start, newest, horizon_days, snapshots, step_days, min_history_days, what, calibration_mode
    )
    notes.insert(
        0,
        f"{what} backtest: validated as of {validation.date()}, {_calibrated(calibration, calibration_mode)}, "
        f"fitted on {_dates(training)}",
    )
    return Schedule(horizon_days, training, calibration, validation, tuple(notes), calibration_mode)


def plan_refit(
    data_start: datetime,
    data_end: datetime,
    horizon_days: int,
    snapshots: int,
    step_days: int,
    min_history_days: int,
    what: str = "model",
    calibration_mode: CalibrationMode = "out_of_time",
) -> Schedule:
    """Calibration at the latest cutoff whose label window closes in the data, fit cutoffs one
    horizon before it (held out: the fit cutoffs end there): the model that is registered and served."""
    newest = _midnight(data_end - timedelta(days=horizon_days))
    training, calibration, notes = _fit_cutoffs(
        data_start, newest, horizon_days, snapshots, step_days, min_history_days, what, calibration_mode
    )
    notes.insert(
        0,
        f"{what} refit: {_calibrated(calibration, calibration_mode)} (labels to {data_end.date()}), fitted on "
        f"{_dates(training)}",
    )
    return Schedule(horizon_days, training, calibration, None, tuple(notes), calibration_mode)


def _fit_cutoffs(
    data_start: datetime,
    calibration: datetime,
    horizon_days: int,
    snapshots: int,
    step_days: int,
    min_history_days: int,
    what: str,
    calibration_mode: CalibrationMode,
) -> tuple[tuple[datetime, ...], datetime, list[str]]:
    """Up to `snapshots` fit cutoffs with enough history: from `calibration` - H (out of time) or from
    `calibration` itself (held out), `step_days` apart; with the calibration cutoff (`calibration`, or
    the newest fit cutoff when held out) and the notes."""
    if snapshots < 1 or step_days < 1:
        raise ScheduleError(
            f"--snapshots ({snapshots}) and --step-days ({step_days}) must both be at least 1"
        )
    earliest = _midnight(data_start) + timedelta(days=min_history_days)
    out_of_time = calibration_mode == "out_of_time"
    newest = calibration - timedelta(days=horizon_days) if out_of_time else calibration
    wanted = [newest - timedelta(days=step_days * back) for back in range(snapshots)]
    kept = [cutoff for cutoff in wanted if cutoff >= earliest]
    if not kept:
        raise ScheduleError(
            f"{what}: no fit cutoff has {min_history_days} days of history: the newest possible one, "
            f"{newest.date()}, is only {(newest - data_start).days} days after the first event "
            f"({data_start.date()}); use shorter --churn-horizon-days / --value-horizon-days, a smaller "
            "--min-history-days, or more history"
        )
    notes = (
        [f"{what}: a gap of {horizon_days} days keeps every fit label window before the calibration one"]
        if out_of_time
        else []
    )
    if len(kept) < len(wanted):
        notes.append(
            f"{what}: {len(wanted) - len(kept)} older fit cutoffs left out: less than {min_history_days} "
            f"days of history before them (the data start {data_start.date()})"
        )
    return tuple(sorted(kept)), calibration if out_of_time else max(kept), notes


def _calibrated(calibration: datetime, mode: CalibrationMode) -> str:
    if mode == "out_of_time":
        return f"calibrated as of {calibration.date()}"
    return f"calibrated on {HELD_OUT_SHARE:.0%} held-out customers of the fit cutoffs"


def _midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), datetime.min.time())


def _dates(cutoffs: tuple[datetime, ...]) -> str:
    return ", ".join(cutoff.date().isoformat() for cutoff in cutoffs)
