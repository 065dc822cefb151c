"""The retail benchmark on a hand-made invoice history: protocol, predictor checks, metrics, leakage, CLI.

Eight customers around the cutoff 2011-09-09 (holdout to 2011-12-09, exclusive; lookback from
2010-09-09), written in the UCI Online Retail layout and read through the invoice import:
- A orders 2011-03-01 (100) and 2011-08-01 (50); in the holdout orders 80, then a cancellation of 30;
- B orders 2011-05-01 (200), nothing in the holdout;
- C last ordered 2010-09-08, a day before the lookback (lapsed), then orders 10 in the holdout;
- D was only ever refunded (-20, 2011-06-01): no order;
- E's first invoice is in the holdout (2011-10-05);
- F orders at 2011-09-08 23:59 (history) and at 2011-09-09 00:00 (holdout, 20);
- G orders 2011-07-01, then at 2011-12-09 00:00, the first moment after the holdout;
- H orders at 2010-09-09 00:00 (the lookback's first moment) and 2011-07-15.
One guest line without a customer id is rejected by the import.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from clvchurn.cli import app
from clvchurn.commands import console as console_module
from domain.errors import BenchmarkPopulationError, BenchmarkPredictionError
from features.build import build_features
from features.contract import RawData
from training.retail import benchmark as benchmark_module
from training.retail.baselines import RFM_FEATURES, PlainLightGbmPredictor, PlainLightGbmSettings
from training.retail.benchmark import run_retail_benchmark
from training.retail.data import load_retail
from training.retail.predictors import aligned_predictions
from training.retail.protocol import CUTOFF, HOLDOUT_DAYS, history_before, holdout_end, population, targets
from training.retail.scoring import METRIC_KEYS, check_scorable, score_model

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
# invoice, timestamp, quantity, customer (unit price 10.0 throughout)
LINES = (
    ("500001", "2011-03-01 10:00:00", 10, "A"),
    ("500002", "2011-08-01 10:00:00", 5, "A"),
    ("500003", "2011-10-01 10:00:00", 8, "A"),
    ("C500004", "2011-11-01 10:00:00", -3, "A"),
    ("500005", "2011-05-01 12:00:00", 20, "B"),
    ("500006", "2010-09-08 09:00:00", 4, "C"),
    ("500007", "2011-10-10 09:00:00", 1, "C"),
    ("C500008", "2011-06-01 09:00:00", -2, "D"),
    ("500009", "2011-10-05 09:00:00", 3, "E"),
    ("500010", "2011-09-08 23:59:00", 1, "F"),
    ("500011", "2011-09-09 00:00:00", 2, "F"),
    ("500012", "2011-07-01 08:00:00", 6, "G"),
    ("500013", "2011-12-09 00:00:00", 7, "G"),
    ("500014", "2010-09-09 00:00:00", 1, "H"),
    ("500015", "2011-07-15 08:00:00", 3, "H"),
    ("500016", "2011-07-15 09:00:00", 1, ""),
)
POPULATION = ["A", "B", "F", "G", "H"]
TINY_LIGHTGBM = PlainLightGbmSettings(n_estimators=5, min_child_samples=1, n_jobs=1)


def write_invoices(folder: Path, lines: tuple[tuple[str, str, int, str], ...] = LINES) -> Path:
    rows = [
        f"{invoice},X1,ITEM,{quantity},{stamp},10.0,{customer},United Kingdom"
        for invoice, stamp, quantity, customer in lines
    ]
    path = folder / "invoices.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> RawData:
    loaded = load_retail(write_invoices(tmp_path_factory.mktemp("invoices")))
    assert loaded.rejects.height == 0  # the guest line is the import's reject, not the contract's
    return loaded.raw


class HistoryAwareFake:
    """Scores every buyer of the history from it alone, and keeps what it was handed."""

    def __call__(self, history: RawData, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
        self.calls = [*getattr(self, "calls", []), (history, cutoff, horizon_days)]
        per_customer = history.transactions.group_by("customer_id").agg(
            pl.col("amount").sum().alias("predicted_value"), pl.len().alias("rows")
        )
        self.diagnostics_ = {"customers": per_customer.height}
        return per_customer.select(
            "customer_id", (1.0 / (1.0 + pl.col("rows"))).alias("churn_probability"), "predicted_value"
        )


# --- protocol -------------------------------------------------------------------------------------


def test_holdout_is_the_91_days_from_the_cutoff() -> None:
    assert (CUTOFF, HOLDOUT_DAYS, holdout_end(CUTOFF, HOLDOUT_DAYS)) == (
        datetime(2011, 9, 9),
        91,
        datetime(2011, 12, 9),
    )


def test_history_holds_only_events_before_the_cutoff_and_customers_known_then(raw: RawData) -> None:
    history = history_before(raw, CUTOFF)
    assert history.transactions["timestamp"].max() == datetime(2011, 9, 8, 23, 59)
    assert history.transactions.height == 9
    assert history.customers["customer_id"].sort().to_list() == ["A", "B", "C", "D", "F", "G", "H"]
    assert history.customers.columns == raw.customers.columns


def test_a_customer_without_signup_date_is_known_only_through_an_event_before_the_cutoff() -> None:
    raw = RawData(
        transactions=pl.DataFrame(
            {
                "customer_id": ["x", "y"],
                "timestamp": [datetime(2011, 1, 1), datetime(2011, 10, 1)],
                "amount": [5.0, 5.0],
            }
        ),
        customers=pl.DataFrame(
            {"customer_id": ["x", "y", "z"], "signup_date": [None, None, None]},
            schema={"customer_id": pl.String, "signup_date": pl.Datetime("us")},
        ),
        interactions=pl.DataFrame(
            {"customer_id": ["z"], "timestamp": [datetime(2011, 2, 1)], "type": ["call"], "value": [None]},
            schema_overrides={"value": pl.Float64},
        ),
    )
    assert history_before(raw, CUTOFF).customers["customer_id"].to_list() == ["x", "z"]


def test_population_is_the_customers_with_an_order_in_the_365_days_before_the_cutoff(raw: RawData) -> None:
    assert population(history_before(raw, CUTOFF), CUTOFF).to_list() == POPULATION


def test_targets_are_any_order_and_net_spend_in_the_holdout(raw: RawData) -> None:
    actual = targets(raw, pl.Series(POPULATION), CUTOFF, holdout_end(CUTOFF, HOLDOUT_DAYS))
    assert actual.to_dict(as_series=False) == {
        "customer_id": POPULATION,
        "ordered": [True, False, True, False, False],
        "churned": [0, 1, 0, 1, 1],
        "net_spend": [50.0, 0.0, 20.0, 0.0, 0.0],
    }


# --- predictor outputs and metrics -----------------------------------------------------------------


def test_aligned_predictions_keep_the_population_in_order_with_a_default_activity_score() -> None:
    output = pl.DataFrame(
        {
            "customer_id": ["b", "z", "a"],
            "churn_probability": [0.25, 0.5, 1.0],
            "predicted_value": [3.0, 0.0, 1.0],
        }
    )
    aligned = aligned_predictions("m", output, pl.Series(["a", "b"]))
    assert aligned.to_dict(as_series=False) == {
        "customer_id": ["a", "b"],
        "churn_probability": [1.0, 0.25],
        "predicted_value": [1.0, 3.0],
        "activity_score": [0.0, 0.75],
    }


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            {"customer_id": ["a"], "predicted_value": [1.0]},
            r"^predictor 'm' returned no column\(s\) \['churn_probability'\]",
        ),
        (
            {"customer_id": ["a", "a", "b"], "churn_probability": [0.1] * 3, "predicted_value": [1.0] * 3},
            r"^predictor 'm' returned 2 rows for repeated customer ids",
        ),
        (
            {"customer_id": ["a"], "churn_probability": [0.1], "predicted_value": [1.0]},
            r"^predictor 'm' scored 1 of the 2 population customers; missing e.g. \['b'\]",
        ),
        (
            {"customer_id": ["a", "b"], "churn_probability": [0.1, 1.5], "predicted_value": [1.0, 1.0]},
            r"^predictor 'm' returned 1 churn_probability value\(s\) outside \[0, 1\], e.g. for customer b",
        ),
        (
            {"customer_id": ["a", "b"], "churn_probability": [0.1, 0.2], "predicted_value": [math.nan, 1.0]},
            r"^predictor 'm' returned 1 missing or non-finite predicted_value value\(s\), e.g. for customer a",
        ),
    ],
)
def test_aligned_predictions_refuse_an_output_the_metrics_cannot_trust(
    output: dict[str, Any], message: str
) -> None:
    with pytest.raises(BenchmarkPredictionError, match=message):
        aligned_predictions("m", pl.DataFrame(output), pl.Series(["a", "b"]))


def test_score_model_of_a_perfect_forecast(raw: RawData) -> None:
    actual = targets(raw, pl.Series(POPULATION), CUTOFF, holdout_end(CUTOFF, HOLDOUT_DAYS))
    perfect = actual.select(
        pl.col("churned").cast(pl.Float64).alias("churn_probability"),
        pl.col("net_spend").alias("predicted_value"),
        pl.col("ordered").cast(pl.Float64).alias("activity_score"),
    )
    metrics = score_model(actual, perfect)
    assert list(metrics) == list(METRIC_KEYS)
    assert metrics == pytest.approx(
        {
            "gini": 1.0,
            "spearman": 1.0,
            "mae": 0.0,
            "total_error_pct": 0.0,
            "auc_active": 1.0,
            "top10_share": 50.0 / 70.0,
            "churn_roc_auc": 1.0,
            "churn_pr_auc": 1.0,
            "churn_brier": 0.0,
            "churn_ece": 0.0,
        },
        abs=1e-12,
    )


def test_check_scorable_refuses_an_empty_population_or_a_single_outcome() -> None:
    empty = pl.DataFrame(
        schema={"customer_id": pl.String, "ordered": pl.Boolean, "churned": pl.Int8, "net_spend": pl.Float64}
    )
    with pytest.raises(BenchmarkPopulationError, match=r"^the benchmark population is empty"):
        check_scorable(empty)
    all_churned = pl.DataFrame(
        {"customer_id": ["a", "b"], "ordered": [False, False], "churned": [1, 1], "net_spend": [0.0, 5.0]}
    )
    with pytest.raises(
        BenchmarkPopulationError, match=r"^2 of the 2 population customers churned in the holdout"
    ):
        check_scorable(all_churned)


# --- the plain LightGBM baseline -------------------------------------------------------------------


def test_rfm_features_are_recency_frequency_and_spend_columns_of_build_features(raw: RawData) -> None:
    assert RFM_FEATURES == (
        "days_since_last_order",
        "orders_30d",
        "orders_90d",
        "orders_180d",
        "orders_365d",
        "orders_lifetime",
        "net_spend_30d",
        "net_spend_90d",
        "net_spend_180d",
        "net_spend_365d",
        "net_spend_lifetime",
    )
    assert set(RFM_FEATURES) <= set(build_features(raw, CUTOFF).columns)


def test_plain_lightgbm_trains_on_the_last_closed_window_and_scores_only_the_population(raw: RawData) -> None:
    predictor = PlainLightGbmPredictor(TINY_LIGHTGBM)
    output = predictor(history_before(raw, CUTOFF), CUTOFF, HOLDOUT_DAYS)

    assert output.columns == ["customer_id", "churn_probability", "predicted_value"]
    assert output["customer_id"].to_list() == POPULATION
    assert output["churn_probability"].is_between(0.0, 1.0).all()
    assert (output["predicted_value"] > 0).all()  # a Tweedie model's log link
    # Trained as of 2011-06-10 on A, B, C and H; B and C did not order again before the cutoff.
    assert {
        key: predictor.diagnostics_[key]
        for key in ("training_cutoff", "training_rows", "training_churn_rate")
    } == {
        "training_cutoff": "2011-06-10",
        "training_rows": 4,
        "training_churn_rate": 0.5,
    }
    assert predictor.diagnostics_["training_mean_net_spend"] == 20.0


# --- the run: leakage ------------------------------------------------------------------------------


def test_predictors_get_the_history_before_the_cutoff_and_nothing_else(raw: RawData) -> None:
    fake = HistoryAwareFake()
    result = run_retail_benchmark(raw, {"fake": fake})

    ((history, cutoff, horizon),) = fake.calls
    expected = history_before(raw, CUTOFF)
    assert (cutoff, horizon) == (CUTOFF, HOLDOUT_DAYS)
    assert history.transactions.equals(expected.transactions)
    assert history.customers.equals(expected.customers)
    assert (result.population, result.churn_rate, result.holdout_net_spend) == (5, 0.6, 70.0)
    assert result.diagnostics == {"fake": {"customers": 7}}
    assert result.predictions.columns == [
        "customer_id",
        "fake_churn_probability",
        "fake_predicted_value",
        "fake_activity_score",
    ]


def test_holdout_rows_cannot_change_any_prediction(raw: RawData, tmp_path: Path) -> None:
    """Replace every holdout line (and the day after it) by others: predictions identical, metrics not."""
    predictors = {"fake": HistoryAwareFake(), "plain": PlainLightGbmPredictor(TINY_LIGHTGBM)}
    before = [line for line in LINES if line[1] < "2011-09-09"]
    altered_holdout = (
        ("600001", "2011-09-20 10:00:00", 40, "B"),
        ("C600002", "2011-10-20 10:00:00", -1, "A"),
        ("600003", "2011-11-11 10:00:00", 9, "H"),
        ("600004", "2011-10-01 10:00:00", 9, "NEW"),
    )
    altered = load_retail(write_invoices(tmp_path, (*before, *altered_holdout))).raw

    original = run_retail_benchmark(raw, predictors)
    changed = run_retail_benchmark(altered, predictors)

    assert changed.predictions.equals(original.predictions)
    assert changed.table["plain"]["mae"] != original.table["plain"]["mae"]
    assert changed.holdout_net_spend == 480.0


# --- the command line ------------------------------------------------------------------------------


class FakeClvchurn(HistoryAwareFake):
    """Reports diagnostics in the shape of `ClvchurnPredictor`'s."""

    def __call__(self, history: RawData, cutoff: datetime, horizon_days: int) -> pl.DataFrame:
        output = super().__call__(history, cutoff, horizon_days)
        self.diagnostics_ = {
            "training_cutoffs": ["2011-01-10", "2011-02-09"],
            "calibration_cutoff": "2011-03-11",
            "validation_cutoff": "2011-06-10",
            "validation_churn": {"clvchurn": {"roc_auc": 0.7, "ece": 0.08}},
            "validation_value": {"clvchurn": {"gini": 0.78}},
        }
        return output


