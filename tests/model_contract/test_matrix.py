"""The model matrix: what `MatrixLayout` builds from polars equals LightGBM's own pandas input."""

from __future__ import annotations

from datetime import datetime

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
import pytest

from domain.errors import FeatureMatrixError, LabelLeakError
from model_contract.matrix import MatrixLayout, booster_input, categories_match, to_model_frame


def model_matrix(table: pl.DataFrame, names: list[str], levels: dict[str, list[str]]) -> np.ndarray:
    return MatrixLayout.of(names, levels).build(table)


LEVELS = {"profile_region": ["asia", "europe"]}
NAMES = ["orders_90d", "profile_region", "net_spend_365d"]


def tiny_booster() -> lgb.Booster:
    """Six hand-made rows; region decides the target, so the trees split on the categorical."""
    training = pl.DataFrame(
        {
            "orders_90d": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] * 5,
            "profile_region": ["asia", "europe", "asia", "europe", "asia", None] * 5,
            "net_spend_365d": [10.0, 0.0, 30.0, None, 50.0, 60.0] * 5,
        }
    )
    frame = to_model_frame(training, NAMES, LEVELS)
    target = np.array([1.0, 5.0, 1.5, 6.0, 2.0, 3.0] * 5)
    params = {"min_data_in_leaf": 1, "min_data_in_bin": 1, "verbose": -1, "num_threads": 1}
    return lgb.train(params, lgb.Dataset(frame, target), num_boost_round=5)


def test_model_matrix_holds_floats_and_category_positions() -> None:
    table = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "net_spend_365d": [12.5, None, 0.0, -3.0],
            "profile_region": ["europe", "asia", "mars", None],
            "orders_90d": [1.0, 2.0, None, 0.0],
        }
    )

    matrix = model_matrix(table, NAMES, LEVELS)

    expected = np.array([[1.0, 1.0, 12.5], [2.0, 0.0, np.nan], [np.nan, np.nan, 0.0], [0.0, np.nan, -3.0]])
    assert matrix.dtype == np.float64
    assert np.array_equal(matrix, expected, equal_nan=True)


def test_model_matrix_casts_other_numeric_types_and_leaves_an_absent_attribute_missing() -> None:
    table = pl.DataFrame(
        {
            "orders_90d": pl.Series([1, None, 3], dtype=pl.Int64),
            "net_spend_365d": pl.Series([True, False, None], dtype=pl.Boolean),
        }
    )

    matrix = model_matrix(table, NAMES, LEVELS)

    expected = np.array([[1.0, np.nan, 1.0], [np.nan, np.nan, 0.0], [3.0, np.nan, np.nan]])
    assert np.array_equal(matrix, expected, equal_nan=True)
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        model_matrix(table.drop("orders_90d"), NAMES, LEVELS)


def test_model_matrix_equals_lightgbms_input_and_predictions() -> None:
    booster = tiny_booster()
    table = pl.DataFrame(
        {
            "orders_90d": [0.0, 3.0, None, 5.0],
            "profile_region": ["asia", "europe", "mars", None],
            "net_spend_365d": [10.0, None, 30.0, 60.0],
        }
    )
    frame = to_model_frame(table, NAMES, LEVELS)
    matrix = model_matrix(table, NAMES, LEVELS)

    assert categories_match(booster, list(LEVELS.values()))
    assert np.array_equal(matrix, booster_input(booster, frame), equal_nan=True)
    assert np.array_equal(booster.predict(matrix), booster.predict(frame))
    assert np.array_equal(
        booster.predict(matrix, pred_contrib=True), booster.predict(frame, pred_contrib=True)
    )
    assert len(np.unique(np.asarray(booster.predict(matrix)))) > 1


def test_categories_match_only_the_training_levels_in_order() -> None:
    booster = tiny_booster()

    assert not categories_match(booster, [["europe", "asia"]])
    assert not categories_match(booster, [])
    assert booster_input(booster, pd.DataFrame({"x": [1.0]})).shape == (1, 1)


JAN, APR = datetime(2024, 1, 1), datetime(2024, 4, 1)


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
