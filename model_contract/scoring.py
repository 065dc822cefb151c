"""How a registered model turns a feature matrix into predictions and per-feature contributions.

A scorer holds only what prediction needs: LightGBM boosters and, for probabilities, the calibration
map fitted on an out-of-time fold. Training's estimators (`training.models`) fit them and hand them
over; the registry stores them inside the model bundle, so serving runs a model without any of the
training code.

Contributions come from LightGBM's own TreeSHAP (`pred_contrib=True`; Lundberg et al. 2020, "From
local explanations to global understanding with explainable AI for trees"), identical to
`shap.TreeExplainer` on the booster's raw output. They add up in the raw (link) space: logit for
classifiers, log for Tweedie and gamma regressors. `rescale_to_output` turns them into output units
(probability points, currency) by sharing the output difference f(raw) - f(base) in proportion to each
raw contribution: exact in sum, faithful in sign and ranking, an approximation of each share when the
link is curved.

Every prediction call on fewer than `PARALLEL_PREDICTION_MIN_ROWS` rows asks LightGBM for one thread:
serving scores a handful of rows per request, where thread start-up costs more than it saves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import lightgbm as lgb
import numpy as np
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression

from model_contract.matrix import ModelMatrix, booster_input

PARALLEL_PREDICTION_MIN_ROWS = 1_000


class Scorer(Protocol):
    """What every registered model can do with a model matrix (`model_contract.matrix`)."""

    @property
    def boosters(self) -> tuple[lgb.Booster, ...]:
        """The LightGBM boosters the scorer evaluates (for checks of their categorical levels)."""
        ...

    def predict(self, X: ModelMatrix) -> np.ndarray:
        """A probability or an amount per row."""
        ...

    def contributions(self, X: ModelMatrix) -> tuple[float, np.ndarray]:
        """(base, n x features contributions in output units); each row sums to prediction - base."""
        ...


def prediction_threads(rows: int) -> int:
    """One thread for online-sized inputs, every core for batches.

    LightGBM starts a thread team per predict call, which costs about a millisecond: more than a
    single row's whole prediction (LightGBM issues #906, #6913). Batches are worth the start-up.
    """
    return 1 if rows < PARALLEL_PREDICTION_MIN_ROWS else 0


def raw_score(booster: lgb.Booster, X: ModelMatrix) -> np.ndarray:
    """The booster's output before the link's inverse (logit or log)."""
    return np.asarray(
        booster.predict(booster_input(booster, X), raw_score=True, num_threads=prediction_threads(len(X))),
        dtype=np.float64,
    )


def raw_contributions(booster: lgb.Booster, X: ModelMatrix) -> tuple[float, np.ndarray]:
    """TreeSHAP in raw space: (expected raw score, n x features matrix)."""
    matrix = np.asarray(
        booster.predict(booster_input(booster, X), pred_contrib=True, num_threads=prediction_threads(len(X))),
        dtype=np.float64,
    )
    return float(matrix[0, -1]) if len(matrix) else 0.0, matrix[:, :-1]


def rescale_to_output(
    raw_contrib: np.ndarray, raw_base: float, output: np.ndarray, output_base: float
) -> np.ndarray:
    """Share `output - output_base` among features in proportion to their raw contributions.

    Rows whose raw contributions cancel exactly (raw score equal to the base) get zeros.
    """
    raw_delta = raw_contrib.sum(axis=1)
    moved = np.abs(raw_delta) > 1e-12
    scale = np.divide(output - output_base, raw_delta, out=np.zeros_like(raw_delta), where=moved)
    return raw_contrib * scale[:, None]


def _is_sigmoid_map(mapping: Any) -> bool:
    """Whether `mapping` is scikit-learn's fitted Platt map (a private class: matched by name and fields)."""
    return (
        type(mapping).__name__ == "_SigmoidCalibration" and hasattr(mapping, "a_") and hasattr(mapping, "b_")
    )


