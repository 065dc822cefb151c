"""Logistic regression on the feature table: the linear churn baseline the boosted model must beat."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def logistic_churn_pipeline(
    numeric_columns: Sequence[str], categorical_columns: Sequence[str] = ()
) -> Pipeline:
    """An unfitted scikit-learn Pipeline for pandas DataFrames; `fit(X, y)` then `predict_proba(X)`.

    Numeric: median imputation plus a missing-indicator column (missingness often carries signal,
    e.g. no survey answered), then standardisation so the L2 penalty treats features alike.
    Categorical: missing as its own level, one-hot, unseen levels at scoring time ignored.
    """
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing", keep_empty_features=True)),
            ("one_hot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    transformers: list[tuple[str, Pipeline, list[str]]] = [("numeric", numeric, list(numeric_columns))]
    if categorical_columns:
        transformers.append(("categorical", categorical, list(categorical_columns)))
    return Pipeline(
        [
            ("prepare", ColumnTransformer(transformers, remainder="drop")),
            ("classify", LogisticRegression(max_iter=1000)),
        ]
    )
