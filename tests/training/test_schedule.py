from datetime import datetime

import pytest

from domain.errors import ScheduleError
from training.schedule import plan_cutoffs

START = datetime(2022, 1, 1)
END = datetime(2026, 1, 1)


def test_validation_defaults_to_latest_cutoff_whose_label_window_closes_in_the_data() -> None:
    schedule = plan_cutoffs(START, END, label_horizon_days=365, snapshots=4, step_days=90)
    assert schedule.validation == datetime(2025, 1, 1)
    assert schedule.calibration == datetime(2024, 1, 2)
    assert schedule.training == (datetime(2023, 7, 6), datetime(2023, 10, 4))
    assert schedule.all == [*schedule.training, schedule.calibration, schedule.validation]


def test_no_label_window_of_training_or_calibration_reaches_the_validation_cutoff() -> None:
    schedule = plan_cutoffs(START, END, label_horizon_days=180, snapshots=5, step_days=30)
    for cutoff in [*schedule.training, schedule.calibration]:
        assert (schedule.validation - cutoff).days >= 180


def test_explicit_validation_cutoff_past_the_data_names_the_option() -> None:
    with pytest.raises(ScheduleError, match=r"--as-of 2025-06-01 .* use --as-of 2025-01-01"):
        plan_cutoffs(START, END, 365, 4, 90, validation_as_of=datetime(2025, 6, 1))


def test_too_few_snapshots_and_too_short_history_are_refused() -> None:
    with pytest.raises(ScheduleError, match="--snapshots 2"):
        plan_cutoffs(START, END, 365, 2, 90)
    with pytest.raises(ScheduleError, match="fewer --snapshots"):
        plan_cutoffs(datetime(2024, 6, 1), END, 365, 4, 90)
