"""BG/NBD: how many purchases a customer will make, and whether they are still "alive".

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your Customers the Easy Way: An
Alternative to the Pareto/NBD Model". Marketing Science 24(2), 275-284. While active, a customer
buys at Poisson rate lambda ~ Gamma(r, alpha); after each purchase they drop out with probability
p ~ Beta(a, b). A customer is summarised by x (repeat purchases), t_x (time of last purchase since
the first) and T (time since the first purchase), in any time unit.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, expit, gammaln, hyp2f1

from domain.errors import BaselineInputError, ModelNotFittedError
from training.baselines.base import FloatArray, as_float_array, check_same_length, maximise_log_likelihood


class BetaGeoParams(NamedTuple):
    r: float
    alpha: float
    a: float
    b: float


class BetaGeoModel:
    """Maximum-likelihood BG/NBD, scikit-learn style: `fit` returns self, learned state ends in `_`.

    `penalizer_coef` adds an L2 penalty on the parameters (as lifetimes does), which keeps small
    or degenerate samples from drifting to infinite parameters; 0 gives the plain MLE of the paper.
    """

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    def fit(self, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> BetaGeoModel:
        x, t_x, big_t = _summary_arrays(frequency, recency, T)
        # Customers with the same (x, t_x, T) share a likelihood term: fit on the distinct rows.
        rows, counts = np.unique(np.column_stack([x, t_x, big_t]), axis=0, return_counts=True)
        x_u, t_x_u, big_t_u = rows[:, 0], rows[:, 1], rows[:, 2]
        weights = counts.astype(np.float64)

        def negative_log_likelihood(log_params: FloatArray) -> float:
            params = np.exp(log_params)
            total = float(np.dot(weights, bgnbd_log_likelihood(params, x_u, t_x_u, big_t_u)))
            penalty = self.penalizer_coef * float(np.sum(params**2))
            return -total + penalty

        log_params, log_likelihood = maximise_log_likelihood(negative_log_likelihood, np.zeros(4), "BG/NBD")
        self.params_ = BetaGeoParams(*(float(v) for v in np.exp(log_params)))
        self.log_likelihood_ = log_likelihood
        self.n_customers_ = len(x)
        return self

    def probability_alive(
        self, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """P(alive | x, t_x, T) = 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).

        Fader, Hardie & Lee (2008), "Computing P(alive) Using the BG/NBD Model", eq. (2).
        """
        params = self._fitted_params()
        x, t_x, big_t = _summary_arrays(frequency, recency, T)
        return expit(-_log_death_odds(params, x, t_x, big_t))

    def expected_purchases(
        self, t: float, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next `t` time units, FHL (2005) eq. (10).

        (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
        divided by 1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x), that is times P(alive).
        """
        if t < 0:
            raise BaselineInputError(f"the horizon t must be non-negative, got {t}")
        r, alpha, a, b = self._fitted_params()
        x, t_x, big_t = _summary_arrays(frequency, recency, T)
        z = t / (alpha + big_t + t)
        discount = np.exp((r + x) * (np.log(alpha + big_t) - np.log(alpha + big_t + t)))
        bracket = 1.0 - discount * hyp2f1(r + x, b + x, a + b + x - 1.0, z)
        alive = expit(-_log_death_odds(BetaGeoParams(r, alpha, a, b), x, t_x, big_t))
        return np.asarray((a + b + x - 1.0) / (a - 1.0) * bracket * alive, dtype=np.float64)

    def _fitted_params(self) -> BetaGeoParams:
        if not hasattr(self, "params_"):
            raise ModelNotFittedError("BetaGeoModel is not fitted: call fit(frequency, recency, T) first")
        return self.params_


def bgnbd_log_likelihood(params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """Per-customer log-likelihood, FHL (2005) eq. (6) in the log form of Fader & Hardie's note
    "Implementing the BG/NBD Model for Customer Base Analysis in Excel" (2005):
    ln L = ln A1 + ln A2 + ln(exp(ln A3) + [x>0] exp(ln A4)), with
    A1 = Gamma(r+x) alpha^r / Gamma(r),  A2 = B(a, b+x) / B(a, b),
    A3 = (alpha+T)^-(r+x),  A4 = a/(b+x-1) (alpha+t_x)^-(r+x).
    """
    r, alpha, a, b = params
    log_a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    log_a2 = betaln(a, b + x) - betaln(a, b)
    log_a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    log_a4 = np.full_like(x, -np.inf)
    log_a4[repeat] = np.log(a) - np.log(b + x[repeat] - 1.0) - (r + x[repeat]) * np.log(alpha + t_x[repeat])
    return np.asarray(log_a1 + log_a2 + np.logaddexp(log_a3, log_a4), dtype=np.float64)


def _log_death_odds(params: BetaGeoParams, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """ln of [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x); -inf for customers without repeat."""
    r, alpha, a, b = params
    odds = np.full_like(x, -np.inf)
    repeat = x > 0
    xr = x[repeat]
    odds[repeat] = (
        np.log(a)
        - np.log(b + xr - 1.0)
        + (r + xr) * (np.log(alpha + T[repeat]) - np.log(alpha + t_x[repeat]))
    )
    return odds


def _summary_arrays(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    big_t = as_float_array(T, "T")
    check_same_length(frequency=x, recency=t_x, T=big_t)
    if np.any(x < 0) or np.any(x != np.round(x)):
        raise BaselineInputError("frequency must be a non-negative whole number of repeat purchases")
    if np.any(t_x < 0) or np.any(t_x > big_t):
        row = int(np.flatnonzero((t_x < 0) | (t_x > big_t))[0])
        raise BaselineInputError(
            f"recency must lie in [0, T]; row {row} has recency {t_x[row]} and T {big_t[row]}"
        )
    if np.any((x == 0) & (t_x != 0)):
        row = int(np.flatnonzero((x == 0) & (t_x != 0))[0])
        raise BaselineInputError(f"row {row}: a customer without repeat purchase must have recency 0")
    return x, t_x, big_t
