"""The model matrix: which columns a registered model reads, in which order, and how categoricals are coded.

A model is trained on `to_model_frame`'s pandas frame: `feature_names` in order, floats, and pandas
Categoricals with levels fixed at training time, so a level never seen in training becomes missing
(NaN) at serving time instead of a silently shifted code. Serving builds the same numbers without
pandas: a `MatrixLayout` copies a polars feature table column by column into one float matrix, each
categorical as the position of its value in the training levels, which is exactly what LightGBM makes
of the pandas frame itself (`booster_input`). `ModelInput` picks the fast path once per loaded model,
after checking that the levels are the ones every booster was trained with.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl

from domain.errors import FeatureMatrixError, LabelLeakError
from features.build import KEY_COLUMNS, LABEL_COLUMNS

logger = logging.getLogger(__name__)

ModelMatrix: TypeAlias = pd.DataFrame | np.ndarray
Table: TypeAlias = pl.DataFrame | pd.DataFrame


def check_no_label_leak(feature_names: Sequence[str]) -> None:
    """Refuse keys, labels and anything that looks like a label (`future_*`, `churned`) as features."""
    forbidden = {*KEY_COLUMNS, *LABEL_COLUMNS, "churned"}
    leaks = [name for name in feature_names if name in forbidden or name.startswith("future_")]
    if leaks:
        raise LabelLeakError(
            f"feature_names include key or label columns {leaks}: keys {list(KEY_COLUMNS)}, labels "
            f"{list(LABEL_COLUMNS)} and any 'future_*' column describe the outcome, never the customer; "
            "drop them from the feature list"
        )


def to_model_frame(
    table: Table, feature_names: Sequence[str], categorical_levels: Mapping[str, Sequence[str]]
) -> pd.DataFrame:
    """The model input: `feature_names` in order, floats, and pandas Categoricals with fixed levels.

    `table` may be polars (training) or pandas (an MLflow pyfunc call). Features named in
    `categorical_levels` become Categoricals whose unknown levels are NaN; every other feature becomes
    float64 (null -> NaN).
    """
    check_no_label_leak(feature_names)
    missing = [name for name in feature_names if name not in table.columns]
    if missing:
        raise FeatureMatrixError(
            f"the table lacks feature columns {missing}: rebuild it with the same feature definitions "
            "the model was trained with"
        )
    unknown = [name for name in categorical_levels if name not in feature_names]
    if unknown:
        raise FeatureMatrixError(f"categorical_levels names {unknown}, which are not in feature_names")
    columns: dict[str, Any] = {}
    for name in feature_names:
        values = _column_values(table, name)
        if name in categorical_levels:
            known = set(categorical_levels[name])
            columns[name] = pd.Categorical(
                [str(value) if value is not None and str(value) in known else None for value in values],
                categories=list(categorical_levels[name]),
            )
        else:
            columns[name] = _as_float(values, name)
    return pd.DataFrame(columns, columns=list(feature_names))


def booster_input(booster: lgb.Booster, X: ModelMatrix) -> ModelMatrix:
    """X as the float matrix LightGBM builds from pandas itself, categoricals as their codes.

    LightGBM's pandas conversion costs milliseconds per call, most of a one-customer request. When
    every categorical column has exactly the categories seen in training (always true for frames from
    `to_model_frame`), codes are what LightGBM would use, so the matrix is passed directly; otherwise
    the frame goes through LightGBM's own remapping. A numpy matrix (from `MatrixLayout`) is already
    in that form and passes through.
    """
    if isinstance(X, np.ndarray):
        return X
    categorical = [name for name in X.columns if isinstance(X[name].dtype, pd.CategoricalDtype)]
    if not categories_match(booster, [list(X[name].cat.categories) for name in categorical]):
        return X
    matrix = np.empty(X.shape, dtype=np.float64)
    for position, name in enumerate(X.columns):
        column = X[name]
        if name in categorical:
            codes = column.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            matrix[:, position] = codes
        else:
            matrix[:, position] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return matrix


def categories_match(booster: lgb.Booster, levels: Sequence[Sequence[str]]) -> bool:
    """Whether `levels` (per categorical column, in column order) are the booster's training categories.

    Only then do category codes mean what they meant in training.
    """
    trained = booster.pandas_categorical or []
    return len(levels) == len(trained) and all(
        list(given) == list(known) for given, known in zip(levels, trained, strict=True)
    )


@dataclass(frozen=True)
class MatrixLayout:
    """Where each feature goes in the model matrix and, for categoricals, the code of each level.

    Built once per model. `build` copies column by column into one preallocated matrix: a polars
    select with one expression per feature costs about half a millisecond of planning per call, more
    than the copy of a one-customer table, and a dictionary lookup maps category levels to codes.
    A categorical column the table lacks (an attribute no customer carries) is missing everywhere.
    """

    feature_names: tuple[str, ...]
    codes: Mapping[str, Mapping[str, float]]

    @classmethod
    def of(
        cls, feature_names: Sequence[str], categorical_levels: Mapping[str, Sequence[str]]
    ) -> MatrixLayout:
        codes = {
            name: {level: float(code) for code, level in enumerate(categorical_levels[name])}
            for name in feature_names
            if name in categorical_levels
        }
        return cls(tuple(feature_names), codes)

    def build(self, table: pl.DataFrame) -> np.ndarray:
        matrix = np.empty((table.height, len(self.feature_names)), dtype=np.float64)
        present = set(table.columns)
        for position, name in enumerate(self.feature_names):
            codes = self.codes.get(name)
            if codes is None:
                matrix[:, position] = _float_column(table.get_column(name))
            elif name not in present:
                matrix[:, position] = np.nan
            else:
                values = table.get_column(name).cast(pl.String).to_list()
                matrix[:, position] = [
                    np.nan if value is None else codes.get(value, np.nan) for value in values
                ]
        return matrix


@dataclass(frozen=True)
class ModelInput:
    """How one model's input matrix is built from a feature table: its columns and category levels.

    `direct` says whether the category codes `MatrixLayout` writes are the ones every booster of the
    model was trained with (true for models trained by `training.train`, and for a model without
    boosters); if not, the input goes through `to_model_frame` (and LightGBM's own pandas remapping),
    slower but still right.
    """

    feature_names: tuple[str, ...]
    categorical_levels: dict[str, list[str]]
    direct: bool
    layout: MatrixLayout = field(compare=False)

    @classmethod
    def of(
        cls,
        feature_names: Sequence[str],
        categorical_levels: Mapping[str, Sequence[str]],
        boosters: Sequence[lgb.Booster],
    ) -> ModelInput:
        levels = {
            name: list(categorical_levels[name]) for name in feature_names if name in categorical_levels
        }
        direct = all(categories_match(booster, list(levels.values())) for booster in boosters)
        if not direct:
            logger.warning(
                "categorical levels differ from the boosters' training categories; scoring through "
                "pandas (slower)"
            )
        names = tuple(feature_names)
        return cls(names, levels, direct, MatrixLayout.of(names, levels))

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(self.categorical_levels)

    def matrix(self, features: pl.DataFrame) -> ModelMatrix:
        """The model's input for a feature table built by `features.build.build_features`."""
        if not self.direct:
            return to_model_frame(features, self.feature_names, self.categorical_levels)
        present = set(features.columns)
        missing = [name for name in self.feature_names if name not in present]
        if missing:
            raise FeatureMatrixError(
                f"the feature table lacks columns {missing} that the models were trained on: the "
                "feature definitions changed since training; retrain (`clvchurn train`)"
            )
        return self.layout.build(features)


def _float_column(column: pl.Series) -> np.ndarray:
    if column.dtype != pl.Float64:
        column = column.cast(pl.Float64, strict=False)
    return column.to_numpy()


def _column_values(table: Table, name: str) -> np.ndarray:
    if isinstance(table, pl.DataFrame):
        column = table.get_column(name)
        if column.dtype == pl.String:
            return np.asarray(column.to_list(), dtype=object)
        return column.cast(pl.Float64, strict=False).to_numpy()
    series = table[name]
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray([None if pd.isna(value) else value for value in series], dtype=object)


def _as_float(values: np.ndarray, name: str) -> np.ndarray:
    if values.dtype.kind in "fiub":
        return values.astype(np.float64, copy=False)
    try:
        return np.asarray(pd.to_numeric(pd.Series(values, dtype=object)), dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise FeatureMatrixError(
            f"feature '{name}' holds non-numeric values ({error}); pass it in categorical_levels or fix "
            "its definition"
        ) from error
