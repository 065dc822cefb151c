"""The backtest and refit schedules: out of time, a gap of one horizon, enough history, notes that say why."""

from datetime import datetime, timedelta

import pytest

from domain.errors import ScheduleError
from training.schedule import plan_backtest, plan_refit

START = datetime(2022, 1, 1)
END = datetime(2026, 1, 1)


def test_backtest_validates_where_the_last_label_window_closes_and_calibrates_one_horizon_earlier() -> None:
    schedule = plan_backtest(START, END, 180, snapshots=3, step_days=90, min_history_days=180)
    assert schedule.validation == datetime(2025, 7, 5)
    assert schedule.calibration == datetime(2025, 1, 6)
    assert schedule.training == (datetime(2024, 1, 12), datetime(2024, 4, 11), datetime(2024, 7, 10))
    assert schedule.all == [*schedule.training, schedule.calibration, schedule.validation]
    assert schedule.trained_through == schedule.calibration


@pytest.mark.parametrize("horizon", [30, 91, 180, 365])
def test_no_fit_label_window_reaches_the_calibration_cutoff_nor_calibrations_the_validation(
    horizon: int,
) -> None:
    schedule = plan_backtest(START, END, horizon, snapshots=5, step_days=30, min_history_days=90)
    assert schedule.validation is not None
    assert schedule.validation + timedelta(days=horizon) <= END
    assert schedule.calibration + timedelta(days=horizon) <= schedule.validation
    for cutoff in schedule.training:
        assert cutoff + timedelta(days=horizon) <= schedule.calibration


def test_the_refit_is_the_backtest_moved_forward_to_the_newest_labels() -> None:
    backtest = plan_backtest(START, END, 180, 3, 90, 180)
    refit = plan_refit(START, END, 180, 3, 90, 180)
    assert refit.validation is None
    assert refit.calibration == backtest.validation
    assert refit.calibration + timedelta(days=180) <= END
    assert [c - b for b, c in zip(backtest.training, refit.training, strict=True)] == [
        timedelta(days=180)
    ] * 3


def test_explicit_validation_cutoff_past_the_data_names_the_option() -> None:
    with pytest.raises(ScheduleError, match=r"--as-of 2025-12-01 .* use --as-of 2025-07-05 or earlier"):
        plan_backtest(START, END, 180, 4, 90, 180, validation_as_of=datetime(2025, 12, 1))


def test_fit_cutoffs_without_enough_history_are_left_out_and_said() -> None:
    schedule = plan_backtest(datetime(2023, 6, 1), END, 180, snapshots=6, step_days=90, min_history_days=180)
    assert min(schedule.training) >= datetime(2023, 6, 1) + timedelta(days=180)
    assert len(schedule.training) < 6
    assert any("older fit cutoffs left out" in note for note in schedule.notes)


def test_no_fit_cutoff_with_enough_history_is_refused_with_the_options_to_change() -> None:
    with pytest.raises(ScheduleError, match="--min-history-days"):
        plan_backtest(datetime(2024, 6, 1), END, 180, 4, 90, 365)
    with pytest.raises(ScheduleError, match="at least 1"):
        plan_refit(START, END, 180, 0, 90, 180)
