"""The retail benchmark: any set of predictors scored out of time under `training.retail.protocol`.

Leakage guard. `run_retail_benchmark` cuts the data at the cutoff (`protocol.history_before`) before
any predictor runs, and hands every predictor that cut only; the holdout rows are read again solely to
compute the targets the metrics compare with. Changing the holdout therefore changes the metrics and
never a prediction (tests/training/test_retail_benchmark.py proves it).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from time import perf_counter
from typing import Any

import numpy as np
import polars as pl

from features.contract import RawData
from training.retail.baselines import BgNbdGammaGammaPredictor, PlainLightGbmPredictor
from training.retail.clvchurn_predictor import ClvchurnPredictor, ClvchurnRecipe
from training.retail.predictors import Predictor, ReportsDiagnostics, aligned_predictions
from training.retail.protocol import (
    CUTOFF,
    HOLDOUT_DAYS,
    LOOKBACK_DAYS,
    history_before,
    holdout_end,
    population,
    targets,
)
from training.retail.scoring import check_scorable, score_model

logger = logging.getLogger(__name__)

BGNBD = "bgnbd_gamma_gamma"
PLAIN_LIGHTGBM = "plain_lightgbm"
CLVCHURN = "clvchurn"


def default_predictors(recipe: ClvchurnRecipe | None = None) -> dict[str, Predictor]:
    """The two baselines of the protocol, then clvchurn's current recipe (the slow one) last."""
    return {
        BGNBD: BgNbdGammaGammaPredictor(),
        PLAIN_LIGHTGBM: PlainLightGbmPredictor(),
        CLVCHURN: ClvchurnPredictor(recipe),
    }


@dataclass(frozen=True)
class RetailBenchmarkResult:
    """`table[model][metric]` (`scoring.METRIC_KEYS`), what each model took and reported, the protocol.

    `predictions` holds, per population customer, `<model>_churn_probability`, `<model>_predicted_value`
    and `<model>_activity_score` (no actuals in it); `seconds` is each predictor's wall time;
    `diagnostics` what the predictors that report some said about their last call.
    """

    table: dict[str, dict[str, float]]
    predictions: pl.DataFrame
    seconds: dict[str, float]
    diagnostics: dict[str, dict[str, Any]]
    cutoff: datetime
    holdout_end: datetime
    population: int
    churn_rate: float
    holdout_net_spend: float

    def to_json(self) -> dict[str, Any]:
        """The result without predictions, JSON-ready (undefined numbers become null)."""
        return _finite_or_none(
            {
                "protocol": {
                    "cutoff": self.cutoff.date().isoformat(),
                    "holdout_end_exclusive": self.holdout_end.date().isoformat(),
                    "population": self.population,
                    "churn_rate": self.churn_rate,
                    "holdout_net_spend": self.holdout_net_spend,
                },
                "table": self.table,
                "seconds": self.seconds,
                "diagnostics": self.diagnostics,
            }
        )


def run_retail_benchmark(
    raw: RawData,
    predictors: Mapping[str, Predictor] | None = None,
    *,
    cutoff: datetime = CUTOFF,
    horizon_days: int = HOLDOUT_DAYS,
    lookback_days: int = LOOKBACK_DAYS,
) -> RetailBenchmarkResult:
    """Score every predictor on the population at `cutoff` against the holdout that follows it.

    Parameters
    ----------
    raw: the whole data set in the raw-data contract (e.g. `clvchurn data import-invoices` output).
    predictors: name -> predictor (`training.retail.predictors`); default `default_predictors()`.
    cutoff, horizon_days, lookback_days: the protocol (defaults: 2011-09-09, 91 days, 365 days).

    Raises
    ------
    BenchmarkPopulationError: the population is empty, or its holdout has one outcome only.
    BenchmarkPredictionError: a predictor's output misses a population customer or a valid value.
    """
    chosen = dict(predictors) if predictors is not None else default_predictors()
    history = history_before(raw, cutoff)
    customers = population(history, cutoff, lookback_days)
    end = holdout_end(cutoff, horizon_days)
    actual = targets(raw, customers, cutoff, end)
    check_scorable(actual)
    logger.info(
        "retail benchmark: %d population customers as of %s, holdout to %s", customers.len(), cutoff, end
    )
    table: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    diagnostics: dict[str, dict[str, Any]] = {}
    predictions = customers.to_frame()
    for name, predictor in chosen.items():
        started = perf_counter()
        output = predictor(history, cutoff, horizon_days)
        seconds[name] = perf_counter() - started
        aligned = aligned_predictions(name, output, customers)
        table[name] = score_model(actual, aligned)
        if isinstance(predictor, ReportsDiagnostics):
            diagnostics[name] = predictor.diagnostics_
        predictions = predictions.hstack(
            [aligned.get_column(column).alias(f"{name}_{column}") for column in aligned.columns[1:]]
        )
        logger.info("retail benchmark: %s scored in %.1f s", name, seconds[name])
    return RetailBenchmarkResult(
        table=table,
        predictions=predictions,
        seconds=seconds,
        diagnostics=diagnostics,
        cutoff=cutoff,
        holdout_end=end,
        population=customers.len(),
        churn_rate=float(np.mean(actual.get_column("churned").to_numpy())),
        holdout_net_spend=float(actual.get_column("net_spend").sum()),
    )


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return {str(key): _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
