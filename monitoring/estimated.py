"""Estimated performance of scores whose outcomes are not known yet, from calibrated probabilities alone.

Confidence-based performance estimation (CBPE, as NannyML describes it in "How it works:
performance estimation"): when the probabilities are calibrated, customer j churns with probability
p_j, so every cell of the confusion matrix at a threshold t has a known expectation,

    TP(t) = sum of p_j over p_j >= t         FP(t) = sum of (1 - p_j) over p_j >= t
    FN(t) = sum of p_j over p_j <  t         TN(t) = sum of (1 - p_j) over p_j <  t,

and a metric is estimated by computing it from these expected counts at every distinct probability
as threshold: ROC-AUC from the expected (FPR, TPR) curve by the trapezoid rule, average precision
from expected precision and recall.

Two small-sample corrections, both of the customer's own outcome, bring the estimate to the mean of
the realised metric (the tests draw labels from the probabilities and compare):
- ROC-AUC is the share of (churner, stayer) pairs ordered right. The trapezoid over expected counts
  is the ratio of the expected ordered pairs to the expected pairs, P x N, except that it pairs each
  customer with itself (weight p (1 - p), half of it "ordered"); removing those pairs gives
  (AUC_cbpe P N - V / 2) / (P N - V), V = sum of p (1 - p), P and N the expected churners and stayers.
- Average precision adds, for each churner, the precision at its rank, which counts the churner
  itself: E[y_k TP_k] = p_k (1 + a_k) with a_k the expected churners ranked above, not the plug-in
  p_k (p_k + a_k); tied probabilities form one threshold, as in `training.metrics.pr_auc`.
What remains is the O(1/n) gap between a ratio of expectations and the expected ratio.

The Brier score and the expected calibration error (ECE) are expectations of their own:
E[Brier] = mean of p_j (1 - p_j), and with S_b the churners among the n_b customers of probability
bin b (uniform bins, as `training.metrics.expected_calibration_error` cuts them),

    E[ECE] = (1 / n) sum over b of E|S_b - sum_{j in b} p_j|,

the calibration error a perfectly calibrated model still shows through sampling noise alone (a
realised ECE well above it means miscalibration). S_b is Poisson-binomial: its distribution is
computed exactly for bins of up to `EXACT_BIN_LIMIT` customers; in larger bins by the normal
approximation, E|S - mu| = sigma sqrt(2 / pi), when the variance sigma^2 is at least
`NORMAL_MIN_VARIANCE` (relative error below half a percent), and otherwise, when nearly every
probability is close to 0 (or to 1), by the Poisson distribution of the churners (or of the
stayers), whose mean absolute deviation is 2 e^-m m^(floor(m)+1) / floor(m)! (Le Cam's theorem
bounds the error by the sum of the squared probabilities).

Assumptions (NannyML's): calibrated probabilities, no concept drift (P(churn | features) unchanged),
no shift into regions of the features the model never saw. Covariate shift alone is handled: it
changes the probabilities, and the estimate with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy import stats

from domain.errors import OutcomeInputError

EXACT_BIN_LIMIT: Final = 2_000
"""Largest probability bin whose number of churners is computed exactly rather than approximated."""
NORMAL_MIN_VARIANCE: Final = 25.0
"""Smallest variance of a bin's churner count for which the normal approximation is used."""
CALIBRATION_BAND: Final = 0.9
"""Coverage of the observed-rate band per decile under calibration (5% to 95%)."""


def estimated_binary_performance(probabilities: npt.ArrayLike, *, n_bins: int = 10) -> dict[str, Any]:
    """Expected ROC-AUC, PR-AUC, Brier and ECE of calibrated probabilities, and a decile table.

    Returns
    -------
    dict
        ``{"roc_auc_expected", "pr_auc_expected", "brier_expected", "ece_expected", "n",
        "positives_expected", "calibration": [{"decile", "customers", "mean_predicted",
        "observed_rate_low", "observed_rate_high"}]}``; decile 1 holds the highest probabilities,
        and the band is where 90% of realised churn rates would fall if the model is calibrated.

    Raises
    ------
    OutcomeInputError
        The probabilities are empty, not finite or outside [0, 1].
    """
    p = _probabilities(probabilities)
    return {
        "roc_auc_expected": expected_roc_auc(p),
        "pr_auc_expected": expected_pr_auc(p),
        "brier_expected": expected_brier(p),
        "ece_expected": expected_calibration_error(p, n_bins),
        "n": len(p),
        "positives_expected": float(p.sum()),
        "calibration": expected_calibration_table(p),
    }


def expected_roc_auc(probabilities: npt.ArrayLike) -> float | None:
    """CBPE's ROC-AUC without self pairs; None when fewer than one churner-stayer pair is expected
    (all probabilities 0 or 1, or a single customer)."""
    p = _probabilities(probabilities)
    groups = _threshold_groups(p)
    positives, negatives = float(p.sum()), float(np.sum(1.0 - p))
    self_pairs = float(np.sum(p * (1.0 - p)))
    if positives * negatives - self_pairs <= 0:
        return None
    churners, stayers = groups.churners, groups.customers - groups.churners
    tpr = np.concatenate([[0.0], np.cumsum(churners) / positives])
    fpr = np.concatenate([[0.0], np.cumsum(stayers) / negatives])
    cbpe = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    return (cbpe * positives * negatives - self_pairs / 2.0) / (positives * negatives - self_pairs)


