"""The out-of-time split, categorical levels learned on training rows, and closed label windows."""

from datetime import date, datetime

import polars as pl
import pytest

from domain.errors import InsufficientSnapshotsError, LabelWindowOpenError
from training.dataset import check_label_window, learn_categorical_levels, out_of_time_split

JAN, APR, JUL, OCT = (datetime(2024, month, 1) for month in (1, 4, 7, 10))


def training_table() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c1", "c2"],
            "as_of": [JAN, JAN, JAN, APR, APR],
            "orders_last_90_days": [1.0, None, 3.0, 2.0, 0.0],
            "profile_region": ["north", "south", None, "north", "west"],
            "churned": pl.Series([0, 1, None, 0, 1], dtype=pl.Int8),
            "future_value": [10.0, 0.0, 5.0, -2.0, 0.0],
        }
    )


def test_levels_are_learned_on_training_rows_most_frequent_first():
    table = pl.DataFrame({"profile_plan": ["gold", "basic", "gold", "silver", "basic", "gold", None]})
    assert learn_categorical_levels(table, ["profile_plan"]) == {"profile_plan": ["basic", "gold", "silver"]}
    assert learn_categorical_levels(table, ["profile_plan"], max_levels=2) == {
        "profile_plan": ["basic", "gold"]
    }


def snapshots(*as_ofs: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(2 * len(as_ofs))],
            "as_of": [as_of for as_of in as_ofs for _ in range(2)],
        }
    )


def test_split_is_by_time_latest_validates_previous_calibrates():
    table = snapshots(JUL, JAN, OCT, APR)  # row order must not matter
    train, calibration, validation = out_of_time_split(table)
    assert sorted(set(train["as_of"].to_list())) == [JAN, APR]
    assert calibration["as_of"].unique().to_list() == [JUL]
    assert validation["as_of"].unique().to_list() == [OCT]
    assert (train.height, calibration.height, validation.height) == (4, 2, 2)


def test_split_at_an_earlier_validation_date_drops_later_snapshots():
    split = out_of_time_split(snapshots(JAN, APR, JUL, OCT), validation_as_of=JUL)
    assert split.train["as_of"].unique().to_list() == [JAN]
    assert split.calibration["as_of"].unique().to_list() == [APR]
    assert split.validation["as_of"].unique().to_list() == [JUL]


def test_split_needs_three_snapshots_and_says_how_to_get_them():
    with pytest.raises(InsufficientSnapshotsError, match=r"at least 3 .* has 2.*--snapshots 3"):
        out_of_time_split(snapshots(JAN, APR))
    with pytest.raises(InsufficientSnapshotsError, match="has 2"):
        out_of_time_split(snapshots(JAN, APR, JUL), validation_as_of=APR)
    with pytest.raises(InsufficientSnapshotsError, match="not a snapshot"):
        out_of_time_split(snapshots(JAN, APR, JUL), validation_as_of=OCT)


def test_label_window_must_close_before_the_data_ends():
    check_label_window(JAN, 91, APR)  # 2024-01-01 + 91 days = 2024-04-01: closes exactly at the end
    check_label_window(date(2024, 1, 1), 91, datetime(2024, 4, 1))
    with pytest.raises(
        LabelWindowOpenError, match=r"up to 2024-04-02 .*horizon 92 days.*data ends 2024-04-01"
    ):
        check_label_window(JAN, 92, APR)
