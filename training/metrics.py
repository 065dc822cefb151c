"""Evaluation metrics of the churn classifier and the value regressor, as pure functions on arrays.

Every function takes plain arrays (one entry per customer) and returns floats, arrays or a small
polars table, so the same code scores LightGBM, the baselines and the CDNOW benchmark. Rankings
break ties by averaging over every order of the tied customers, so a coarse score (an RFM tier)
is not flattered or penalised by the row order it happens to arrive in.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, roc_auc_score

from domain.errors import MetricInputError

FloatArray = npt.NDArray[np.float64]


# --- churn (binary outcome y in {0, 1}, predicted probability p) -------------------------------------


def roc_auc(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Area under the ROC curve: P(score of a random churner > score of a random stayer), ties 1/2."""
    labels, scores = _binary_inputs(y, p)
    return float(roc_auc_score(labels, scores))


def pr_auc(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Average precision: sum over thresholds of (recall_n - recall_n-1) x precision_n."""
    labels, scores = _binary_inputs(y, p)
    return float(average_precision_score(labels, scores))


def brier(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Brier score: mean of (p - y)^2 (Brier 1950); 0 is perfect, 0.25 is always answering 0.5."""
    labels, probabilities = _probability_inputs(y, p)
    return float(np.mean((probabilities - labels) ** 2))


def expected_calibration_error(
    y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10, strategy: str = "uniform"
) -> float:
    """ECE = sum over bins b of (n_b / n) |mean(y in b) - mean(p in b)| (Naeini et al. 2015).

    "uniform" bins split [0, 1] into equal widths, [k/n_bins, (k+1)/n_bins), the last one closed;
    "quantile" bins hold equal numbers of customers. Empty bins contribute nothing.
    """
    labels, probabilities = _probability_inputs(y, p)
    if n_bins < 1:
        raise MetricInputError(f"n_bins must be at least 1, got {n_bins}")
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        edges = np.quantile(probabilities, np.linspace(0.0, 1.0, n_bins + 1))
    else:
        raise MetricInputError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    bins = np.clip(np.searchsorted(edges[1:-1], probabilities, side="right"), 0, n_bins - 1)
    error = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        error += in_bin.mean() * abs(labels[in_bin].mean() - probabilities[in_bin].mean())
    return float(error)


def lift_at(y: npt.ArrayLike, p: npt.ArrayLike, fraction: float = 0.1) -> float:
    """Positive rate among the top `fraction` by score (ceil(fraction x n) customers) / overall rate."""
    labels, scores = _binary_inputs(y, p)
    top = _top_count(len(labels), fraction)
    return float(_expected_top_sum(labels, scores, top) / top / labels.mean())


def probability_metrics(y: npt.ArrayLike, p: npt.ArrayLike) -> dict[str, float]:
    """The report card of a probability (churn, reactivation, conversion): roc_auc, pr_auc, brier, ece
    (10 uniform bins), lift_top10."""
    return {
        "roc_auc": roc_auc(y, p),
        "pr_auc": pr_auc(y, p),
        "brier": brier(y, p),
        "ece": expected_calibration_error(y, p),
        "lift_top10": lift_at(y, p, 0.1),
    }


def calibration_curve_data(
    y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10
) -> tuple[FloatArray, FloatArray]:
    """(mean predicted probability, observed positive rate) per non-empty uniform bin, for plotting."""
    labels, probabilities = _probability_inputs(y, p)
    observed, predicted = calibration_curve(labels, probabilities, n_bins=n_bins, strategy="uniform")
    return np.asarray(predicted, dtype=np.float64), np.asarray(observed, dtype=np.float64)


# --- value (actual future spend, predicted value) ----------------------------------------------------


def normalized_gini(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Gini of the ordering by `predicted` divided by the Gini of the perfect ordering (by `actual`).

    Gini(order) = mean over k of (share of total actual among the first k customers) - (n + 1) / (2n),
    the area between the cumulative-gain curve and the diagonal. 1 = perfect ranking, 0 = random,
    -1 = reversed.
    """
    truth, scores = _value_inputs(actual, predicted)
    return _gini(truth, scores) / _gini(truth, truth)


def spearman(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Spearman rank correlation (average ranks for ties); NaN if either side is constant."""
    truth, scores = _value_inputs(actual, predicted)
    if np.all(truth == truth[0]) or np.all(scores == scores[0]):
        return math.nan
    return float(stats.spearmanr(truth, scores).statistic)


def mae(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Mean absolute error per customer."""
    truth, scores = _value_inputs(actual, predicted)
    return float(np.mean(np.abs(scores - truth)))


def rmse(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Root mean squared error per customer."""
    truth, scores = _value_inputs(actual, predicted)
    return float(np.sqrt(np.mean((scores - truth) ** 2)))


def total_error_pct(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """100 x (sum predicted - sum actual) / sum actual: the error on the whole customer base's value."""
    truth, scores = _value_inputs(actual, predicted)
    return float(100.0 * (scores.sum() - truth.sum()) / _positive_total(truth))


def top_share(actual: npt.ArrayLike, predicted: npt.ArrayLike, fraction: float = 0.1) -> float:
    """Share of total actual value held by the top `fraction` (ceil(fraction x n)) by prediction."""
    truth, scores = _value_inputs(actual, predicted)
    return float(_expected_top_sum(truth, scores, _top_count(len(truth), fraction)) / _positive_total(truth))


def value_metrics(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> dict[str, float]:
    """The value report card: gini, spearman, mae, rmse, total_error_pct, top10_share."""
    return {
        "gini": normalized_gini(actual, predicted),
        "spearman": spearman(actual, predicted),
        "mae": mae(actual, predicted),
        "rmse": rmse(actual, predicted),
        "total_error_pct": total_error_pct(actual, predicted),
        "top10_share": top_share(actual, predicted, 0.1),
    }


def decile_table(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> pl.DataFrame:
    """Customers ranked by prediction and cut into 10 near-equal groups, decile 1 = highest predicted.

    Columns: decile, customers, mean_predicted, mean_actual, share_of_actual, cumulative_share.
    Ties at a decile boundary fall in input order (a stable sort).
    """
    truth, scores = _value_inputs(actual, predicted)
    order = np.argsort(-scores, kind="stable")
    total = _positive_total(truth)
    groups = [group for group in np.array_split(order, 10) if len(group)]
    shares = [float(truth[group].sum() / total) for group in groups]
    return pl.DataFrame(
        {
            "decile": list(range(1, len(groups) + 1)),
            "customers": [len(group) for group in groups],
            "mean_predicted": [float(scores[group].mean()) for group in groups],
            "mean_actual": [float(truth[group].mean()) for group in groups],
            "share_of_actual": shares,
            "cumulative_share": np.cumsum(shares).tolist(),
        }
    )


def cumulative_gain_curve(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """(share of customers targeted, share of actual value captured), from (0, 0) to (1, 1),
    customers taken in decreasing prediction, ties averaged."""
    truth, scores = _value_inputs(actual, predicted)
    gains = np.concatenate([[0.0], np.cumsum(_tie_averaged_in_rank_order(truth, scores))]) / _positive_total(
        truth
    )
    customers = np.arange(len(truth) + 1, dtype=np.float64) / len(truth)
    return customers, gains


# --- shared mechanics --------------------------------------------------------------------------------


def _gini(truth: FloatArray, scores: FloatArray) -> float:
    n = len(truth)
    cumulative_share = np.cumsum(_tie_averaged_in_rank_order(truth, scores)) / _positive_total(truth)
    return float(cumulative_share.mean() - (n + 1) / (2 * n))


def _tie_averaged_in_rank_order(values: FloatArray, scores: FloatArray) -> FloatArray:
    """`values` sorted by decreasing score, each run of tied scores replaced by its mean: the expected
    sequence over all orders of the tied customers."""
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked_values = scores[order], values[order]
    _, starts, counts = np.unique(-ranked_scores, return_index=True, return_counts=True)
    group_means = np.add.reduceat(ranked_values, starts) / counts
    return np.repeat(group_means, counts)


def _expected_top_sum(values: FloatArray, scores: FloatArray, top: int) -> float:
    return float(np.sum(_tie_averaged_in_rank_order(values, scores)[:top]))


def _top_count(n: int, fraction: float) -> int:
    if not 0 < fraction <= 1:
        raise MetricInputError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(round(fraction * n, 9)))


def _positive_total(truth: FloatArray) -> float:
    total = float(truth.sum())
    if total <= 0:
        raise MetricInputError(f"actual values must sum to a positive total, got {total}")
    return total


def _as_array(values: npt.ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(array) == 0:
        raise MetricInputError(f"{name} is empty")
    if not np.all(np.isfinite(array)):
        raise MetricInputError(
            f"{name} holds NaN or infinite values at row {int(np.argmin(np.isfinite(array)))}"
        )
    return array


def _value_inputs(actual: npt.ArrayLike, predicted: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    truth, scores = _as_array(actual, "actual"), _as_array(predicted, "predicted")
    if len(truth) != len(scores):
        raise MetricInputError(f"actual has {len(truth)} rows but predicted has {len(scores)}")
    return truth, scores


def _binary_inputs(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    labels, scores = _value_inputs(y, p)
    if not np.all((labels == 0) | (labels == 1)):
        raise MetricInputError("y must hold only 0 and 1")
    if labels.min() == labels.max():
        raise MetricInputError(f"y holds only {int(labels[0])}s: the metric needs both outcomes")
    return labels, scores


def _probability_inputs(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    labels, probabilities = _value_inputs(y, p)
    if not np.all((labels == 0) | (labels == 1)):
        raise MetricInputError("y must hold only 0 and 1")
    if probabilities.min() < 0 or probabilities.max() > 1:
        raise MetricInputError("p must be probabilities in [0, 1]")
    return labels, probabilities


# --- order counts, days to the next order, and value ranges -----------------------------------------


def count_metrics(
    actual: npt.ArrayLike, predicted: npt.ArrayLike, prefix: str = "orders"
) -> dict[str, float]:
    """The order-count report card: `<prefix>_mae`, `<prefix>_rmse`, `<prefix>_spearman`."""
    return {
        f"{prefix}_mae": mae(actual, predicted),
        f"{prefix}_rmse": rmse(actual, predicted),
        f"{prefix}_spearman": spearman(actual, predicted),
    }


def days_metrics(actual: npt.ArrayLike, predicted: npt.ArrayLike, prefix: str = "") -> dict[str, float]:
    """Errors of a number of days: `<prefix>mae_days` (mean) and `<prefix>median_ae_days` (median)."""
    truth, scores = _value_inputs(actual, predicted)
    errors = np.abs(scores - truth)
    return {f"{prefix}mae_days": float(errors.mean()), f"{prefix}median_ae_days": float(np.median(errors))}


def range_metrics(
    actual: npt.ArrayLike, low: npt.ArrayLike, high: npt.ArrayLike, tiers: npt.ArrayLike
) -> dict[str, float]:
    """The value range's report card: `coverage` overall and `coverage_<tier>` for each tier present,
    and the `median_width` (high - low, currency)."""
    truth, lows = _value_inputs(actual, low)
    _, highs = _value_inputs(actual, high)
    letters = np.asarray(tiers, dtype=object).reshape(-1)
    if len(letters) != len(truth):
        raise MetricInputError(f"actual has {len(truth)} rows but tiers has {len(letters)}")
    covered = (lows <= truth) & (truth <= highs)
    metrics = {"coverage": float(covered.mean())}
    for tier in sorted(set(letters.tolist())):
        metrics[f"coverage_{tier}"] = float(covered[letters == tier].mean())
    metrics["median_width"] = float(np.median(highs - lows))
    return metrics
