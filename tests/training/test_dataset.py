from datetime import date, datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest

from domain.errors import FeatureMatrixError, InsufficientSnapshotsError, LabelLeakError, LabelWindowOpenError
from training.dataset import (
    FeatureMatrix,
    check_label_window,
    learn_categorical_levels,
    out_of_time_split,
    to_model_frame,
)

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


@pytest.mark.parametrize(
    "leaky", ["churned", "future_value", "future_orders_90_days", "customer_id", "as_of"]
)
def test_labels_and_keys_cannot_enter_the_matrix(leaky: str):
    with pytest.raises(LabelLeakError, match=leaky):
        to_model_frame(training_table(), ["orders_last_90_days", leaky], {})
    with pytest.raises(LabelLeakError):
        FeatureMatrix.learn(training_table(), ["orders_last_90_days", leaky])


def test_model_frame_has_floats_and_fixed_categorical_levels():
    frame = to_model_frame(
        training_table(), ["profile_region", "orders_last_90_days"], {"profile_region": ["north", "south"]}
    )
    assert list(frame.columns) == ["profile_region", "orders_last_90_days"]
    assert frame["orders_last_90_days"].dtype == np.float64
    np.testing.assert_array_equal(frame["orders_last_90_days"].to_numpy(), [1.0, np.nan, 3.0, 2.0, 0.0])
    region = frame["profile_region"]
    assert list(region.cat.categories) == ["north", "south"]
    # "west" was not seen in training and the null stays missing: both NaN, codes -1
    assert region.cat.codes.tolist() == [0, 1, -1, 0, -1]


def test_pandas_input_gives_the_same_frame_as_polars():
    table = training_table()
    levels = {"profile_region": ["north", "south", "west"]}
    names = ["orders_last_90_days", "profile_region"]
    pd.testing.assert_frame_equal(
        to_model_frame(table.to_pandas(), names, levels), to_model_frame(table, names, levels)
    )


def test_missing_feature_and_non_numeric_feature_are_named():
    with pytest.raises(FeatureMatrixError, match="orders_last_30_days"):
        to_model_frame(training_table(), ["orders_last_30_days"], {})
    with pytest.raises(FeatureMatrixError, match="profile_region"):
        to_model_frame(training_table(), ["profile_region"], {})


def test_levels_are_learned_on_training_rows_most_frequent_first():
    table = pl.DataFrame({"profile_plan": ["gold", "basic", "gold", "silver", "basic", "gold", None]})
    assert learn_categorical_levels(table, ["profile_plan"]) == {"profile_plan": ["basic", "gold", "silver"]}
    assert learn_categorical_levels(table, ["profile_plan"], max_levels=2) == {
        "profile_plan": ["basic", "gold"]
    }


def test_feature_matrix_defaults_to_non_key_non_label_columns_and_round_trips():
    matrix = FeatureMatrix.learn(training_table())
    assert matrix.feature_names == ("orders_last_90_days", "profile_region")
    assert matrix.categorical_levels == {"profile_region": ["north", "south", "west"]}
    assert FeatureMatrix.from_dict(matrix.to_dict()) == matrix


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
