"""The retail benchmark on the real UCI Online Retail file: protocol figures, leakage, the whole run.

The baselines take seconds; the whole run (clvchurn trains and registers its recipe) is marked slow.
These tests check the protocol, the leakage guard and the table's shape, never who wins.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from features.contract import RawData
from training.retail import (
    BGNBD,
    CLVCHURN,
    METRIC_KEYS,
    PLAIN_LIGHTGBM,
    BgNbdGammaGammaPredictor,
    PlainLightGbmPredictor,
    RetailBenchmarkResult,
    load_retail,
    run_retail_benchmark,
)
from training.retail.protocol import CUTOFF, HOLDOUT_DAYS, history_before, holdout_end, population

ONLINE_RETAIL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "online_retail.csv.gz"


@pytest.fixture(scope="module")
def raw() -> RawData:
    return load_retail(ONLINE_RETAIL).raw


def baselines() -> dict[str, BgNbdGammaGammaPredictor | PlainLightGbmPredictor]:
    return {BGNBD: BgNbdGammaGammaPredictor(), PLAIN_LIGHTGBM: PlainLightGbmPredictor()}


@pytest.fixture(scope="module")
def baseline_run(raw: RawData) -> RetailBenchmarkResult:
    return run_retail_benchmark(raw, baselines())


def test_population_and_holdout_of_the_protocol(baseline_run: RetailBenchmarkResult) -> None:
    assert baseline_run.population == 3362
    assert round(baseline_run.churn_rate * baseline_run.population) == 1443
    assert baseline_run.holdout_net_spend == pytest.approx(2_592_252.061, abs=0.01)
    assert baseline_run.predictions.height == 3362


def test_country_of_the_population_is_the_same_from_the_calibration_invoices_alone(
    raw: RawData, tmp_path: Path
) -> None:
    """The import takes each customer's country from all invoices; before the cutoff it is the same."""
    lines = pl.read_csv(ONLINE_RETAIL, infer_schema=False)
    calibration_lines = tmp_path / "calibration.csv"
    lines.filter(pl.col("InvoiceDate") < CUTOFF.strftime("%Y-%m-%d")).write_csv(calibration_lines)
    from_calibration = load_retail(calibration_lines).raw.customers
    customers = population(history_before(raw, CUTOFF), CUTOFF).to_frame()
    both = customers.join(raw.customers, on="customer_id").join(
        from_calibration, on="customer_id", suffix="_calibration"
    )
    assert both.height == 3362
    assert both.filter(pl.col("country") != pl.col("country_calibration")).height == 0


def test_holdout_rows_cannot_change_any_baseline_prediction(
    raw: RawData, baseline_run: RetailBenchmarkResult
) -> None:
    """Replace every holdout transaction by random ones: predictions identical, metrics not."""
    end = holdout_end(CUTOFF, HOLDOUT_DAYS)
    kept = raw.transactions.filter(pl.col("timestamp") < CUTOFF)
    holdout = raw.transactions.filter(pl.col("timestamp") >= CUTOFF)
    rng = np.random.default_rng(11)
    customers = raw.customers["customer_id"].to_numpy()
    seconds = int((end - CUTOFF).total_seconds())
    fake = holdout.with_columns(
        pl.Series("customer_id", customers[rng.integers(len(customers), size=holdout.height)]),
        pl.Series(
            "timestamp",
            [CUTOFF + timedelta(seconds=int(s)) for s in rng.integers(seconds, size=holdout.height)],
            dtype=pl.Datetime("us"),
        ),
        pl.Series("amount", rng.uniform(-50, 900, size=holdout.height)),
        pl.Series("transaction_id", [f"fake{i}" for i in range(holdout.height)]),
    )
    altered = RawData(pl.concat([kept, fake]), raw.customers, raw.interactions)

    result = run_retail_benchmark(altered, baselines())

    assert_same_predictions(result.predictions, baseline_run.predictions)
    for model in (BGNBD, PLAIN_LIGHTGBM):
        assert result.table[model]["mae"] != baseline_run.table[model]["mae"]


def assert_same_predictions(left: pl.DataFrame, right: pl.DataFrame) -> None:
    """Equal up to the last bits: `rfm_summary`'s parallel polars group-by sums of floats are not
    bit-reproducible from run to run (about 1e-16 relative), whatever the holdout holds."""
    assert left.columns == right.columns
    assert left["customer_id"].equals(right["customer_id"])
    for column in left.columns[1:]:
        np.testing.assert_allclose(left[column].to_numpy(), right[column].to_numpy(), rtol=1e-12, atol=0)


@pytest.mark.slow
def test_whole_benchmark_has_every_model_and_metric_and_clvchurn_reports_its_schedule(raw: RawData) -> None:
    result = run_retail_benchmark(raw)

    assert list(result.table) == [BGNBD, PLAIN_LIGHTGBM, CLVCHURN]
    for metrics in result.table.values():
        assert list(metrics) == list(METRIC_KEYS)
        assert all(np.isfinite(value) for value in metrics.values())
    assert list(result.seconds) == [BGNBD, PLAIN_LIGHTGBM, CLVCHURN]
    clvchurn = result.diagnostics[CLVCHURN]
    churn = clvchurn["models"]["churn"]
    assert churn["backtest_fit_cutoffs"] and churn["backtest_validation"] < CUTOFF.date().isoformat()
    assert churn["refit_fit_cutoffs"] and churn["trained_through"] <= CUTOFF.date().isoformat()
    assert set(clvchurn["models"]) >= {"churn", "value"}
    assert json.loads(json.dumps(result.to_json()))["table"] == result.table