def test_benchmark_retail_command_prints_both_tables_the_schedule_and_writes_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_module.console, "width", 200)
    monkeypatch.setattr(
        benchmark_module,
        "default_predictors",
        lambda: {"plain_lightgbm": PlainLightGbmPredictor(TINY_LIGHTGBM), "clvchurn": FakeClvchurn()},
    )
    invoices = write_invoices(tmp_path)
    json_path = tmp_path / "retail.json"

    result = CliRunner().invoke(app, ["benchmark", "retail", str(invoices), "--json", str(json_path)])

    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert (
        "Population: 5 customers with an order in the 365 days before 2011-09-09; 60.0% placed no order"
        in output
    )
    assert "Retail holdout (2011-09-09 .. 2011-12-08): value and activity" in output
    assert "Retail holdout (2011-09-09 .. 2011-12-08): churn probability" in output
    assert (
        "clvchurn's schedule: training 2011-01-10, 2011-02-09; calibration 2011-03-11; validation 2011-06-10"
        in output
    )
    written = json.loads(json_path.read_text())
    assert list(written) == ["protocol", "table", "seconds", "diagnostics"]
    assert list(written["table"]) == ["plain_lightgbm", "clvchurn"]
    assert all(list(metrics) == list(METRIC_KEYS) for metrics in written["table"].values())
    assert written["protocol"] == {
        "cutoff": "2011-09-09",
        "holdout_end_exclusive": "2011-12-09",
        "population": 5,
        "churn_rate": 0.6,
        "holdout_net_spend": 70.0,
    }
    assert np.isclose(written["table"]["clvchurn"]["total_error_pct"], 100.0 * (460.0 - 70.0) / 70.0)
