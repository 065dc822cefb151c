"""Gamma-Gamma: how much a customer spends per transaction, shrunk towards the population mean.

Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "RFM and CLV: Using Iso-value Curves for
Customer Base Analysis". Journal of Marketing Research 42(4), 415-430; and Fader & Hardie (2013),
"The Gamma-Gamma Model of Monetary Value". Each transaction value is Gamma(p, nu) with
nu ~ Gamma(q, gamma) across customers; the model sees the mean m_x of a customer's x repeat
transactions and assumes spend is independent of purchase frequency.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln

from domain.errors import BaselineInputError, ModelFitError, ModelNotFittedError
from training.baselines.base import FloatArray, as_float_array, check_same_length, maximise_log_likelihood


class GammaGammaParams(NamedTuple):
    p: float
    q: float
    v: float


class GammaGammaModel:
    """Maximum-likelihood Gamma-Gamma on customers with at least one repeat transaction."""

    def __init__(self, penalizer_coef: float = 0.0) -> None:
        self.penalizer_coef = penalizer_coef

    def fit(self, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike) -> GammaGammaModel:
        x, m_x = _spend_arrays(frequency, monetary_value)
        repeat = x > 0
        x, m_x = x[repeat], m_x[repeat]
        if len(x) == 0:
            raise BaselineInputError("Gamma-Gamma needs customers with frequency > 0; there are none")
        if np.any(m_x <= 0):
            row = int(np.flatnonzero(m_x <= 0)[0])
            raise BaselineInputError(
                f"monetary_value must be positive for repeat customers; the {row}-th repeat customer "
                f"has {m_x[row]}"
            )

        def negative_log_likelihood(log_params: FloatArray) -> float:
            params = np.exp(log_params)
            total = float(np.sum(gamma_gamma_log_likelihood(params, x, m_x)))
            return -total + self.penalizer_coef * float(np.sum(params**2))

        log_params, log_likelihood = maximise_log_likelihood(
            negative_log_likelihood, np.zeros(3), "Gamma-Gamma"
        )
        self.params_ = GammaGammaParams(*(float(v) for v in np.exp(log_params)))
        if self.params_.q <= 1:
            raise ModelFitError(
                f"Gamma-Gamma fitted q={self.params_.q:.3f} <= 1: the population mean spend is "
                "undefined; use a larger sample or penalizer_coef > 0"
            )
        self.log_likelihood_ = log_likelihood
        self.n_customers_ = len(x)
        return self

    def expected_spend_per_transaction(
        self, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike
    ) -> FloatArray:
        """E[M | p, q, gamma, m_x, x] = p (gamma + x m_x) / (p x + q - 1), Fader & Hardie (2013) eq. (5).

        A weighted mean of the population mean p gamma / (q - 1) and the observed m_x, with weight
        p x / (p x + q - 1) on m_x; customers without repeat (x = 0) get the population mean.
        """
        p, q, v = self._fitted_params()
        x, m_x = _spend_arrays(frequency, monetary_value)
        return np.asarray(p * (v + x * m_x) / (p * x + q - 1.0), dtype=np.float64)

    def population_mean_spend(self) -> float:
        """E[Z] = p gamma / (q - 1): the mean transaction value across customers."""
        p, q, v = self._fitted_params()
        return p * v / (q - 1.0)

    def _fitted_params(self) -> GammaGammaParams:
        if not hasattr(self, "params_"):
            raise ModelNotFittedError("GammaGammaModel is not fitted: call fit(frequency, monetary_value)")
        return self.params_


def gamma_gamma_log_likelihood(params: FloatArray, x: FloatArray, m_x: FloatArray) -> FloatArray:
    """Per-customer log density of the mean spend m_x over x transactions, Fader & Hardie (2013) eq. (3):
    ln Gamma(px+q) - ln Gamma(px) - ln Gamma(q) + q ln gamma + (px-1) ln(x m_x) + ln x
    - (px+q) ln(gamma + x m_x).
    """
    p, q, v = params
    total = x * m_x
    return np.asarray(
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1.0) * np.log(total)
        + np.log(x)
        - (p * x + q) * np.log(v + total),
        dtype=np.float64,
    )


def _spend_arrays(frequency: npt.ArrayLike, monetary_value: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = as_float_array(frequency, "frequency")
    m_x = as_float_array(monetary_value, "monetary_value")
    check_same_length(frequency=x, monetary_value=m_x)
    if np.any(x < 0):
        raise BaselineInputError("frequency must be non-negative")
    return x, m_x
