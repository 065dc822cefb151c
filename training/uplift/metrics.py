"""How well a score targets an action: the Qini coefficient and the uplift in the top of the ranking.

With outcomes observed in a randomised treatment and control group (Radcliffe, "Using control groups
to target on predicted lift", Direct Marketing Analytics Journal, 2007), the Qini curve at the top k
customers by score is the incremental successes
    Q(k) = Y_t(k) - Y_c(k) * N_t(k) / N_c(k)
(treated successes minus control successes scaled to the treated count). With the truth known (both
potential outcomes of every customer, synthetic data), it is Q(k) = sum over the top k of (y1 - y0).
The Qini coefficient here is the area between the curve and the straight line of random targeting,
both axes as fractions of the customers (x = k / N, y = Q(k) / N), so random targeting scores 0 and a
larger value ranks the persuadable customers higher. Ties in the score are broken by row order after a
stable sort, so a constant score is random targeting in the rows' order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from domain.errors import MetricInputError


def qini_curve(scores: npt.ArrayLike, treated: npt.ArrayLike, outcomes: npt.ArrayLike) -> np.ndarray:
    """Q(k) for k = 1..N from observed outcomes of a randomised experiment (module docstring)."""
    order, treated_sorted, outcome_sorted = _ranked(scores, treated, outcomes)
    n_treated = np.cumsum(treated_sorted)
    n_control = np.cumsum(~treated_sorted)
    y_treated = np.cumsum(outcome_sorted * treated_sorted)
    y_control = np.cumsum(outcome_sorted * ~treated_sorted)
    scale = np.divide(n_treated, n_control, out=np.zeros(order.size), where=n_control > 0)
    return y_treated - y_control * scale


def truth_curve(scores: npt.ArrayLike, effects: npt.ArrayLike) -> np.ndarray:
    """Q(k) for k = 1..N when each customer's true effect y1 - y0 is known."""
    score = np.asarray(scores, dtype=np.float64)
    effect = np.asarray(effects, dtype=np.float64)
    if score.shape != effect.shape or score.size == 0:
        raise MetricInputError(
            f"scores and effects must be equally long and not empty: {score.shape}, {effect.shape}"
        )
    order = np.argsort(-score, kind="stable")
    return np.cumsum(effect[order])


def qini_coefficient(curve: np.ndarray) -> float:
    """The area between a Qini curve and random targeting, in fractions of the customers."""
    n = curve.size
    if n == 0:
        raise MetricInputError("a Qini curve needs at least one customer")
    fraction = np.arange(1, n + 1) / n
    random = curve[-1] * fraction
    return float(np.mean(curve - random) / n)


def uplift_at(
    scores: npt.ArrayLike, treated: npt.ArrayLike, outcomes: npt.ArrayLike, fraction: float
) -> float | None:
    """Treatment minus control success rate among the top `fraction` by score (None when the top holds
    no customer of one group)."""
    order, treated_sorted, outcome_sorted = _ranked(scores, treated, outcomes)
    top = max(1, round(fraction * order.size))
    chosen_t, chosen_y = treated_sorted[:top], outcome_sorted[:top]
    if chosen_t.all() or not chosen_t.any():
        return None
    return float(chosen_y[chosen_t].mean() - chosen_y[~chosen_t].mean())


def _ranked(
    scores: npt.ArrayLike, treated: npt.ArrayLike, outcomes: npt.ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    score = np.asarray(scores, dtype=np.float64)
    group = np.asarray(treated, dtype=bool)
    outcome = np.asarray(outcomes, dtype=np.float64)
    if not score.shape == group.shape == outcome.shape or score.size == 0:
        raise MetricInputError(
            f"scores, treated and outcomes must be equally long and not empty: {score.shape}, "
            f"{group.shape}, {outcome.shape}"
        )
    order = np.argsort(-score, kind="stable")
    return order, group[order], outcome[order]
