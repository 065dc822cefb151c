"""Estimated performance (CBPE): exact on enumerated labels, and the mean of simulated realised metrics."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy import stats

from domain.errors import OutcomeInputError
from monitoring.estimated import (
    estimated_binary_performance,
    expected_brier,
    expected_calibration_error,
    expected_calibration_table,
    expected_pr_auc,
    expected_roc_auc,
)
from training import metrics


def test_two_customers_by_hand() -> None:
    p = [0.2, 0.8]

    # pairs (churner, stayer) ordered right: E = 0.8 x 0.8; expected pairs: 1 x 1 - (0.16 + 0.16)
    assert expected_roc_auc(p) == pytest.approx(0.64 / 0.68)
    assert expected_brier(p) == pytest.approx(0.16)
    # one customer per bin: E|y - p| = 2 p (1 - p) = 0.32 each
    assert expected_calibration_error(p) == pytest.approx(0.32)


def _all_label_vectors(p: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Every 0/1 outcome vector with its probability under independent Bernoulli(p)."""
    outcomes = []
    for labels in itertools.product([0.0, 1.0], repeat=len(p)):
        y = np.array(labels)
        outcomes.append((y, float(np.prod(np.where(y == 1, p, 1 - p)))))
    return outcomes


def test_brier_ece_and_auc_pairs_are_exact_expectations_over_every_outcome() -> None:
    p = np.array([0.05, 0.3, 0.3, 0.45, 0.6, 0.62, 0.9, 0.97])  # with a tie and shared bins
    outcomes = _all_label_vectors(p)

    assert expected_brier(p) == pytest.approx(sum(w * metrics.brier(y, p) for y, w in outcomes))
    assert expected_calibration_error(p) == pytest.approx(
        sum(w * metrics.expected_calibration_error(y, p) for y, w in outcomes)
    )
    # ROC-AUC = ordered pairs / pairs; the estimate is E[ordered pairs] / E[pairs], exactly
    both = [(y, w) for y, w in outcomes if 0 < y.sum() < len(y)]
    pairs = sum(w * y.sum() * (len(y) - y.sum()) for y, w in both)
    ordered = sum(w * metrics.roc_auc(y, p) * y.sum() * (len(y) - y.sum()) for y, w in both)
    assert expected_roc_auc(p) == pytest.approx(ordered / pairs)


@pytest.fixture(scope="module")
def simulated() -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities of 2,000 customers and 300 outcome vectors drawn from them."""
    rng = np.random.default_rng(13)
    p = rng.beta(0.8, 2.0, 2_000)
    realised = []
    for _ in range(300):
        y = (rng.random(len(p)) < p).astype(np.float64)
        realised.append(
            (
                metrics.roc_auc(y, p),
                metrics.pr_auc(y, p),
                metrics.brier(y, p),
                metrics.expected_calibration_error(y, p),
            )
        )
    return p, np.array(realised)


def test_estimates_match_the_mean_of_realised_metrics_on_simulated_labels(
    simulated: tuple[np.ndarray, np.ndarray],
) -> None:
    p, realised = simulated
    mean = realised.mean(axis=0)

    estimate = estimated_binary_performance(p)

    assert estimate["roc_auc_expected"] == pytest.approx(mean[0], abs=0.002)
    assert estimate["pr_auc_expected"] == pytest.approx(mean[1], abs=0.003)
    assert estimate["brier_expected"] == pytest.approx(mean[2], abs=0.001)
    assert estimate["ece_expected"] == pytest.approx(mean[3], rel=0.05)
    assert estimate["n"] == 2_000
    assert estimate["positives_expected"] == pytest.approx(p.sum())


def test_the_calibration_band_holds_nine_in_ten_realised_decile_rates() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(0.8, 2.0, 5_000)
    table = expected_calibration_table(p)
    order = np.argsort(-p, kind="stable")
    groups = np.array_split(order, 10)

    inside = []
    for _ in range(200):
        y = rng.random(len(p)) < p
        inside += [
            row["observed_rate_low"] <= y[group].mean() <= row["observed_rate_high"]
            for row, group in zip(table, groups, strict=True)
        ]

    assert [row["decile"] for row in table] == list(range(1, 11))
    assert sum(row["customers"] for row in table) == 5_000
    assert table[0]["mean_predicted"] > table[-1]["mean_predicted"]
    assert np.mean(inside) == pytest.approx(0.9, abs=0.02)


@pytest.mark.parametrize(
    ("size", "probability"),
    [(4_000, 0.5), (5_000, 0.3), (5_000, 0.001), (5_000, 0.999), (300, 0.01)],
    ids=["normal", "normal-skewed", "poisson", "poisson-of-stayers", "exact"],
)
def test_large_bins_are_approximated_within_a_percent_or_two_of_the_exact_binomial(
    size: int, probability: float
) -> None:
    p = np.full(size, probability)  # one bin: E[ECE] = E|S - n p| / n, S binomial
    k = np.arange(size + 1)
    exact = float(np.sum(stats.binom.pmf(k, size, probability) * np.abs(k - size * probability))) / size

    assert expected_calibration_error(p) == pytest.approx(exact, rel=0.02)


def test_degenerate_and_invalid_probabilities() -> None:
    assert expected_roc_auc([0.0, 0.0, 1.0]) == 1.0  # certain outcomes, ordered right
    assert expected_roc_auc([1.0, 1.0]) is None  # no stayer expected
    assert expected_pr_auc([0.0, 0.0]) is None  # no churner expected
    assert json.dumps(estimated_binary_performance([0.0, 0.0]), allow_nan=False)
    with pytest.raises(OutcomeInputError, match="no probabilities"):
        estimated_binary_performance([])
    with pytest.raises(OutcomeInputError, match=r"within \[0, 1\]"):
        estimated_binary_performance([0.2, 1.2])