@dataclass(frozen=True)
class CalibratedProbabilityScorer:
    """P(event) from a LightGBM classifier's raw margin through a calibration map fitted out of time.

    `calibration` is the fitted map inside scikit-learn's `CalibratedClassifierCV` (sigmoid or
    isotonic) from raw margin to probability; it is applied directly, which is what
    `CalibratedClassifierCV.predict_proba(margins)[:, 1]` computes without its per-call validation
    (about 0.4 ms for the sigmoid map's dataframe checks, 0.1 ms for isotonic's `check_array`).
    """

    booster: lgb.Booster
    calibration: Any

    @property
    def boosters(self) -> tuple[lgb.Booster, ...]:
        return (self.booster,)

    def raw_margin(self, X: ModelMatrix) -> np.ndarray:
        return raw_score(self.booster, X)

    def calibrated_from_raw(self, raw_margin: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for raw LightGBM margins (log-odds before calibration)."""
        margins = np.asarray(raw_margin, dtype=np.float64).reshape(-1)
        mapping = self.calibration
        if isinstance(mapping, IsotonicRegression) and mapping.X_thresholds_.dtype == np.float64:
            if not np.isfinite(margins).all():
                raise ValueError("raw margins contain NaN or infinity; LightGBM margins are always finite")
            if mapping.out_of_bounds == "clip":
                margins = np.clip(margins, mapping.X_min_, mapping.X_max_)
            probabilities = np.asarray(mapping.f_(margins), dtype=np.float64)
        elif _is_sigmoid_map(mapping):
            probabilities = expit(-(mapping.a_ * margins + mapping.b_))
        else:
            probabilities = np.asarray(mapping.predict(margins), dtype=np.float64)
        return np.clip(probabilities, 0.0, 1.0)

    def predict(self, X: ModelMatrix) -> np.ndarray:
        return self.calibrated_from_raw(self.raw_margin(X))

    def contributions(self, X: ModelMatrix) -> tuple[float, np.ndarray]:
        """(base probability, per-feature contributions in probability points).

        The base is the calibrated probability of the expected raw margin (TreeSHAP's base value),
        not the mean predicted probability; each row's contributions sum to its calibrated
        probability minus that base.
        """
        raw_base, raw_contrib = raw_contributions(self.booster, X)
        probability = self.calibrated_from_raw(raw_base + raw_contrib.sum(axis=1))
        base = float(self.calibrated_from_raw(np.array([raw_base]))[0])
        return base, rescale_to_output(raw_contrib, raw_base, probability, base)


@dataclass(frozen=True)
class LogLinkAmountScorer:
    """An amount from one regressor with a log link (Tweedie, gamma): exp(raw score)."""

    booster: lgb.Booster

    @property
    def boosters(self) -> tuple[lgb.Booster, ...]:
        return (self.booster,)

    def predict(self, X: ModelMatrix) -> np.ndarray:
        return np.exp(raw_score(self.booster, X))

    def contributions(self, X: ModelMatrix) -> tuple[float, np.ndarray]:
        """TreeSHAP in log space rescaled to currency: each row sums to exp(raw) - exp(expected raw).

        The base is exp of the expected log prediction (a geometric-mean-like amount, below the mean
        prediction).
        """
        raw_base, raw_contrib = raw_contributions(self.booster, X)
        base = float(np.exp(raw_base))
        predicted = np.exp(raw_base + raw_contrib.sum(axis=1))
        return base, rescale_to_output(raw_contrib, raw_base, predicted, base)


@dataclass(frozen=True)
class TwoPartAmountScorer:
    """P(buy) x E[spend | buy]: a purchase classifier (logit) and a spend regressor (log, gamma)."""

    purchase_booster: lgb.Booster
    spend_booster: lgb.Booster

    @property
    def boosters(self) -> tuple[lgb.Booster, ...]:
        return (self.purchase_booster, self.spend_booster)

    def predict(self, X: ModelMatrix) -> np.ndarray:
        return expit(raw_score(self.purchase_booster, X)) * np.exp(raw_score(self.spend_booster, X))

    def contributions(self, X: ModelMatrix) -> tuple[float, np.ndarray]:
        """Each part's TreeSHAP rescaled to its own units, then combined by the Shapley split of a product.

        With p, s the purchase probability and conditional spend and p0, s0 their bases,
        p*s - p0*s0 = (p - p0)(s + s0)/2 + (s - s0)(p + p0)/2, so a feature's currency contribution is
        its probability share times (s + s0)/2 plus its spend share times (p + p0)/2. Base = p0 * s0.
        """
        logit_base, logit_contrib = raw_contributions(self.purchase_booster, X)
        log_base, log_contrib = raw_contributions(self.spend_booster, X)
        p0, s0 = float(expit(logit_base)), float(np.exp(log_base))
        p = expit(logit_base + logit_contrib.sum(axis=1))
        s = np.exp(log_base + log_contrib.sum(axis=1))
        purchase_share = rescale_to_output(logit_contrib, logit_base, p, p0)
        spend_share = rescale_to_output(log_contrib, log_base, s, s0)
        combined = purchase_share * ((s + s0) / 2)[:, None] + spend_share * ((p + p0) / 2)[:, None]
        return p0 * s0, combined


@dataclass(frozen=True)
class ConstantProbabilityScorer:
    """The documented fallback for a population too small to train on: its observed base rate.

    Every customer of the population gets the rate of the training rows; a prediction equal to the
    baseline has no reasons, so the contributions are all zero.
    """

    probability: float
    features: int

    @property
    def boosters(self) -> tuple[lgb.Booster, ...]:
        return ()

    def predict(self, X: ModelMatrix) -> np.ndarray:
        return np.full(len(X), self.probability)

    def contributions(self, X: ModelMatrix) -> tuple[float, np.ndarray]:
        return self.probability, np.zeros((len(X), self.features))


@dataclass(frozen=True)
class BoundedDaysScorer:
    """A number of days from one regressor without a link (LightGBM's L1 objective), kept in its window.

    The booster's raw score is the prediction; it is clipped to [0, `upper_days`], the label window
    the regressor learned from (`training.models.next_order`). Contributions are TreeSHAP in days,
    rescaled like the others so that a clipped row's still sum to its prediction minus the base.
    """

    booster: lgb.Booster
    upper_days: float

    @property
    def boosters(self) -> tuple[lgb.Booster, ...]:
        return (self.booster,)

    def predict(self, X: ModelMatrix) -> np.ndarray:
        return np.clip(raw_score(self.booster, X), 0.0, self.upper_days)

    def contributions(self, X: ModelMatrix) -> tuple[float, np.ndarray]:
        raw_base, raw_contrib = raw_contributions(self.booster, X)
        base = float(np.clip(raw_base, 0.0, self.upper_days))
        predicted = np.clip(raw_base + raw_contrib.sum(axis=1), 0.0, self.upper_days)
        return base, rescale_to_output(raw_contrib, raw_base, predicted, base)


@dataclass(frozen=True)
class ConstantScorer:
    """The documented fallback for a count or a number of days too few rows can learn: one value for all.

    Like `ConstantProbabilityScorer`, it has no reasons: the contributions are all zero.
    """

    value: float
    features: int

    @property
    def boosters(self) -> tuple[lgb.Booster, ...]:
        return ()

    def predict(self, X: ModelMatrix) -> np.ndarray:
        return np.full(len(X), self.value)

    def contributions(self, X: ModelMatrix) -> tuple[float, np.ndarray]:
        return self.value, np.zeros((len(X), self.features))
