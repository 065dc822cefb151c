"""The CDNOW benchmark: protocol pieces on hand-made data, then the whole pipeline on the real file.

The pipeline tests run with few boosting rounds so that they finish in seconds; they check shape and
leakage, not quality (quality is what `clvchurn benchmark cdnow` reports).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from domain.errors import HoldoutLeakError
from training.cdnow.benchmark import (
    BASELINE,
    CLVCHURN,
    BenchmarkSettings,
    CdnowBenchmarkResult,
    forecast,
    run_cdnow_benchmark,
    training_cutoffs,
)
from training.cdnow.model import choose_sharpening, sharpen, stopping_customers
from training.cdnow.protocol import HOLDOUT_END, HOLDOUT_START, METRIC_KEYS, score, window_spend

CDNOW = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "CDNOW_master.txt"
FAST = BenchmarkSettings(learning_rate=0.3, max_rounds=15, cutoff_step_months=3)
PREDICTION_COLUMNS = [
    "customer_id",
    "bgnbd_gamma_gamma_spend",
    "bgnbd_gamma_gamma_activity",
    "clvchurn_spend",
    "clvchurn_activity",
]


def test_window_spend_sums_net_spend_and_counts_purchase_days_including_zero_dollar_ones() -> None:
    transactions = pl.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "b"],
            "timestamp": [
                datetime(1997, 9, 30),
                datetime(1997, 10, 1, 9),
                datetime(1997, 10, 1, 17),
                datetime(1997, 12, 24),
                datetime(1998, 7, 1),
            ],
            "amount": [99.0, 10.0, 5.5, 0.0, 40.0],
        }
    )
    result = window_spend(transactions, pl.Series(["c", "b", "a"]), HOLDOUT_START, HOLDOUT_END)
    assert result.to_dict(as_series=False) == {
        "customer_id": ["c", "b", "a"],
        "spend": [0.0, 0.0, 15.5],
        "purchase_days": [0.0, 1.0, 1.0],
    }


def test_score_of_a_perfect_forecast() -> None:
    actual = np.array([0.0, 0.0, 10.0, 30.0])
    metrics = score(actual, actual > 0, actual, actual)
    assert list(metrics) == list(METRIC_KEYS)
    assert metrics == {
        "gini": 1.0,
        "spearman": 1.0,
        "mae": 0.0,
        "total_error_pct": 0.0,
        "auc_active": 1.0,
        "top10_share": 0.75,
    }


def test_training_cutoffs_have_windows_of_at_least_a_quarter_of_the_horizon() -> None:
    assert training_cutoffs(HOLDOUT_START, 273.0) == [datetime(1997, month, 1) for month in (4, 5, 6, 7)]
    assert training_cutoffs(datetime(1997, 7, 1), 92.0) == [datetime(1997, month, 1) for month in (4, 5, 6)]
    assert training_cutoffs(HOLDOUT_START, 273.0, step_months=3) == [
        datetime(1997, 4, 1),
        datetime(1997, 7, 1),
    ]
    assert training_cutoffs(datetime(1998, 3, 1), 60.0, step_months=5) == [
        datetime(1997, 4, 1),
        datetime(1997, 9, 1),
        datetime(1998, 2, 1),
    ]


def test_sharpen_keeps_total_and_order_and_moves_mass_to_the_top() -> None:
    sharpened = sharpen(np.array([1.0, 3.0]), 2.0)
    np.testing.assert_allclose(sharpened, [0.4, 3.6])
    np.testing.assert_array_equal(sharpen(np.array([1.0, 3.0]), 1.0), [1.0, 3.0])


def test_choose_sharpening_picks_the_exponent_with_the_lowest_mae() -> None:
    # Actual spend is all on the second customer: the sharpest exponent of the grid wins.
    assert choose_sharpening(np.array([0.0, 4.0]), np.array([1.0, 3.0]), np.array([0, 0])) == 2.0
    # Actual spend equals the forecast: no sharpening.
    assert choose_sharpening(np.array([1.0, 3.0]), np.array([1.0, 3.0]), np.array([0, 0])) == 1.0


def test_stopping_customers_are_those_whose_id_hashes_to_zero_mod_5() -> None:
    ids = pl.Series(["00005", "00006", "00007", "00008"])
    assert stopping_customers(ids).to_list() == [False, False, True, False]


def test_forecast_refuses_a_history_that_reaches_the_forecast_start() -> None:
    history = pl.DataFrame(
        {
            "customer_id": ["a", "a"],
            "timestamp": [datetime(1997, 1, 5), HOLDOUT_START],
            "amount": [10.0, 20.0],
        }
    )
    with pytest.raises(
        HoldoutLeakError, match=r"^1 transaction\(s\) dated on or after the forecast start 1997-10-01"
    ):
        forecast(history, HOLDOUT_START, HOLDOUT_END, FAST)


@pytest.fixture(scope="module")
def benchmark() -> CdnowBenchmarkResult:
    return run_cdnow_benchmark(CDNOW, FAST)


def test_table_has_both_models_and_the_six_metrics_and_serialises_to_json(
    benchmark: CdnowBenchmarkResult,
) -> None:
    assert list(benchmark.table) == [BASELINE, CLVCHURN]
    for metrics in benchmark.table.values():
        assert list(metrics) == list(METRIC_KEYS)
        assert all(np.isfinite(value) for value in metrics.values())
    assert json.loads(json.dumps(benchmark.table)) == benchmark.table


def test_predictions_cover_the_23570_customers_with_both_models(benchmark: CdnowBenchmarkResult) -> None:
    predictions = benchmark.predictions
    assert predictions.columns == PREDICTION_COLUMNS
    assert predictions.height == 23_570
    assert predictions["customer_id"].n_unique() == 23_570
    assert predictions.select(pl.exclude("customer_id").min()).row(0) >= (0.0, 0.0, 0.0, 0.0)


def test_holdout_rows_cannot_change_any_prediction(benchmark: CdnowBenchmarkResult, tmp_path: Path) -> None:
    """Replace every holdout purchase by random ones: predictions identical, actuals (metrics) not."""
    lines = CDNOW.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    calibration = [row for row in rows if row.split()[1] < "19971001"]
    rng = np.random.default_rng(7)
    customers = sorted({row.split()[0] for row in rows})
    holdout_days = pl.date_range(HOLDOUT_START, datetime(1998, 6, 30), eager=True).dt.strftime("%Y%m%d")
    fake = [
        f"{customers[rng.integers(len(customers))]} {holdout_days[int(rng.integers(len(holdout_days)))]} "
        f"{int(rng.integers(1, 9))} {rng.uniform(5, 500):.2f}"
        for _ in range(len(rows) - len(calibration))
    ]
    altered = tmp_path / "CDNOW_altered.txt"
    altered.write_text("\n".join([header, *calibration, *fake]) + "\n")

    result = run_cdnow_benchmark(altered, FAST)

    assert result.predictions.equals(benchmark.predictions)
    assert result.table[CLVCHURN]["mae"] != benchmark.table[CLVCHURN]["mae"]
