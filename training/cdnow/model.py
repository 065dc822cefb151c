"""The clvchurn CDNOW model: LightGBM corrections of BG/NBD and Gamma-Gamma, fitted with offsets.

Why offsets. The holdout (273 days) is as long as the whole calibration period, so no cutoff inside
calibration has a label window that long. The BG/NBD's expected purchases E[Y(h) | x, t_x, T]
carries each customer's time profile to any horizon h, so the boosted models learn a multiplicative
correction to it on the windows we can observe and the correction is carried to 273 days:
- purchases: LightGBM Poisson on purchase days in [cutoff, calibration end), init score
  log E[Y(h)] (a log-link GLM offset, McCullagh & Nelder 1989, sec. 6.2); its prediction at the
  holdout cutoff uses log E[Y(273)];
- spend per purchase: LightGBM gamma on the mean spend per purchase day of the customers who bought in
  the window, init score log of the Gamma-Gamma expectation (Fader & Hardie 2013, eq. 5);
- expected spend = purchases x spend per purchase, the BG/NBD x Gamma-Gamma product (valid under the
  same independence assumption) with both factors corrected.
The activity score is the expected number of purchases, like the BG/NBD's in the protocol.

Sharpening. MAE rewards conditional medians (0 for most customers) while the total error rewards
means. `sharpening_exponent_` k maps expected spend v to v^k x sum(v) / sum(v^k): rankings and the
population total are unchanged, MAE moves. k is chosen on the early-stopping customers of the
training snapshots (k = 1 means no change), never on the holdout.

Early stopping and the sharpening choice use customers held out by a hash of their id (one in
`STOPPING_SHARE_INVERSE`), so every customer's rows stay on one side.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl

from training.cdnow.snapshots import EXPECTED_PURCHASES, EXPECTED_SPEND_PER_PURCHASE
from training.models.boosting import EARLY_STOPPING_ROUNDS, lightgbm_params

logger = logging.getLogger(__name__)

STOPPING_SHARE_INVERSE = 5
SHARPENING_GRID = tuple(round(1.0 + 0.05 * step, 2) for step in range(21))
_FLOOR = 1e-9


class OffsetClvModel:
    """Purchases and spend over any horizon, as LightGBM corrections of BG/NBD x Gamma-Gamma.

    `fit` takes stacked point-in-time frames (`training.cdnow.snapshots`) with `spend` and
    `purchase_days` labels over each row's window and the offsets for that window; `predict` takes a
    frame whose offsets are over the forecast horizon. Learned state ends in `_`.
    """

    def __init__(
        self,
        inputs: Sequence[str],
        learning_rate: float = 0.05,
        max_rounds: int = 1000,
        num_leaves: int = 15,
        min_child_samples: int = 200,
        random_state: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self.inputs = inputs
        self.learning_rate = learning_rate
        self.max_rounds = max_rounds
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, training: pl.DataFrame) -> OffsetClvModel:
        stopping = stopping_customers(training["customer_id"])
        purchases = training["purchase_days"].to_numpy()
        self.purchases_booster_ = self._boost(
            "poisson", training, purchases, _log(training[EXPECTED_PURCHASES]), stopping
        )
        buyers = (training["spend"] > 0) & (training["purchase_days"] > 0)
        bought = training.filter(buyers)
        self.spend_booster_ = self._boost(
            "gamma",
            bought,
            (bought["spend"] / bought["purchase_days"]).to_numpy(),
            _log(bought[EXPECTED_SPEND_PER_PURCHASE]),
            stopping.filter(buyers),
        )
        held_out = training.filter(stopping)
        self.sharpening_exponent_ = 1.0
        self.sharpening_exponent_ = choose_sharpening(
            held_out["spend"].to_numpy(), self._expected_spend(held_out), held_out["as_of"].to_numpy()
        )
        logger.info(
            "CDNOW model: %d purchase rounds, %d spend rounds, sharpening exponent %.2f",
            self.purchases_booster_.best_iteration_,
            self.spend_booster_.best_iteration_,
            self.sharpening_exponent_,
        )
        return self

    def predict(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(expected spend, expected purchases) over the horizon of the frame's offsets."""
        return sharpen(self._expected_spend(frame), self.sharpening_exponent_), self._expected_purchases(
            frame
        )

    def _expected_purchases(self, frame: pl.DataFrame) -> np.ndarray:
        raw = self.purchases_booster_.predict(self._matrix(frame), raw_score=True)
        return np.exp(np.asarray(raw, dtype=np.float64) + _log(frame[EXPECTED_PURCHASES]))

    def _expected_spend(self, frame: pl.DataFrame) -> np.ndarray:
        raw = self.spend_booster_.predict(self._matrix(frame), raw_score=True)
        per_purchase = np.exp(np.asarray(raw, dtype=np.float64) + _log(frame[EXPECTED_SPEND_PER_PURCHASE]))
        return self._expected_purchases(frame) * per_purchase

    def _boost(
        self, objective: str, frame: pl.DataFrame, target: np.ndarray, offset: np.ndarray, stopping: pl.Series
    ) -> lgb.LGBMRegressor:
        params: dict[str, Any] = lightgbm_params(self.random_state, self.n_jobs)
        params.update(
            n_estimators=self.max_rounds,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
        )
        regressor = lgb.LGBMRegressor(objective=objective, **params)
        keep = ~stopping.to_numpy()
        X = self._matrix(frame)
        regressor.fit(
            X[keep],
            target[keep],
            init_score=offset[keep],
            eval_X=(X[~keep],),
            eval_y=(target[~keep],),
            eval_init_score=[offset[~keep]],
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
        )
        return regressor

    def _matrix(self, frame: pl.DataFrame) -> pd.DataFrame:
        return frame.select(list(self.inputs)).to_pandas()


def stopping_customers(customer_ids: pl.Series) -> pl.Series:
    """True for the customers held out for early stopping: crc32(id) mod 5 == 0, stable across runs."""
    return customer_ids.map_elements(
        lambda customer_id: zlib.crc32(customer_id.encode()) % STOPPING_SHARE_INVERSE == 0,
        return_dtype=pl.Boolean,
    ).alias("stopping")


def sharpen(expected_spend: np.ndarray, exponent: float) -> np.ndarray:
    """v^k rescaled to keep sum(v): same ranking and total, more mass on the likeliest spenders."""
    if exponent == 1.0 or expected_spend.sum() <= 0:
        return expected_spend
    powered = np.power(np.clip(expected_spend, 0.0, None), exponent)
    return powered * (expected_spend.sum() / powered.sum())


def choose_sharpening(actual: np.ndarray, expected_spend: np.ndarray, groups: np.ndarray) -> float:
    """The exponent of `SHARPENING_GRID` with the lowest MAE, totals kept within each snapshot group."""
    errors = []
    for exponent in SHARPENING_GRID:
        sharpened = np.empty_like(expected_spend)
        for group in np.unique(groups):
            rows = groups == group
            sharpened[rows] = sharpen(expected_spend[rows], exponent)
        errors.append(float(np.mean(np.abs(sharpened - actual))))
    return SHARPENING_GRID[int(np.argmin(errors))]


def _log(values: pl.Series) -> np.ndarray:
    return np.log(np.clip(values.to_numpy().astype(np.float64), _FLOOR, None))
