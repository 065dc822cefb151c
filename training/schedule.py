"""Which cutoffs a training run uses, so that validation is a true out-of-time backtest.

The latest cutoff is the validation snapshot; its label window must close before the data ends. The
calibration snapshot sits one full label horizon earlier, so that neither the model nor its
probability calibration ever sees an event on or after the validation cutoff; the training snapshots
step back from there. Training as of the validation cutoff thus mirrors deploying a model on that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import ScheduleError


@dataclass(frozen=True)
class CutoffSchedule:
    training: tuple[datetime, ...]
    calibration: datetime
    validation: datetime

    @property
    def all(self) -> list[datetime]:
        """Every cutoff, oldest first (the order the out-of-time split expects)."""
        return [*self.training, self.calibration, self.validation]


def plan_cutoffs(
    data_start: datetime,
    data_end: datetime,
    label_horizon_days: int,
    snapshots: int,
    step_days: int,
    validation_as_of: datetime | None = None,
) -> CutoffSchedule:
    """Place `snapshots` cutoffs (at least 3) inside [data_start, data_end).

    `data_end` is the first moment after the data; `label_horizon_days` the longest label window.
    """
    if snapshots < 3:
        raise ScheduleError(
            f"--snapshots {snapshots} is too few: training needs at least 3 (training, calibration, validation)"
        )
    horizon = timedelta(days=label_horizon_days)
    latest_possible = data_end - horizon
    validation = validation_as_of or latest_possible
    if validation > latest_possible:
        raise ScheduleError(
            f"--as-of {validation.date()} leaves a {label_horizon_days}-day label window that ends after the "
            f"data ({data_end.date()}); use --as-of {latest_possible.date()} or earlier"
        )
    calibration = validation - horizon
    training = tuple(calibration - timedelta(days=step_days * i) for i in range(snapshots - 2, 0, -1))
    if training[0] <= data_start:
        raise ScheduleError(
            f"the oldest training cutoff {training[0].date()} is not after the first event "
            f"({data_start.date()}); use fewer --snapshots, a smaller --step-days or shorter horizons"
        )
    return CutoffSchedule(training=training, calibration=calibration, validation=validation)
