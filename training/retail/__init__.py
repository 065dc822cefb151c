"""The real-data retail benchmark (UCI Online Retail, protocol in ../shared/data/README.md).

`protocol` (cutoff, holdout, population, targets), `predictors` (what a benchmarked model is),
`baselines` (BG/NBD x Gamma-Gamma, a plain LightGBM on RFM windows), `clvchurn_predictor` (the
product through its public training and serving calls), `scoring` (the metrics), `benchmark` (the run).
"""

from training.retail.baselines import BgNbdGammaGammaPredictor, PlainLightGbmPredictor, PlainLightGbmSettings
from training.retail.benchmark import (
    BGNBD,
    CLVCHURN,
    PLAIN_LIGHTGBM,
    RetailBenchmarkResult,
    default_predictors,
    run_retail_benchmark,
)
from training.retail.clvchurn_predictor import ClvchurnPredictor, ClvchurnRecipe
from training.retail.data import load_retail
from training.retail.predictors import Predictor, ReportsDiagnostics
from training.retail.scoring import METRIC_KEYS

__all__ = [
    "BGNBD",
    "CLVCHURN",
    "METRIC_KEYS",
    "PLAIN_LIGHTGBM",
    "BgNbdGammaGammaPredictor",
    "ClvchurnPredictor",
    "ClvchurnRecipe",
    "PlainLightGbmPredictor",
    "PlainLightGbmSettings",
    "Predictor",
    "ReportsDiagnostics",
    "RetailBenchmarkResult",
    "default_predictors",
    "load_retail",
    "run_retail_benchmark",
]