def expected_pr_auc(probabilities: npt.ArrayLike) -> float | None:
    """CBPE's average precision with each churner's own outcome counted once; None when no churner is
    expected."""
    p = _probabilities(probabilities)
    groups = _threshold_groups(p)
    positives = float(p.sum())
    if positives <= 0:
        return None
    above = np.cumsum(groups.churners) - groups.churners
    ranked = np.cumsum(groups.customers)
    expected = groups.churners > 0
    churners, variance = groups.churners[expected], groups.variance[expected]
    terms = (churners * (above[expected] + churners) + variance) / (
        ranked[expected] * (positives + variance / churners)
    )
    return float(np.sum(terms))


def expected_brier(probabilities: npt.ArrayLike) -> float:
    """E[mean (p - y)^2] for y ~ Bernoulli(p): the mean of p (1 - p)."""
    p = _probabilities(probabilities)
    return float(np.mean(p * (1.0 - p)))


def expected_calibration_error(probabilities: npt.ArrayLike, n_bins: int = 10) -> float:
    """E[ECE] over uniform bins for labels drawn from the probabilities themselves."""
    p = _probabilities(probabilities)
    if n_bins < 1:
        raise OutcomeInputError(f"n_bins must be at least 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, n_bins - 1)
    total = sum(_expected_absolute_deviation(p[bins == b]) for b in np.unique(bins))
    return float(total / len(p))


def expected_calibration_table(probabilities: npt.ArrayLike) -> list[dict[str, Any]]:
    """Per decile of probability (1 = highest, ties in input order, as `training.metrics.decile_table`
    groups them): customers, mean probability, and the 5%-95% band of the realised churn rate under
    calibration (normal approximation, clipped to [0, 1])."""
    p = _probabilities(probabilities)
    order = np.argsort(-p, kind="stable")
    z = float(stats.norm.ppf(0.5 + CALIBRATION_BAND / 2.0))
    rows = []
    for decile, group in enumerate((g for g in np.array_split(order, 10) if len(g)), start=1):
        members = p[group]
        mean = float(members.mean())
        half_width = z * math.sqrt(float(np.sum(members * (1.0 - members)))) / len(members)
        rows.append(
            {
                "decile": decile,
                "customers": len(members),
                "mean_predicted": mean,
                "observed_rate_low": max(0.0, mean - half_width),
                "observed_rate_high": min(1.0, mean + half_width),
            }
        )
    return rows


@dataclass(frozen=True)
class _ThresholdGroups:
    """Customers grouped by distinct probability, highest first: how many, the expected churners
    (sum of p) and the variance of the churner count (sum of p (1 - p))."""

    customers: np.ndarray
    churners: np.ndarray
    variance: np.ndarray


def _threshold_groups(p: np.ndarray) -> _ThresholdGroups:
    _, group = np.unique(-p, return_inverse=True)
    return _ThresholdGroups(
        customers=np.bincount(group).astype(np.float64),
        churners=np.bincount(group, weights=p),
        variance=np.bincount(group, weights=p * (1.0 - p)),
    )


def _expected_absolute_deviation(p: np.ndarray) -> float:
    """E|S - sum p| for S the number of successes of independent Bernoulli(p_j) trials."""
    mean = float(p.sum())
    if len(p) > EXACT_BIN_LIMIT:
        variance = float(np.sum(p * (1.0 - p)))
        if variance >= NORMAL_MIN_VARIANCE:
            return math.sqrt(variance) * math.sqrt(2.0 / math.pi)
        return _poisson_mean_absolute_deviation(min(mean, len(p) - mean))
    distribution = np.zeros(len(p) + 1)
    distribution[0] = 1.0
    for k, probability in enumerate(p, start=1):  # Poisson-binomial by adding one trial at a time
        distribution[1 : k + 1] = (
            distribution[1 : k + 1] * (1.0 - probability) + distribution[:k] * probability
        )
        distribution[0] *= 1.0 - probability
    return float(np.sum(distribution * np.abs(np.arange(len(p) + 1) - mean)))


def _poisson_mean_absolute_deviation(mean: float) -> float:
    """E|X - m| for X ~ Poisson(m): 2 e^-m m^(floor(m)+1) / floor(m)!."""
    if mean <= 0:
        return 0.0
    whole = math.floor(mean)
    return math.exp(math.log(2.0) - mean + (whole + 1) * math.log(mean) - math.lgamma(whole + 1))


def _probabilities(values: npt.ArrayLike) -> np.ndarray:
    p = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(p) == 0:
        raise OutcomeInputError("no probabilities to estimate performance from")
    if not np.all(np.isfinite(p)) or p.min() < 0.0 or p.max() > 1.0:
        raise OutcomeInputError("probabilities must be finite and within [0, 1]")
    return p
