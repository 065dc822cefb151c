"""Realised performance of a past snapshot, by segment, and direction-aware alerts against the backtest."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from domain.errors import MonitoringSettingsError, OutcomeInputError
from monitoring.realised import (
    METRIC_DIRECTIONS,
    backtest_comparison,
    performance_alerts,
    realised_binary_performance,
    realised_value_performance,
)
from monitoring.settings import MonitoringSettings
from training import metrics


@pytest.fixture
def snapshot() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(8)],
            "churned": [0, 1, 0, 1, 1, 0, 0, 0],
            "churn_probability": [0.1, 0.9, 0.2, 0.7, 0.4, 0.3, 0.6, 0.1],
            "tier": ["B", "A", "B", "B", "A", "D", "D", None],
            "lifecycle_stage": ["active", "active", "loyal", "at_risk", "at_risk", "new", "new", "active"],
            "actual_value": [0.0, 10.0, 3.0, 20.0, 5.0, 0.0, 0.0, 1.0],
            "predicted_value": [1.0, 8.0, 2.0, 25.0, 3.0, 1.0, 0.0, 0.5],
        }
    )


def test_overall_churn_figures_are_the_training_metrics_of_the_snapshot(snapshot: pl.DataFrame) -> None:
    y, p = snapshot["churned"].to_numpy(), snapshot["churn_probability"].to_numpy()

    result = realised_binary_performance(snapshot, outcome="churned", probability="churn_probability")

    expected = metrics.probability_metrics(y, p)
    assert {name: result[name] for name in expected} == expected
    assert (result["n"], result["positives"]) == (8, 3)
    assert result["calibration"][0] == {
        "decile": 1,
        "customers": 1,
        "mean_predicted": 0.9,
        "observed_rate": 1.0,
        "share_of_positives": pytest.approx(1 / 3),
        "cumulative_share": pytest.approx(1 / 3),
    }
    assert len(result["calibration"]) == 8  # fewer customers than deciles: one per group
    assert json.dumps(result, allow_nan=False)


def test_segments_follow_the_vocabulary_and_undefined_metrics_are_null(snapshot: pl.DataFrame) -> None:
    result = realised_binary_performance(snapshot, outcome="churned", probability="churn_probability")
    tiers, stages = result["segments"]["tier"], result["segments"]["lifecycle_stage"]

    assert list(tiers) == ["A", "B", "D", "missing"]
    assert list(stages) == ["new", "active", "loyal", "at_risk"]
    tier_b = snapshot.filter(pl.col("tier") == "B")
    assert tiers["B"]["roc_auc"] == metrics.roc_auc(tier_b["churned"], tier_b["churn_probability"])
    assert tiers["B"]["n"] == 3
    # tier A: everyone churned; tier D: nobody did. ROC-AUC needs both, Brier does not.
    assert tiers["A"]["roc_auc"] is None and tiers["D"]["roc_auc"] is None
    assert tiers["D"]["brier"] == pytest.approx((0.3**2 + 0.6**2) / 2)
    assert tiers["D"]["calibration"] is None and tiers["A"]["calibration"] is not None


def test_value_figures_overall_and_by_segment(snapshot: pl.DataFrame) -> None:
    actual, predicted = snapshot["actual_value"].to_numpy(), snapshot["predicted_value"].to_numpy()

    result = realised_value_performance(snapshot, actual="actual_value", predicted="predicted_value")

    assert {name: result[name] for name in metrics.value_metrics(actual, predicted)} == metrics.value_metrics(
        actual, predicted
    )
    assert (result["n"], result["actual_total"], result["predicted_total"]) == (8, 39.0, 40.5)
    assert result["deciles"] == metrics.decile_table(actual, predicted).to_dicts()
    tier_d = result["segments"]["tier"]["D"]  # spent nothing: no ranking, no total error
    assert (tier_d["gini"], tier_d["total_error_pct"], tier_d["deciles"]) == (None, None, None)
    assert tier_d["mae"] == 0.5
    assert result["segments"]["tier"]["missing"]["gini"] is None  # one customer cannot be ranked
    assert json.dumps(result, allow_nan=False)


def test_inputs_that_do_not_line_up_are_refused(snapshot: pl.DataFrame) -> None:
    churn = {"outcome": "churned", "probability": "churn_probability"}
    with pytest.raises(OutcomeInputError, match=r"columns \['region'\] are missing"):
        realised_binary_performance(snapshot, segments=["region"], **churn)
    with pytest.raises(OutcomeInputError, match="'churned' has 1 nulls: keep only customers whose outcome"):
        realised_binary_performance(
            snapshot.with_columns(
                pl.when(pl.col("customer_id") == "C0").then(None).otherwise("churned").alias("churned")
            ),
            **churn,
        )
    with pytest.raises(OutcomeInputError, match="'churned' must hold only 0 and 1"):
        realised_binary_performance(snapshot.with_columns(pl.col("churned") * 2), **churn)
    with pytest.raises(
        OutcomeInputError, match=r"'churn_probability' must hold probabilities within \[0, 1\]"
    ):
        realised_binary_performance(snapshot.with_columns(pl.col("churn_probability") + 0.5), **churn)
    with pytest.raises(OutcomeInputError, match="'lifecycle_stage' holds String values, not numbers"):
        realised_value_performance(snapshot, actual="lifecycle_stage", predicted="predicted_value")
    with pytest.raises(OutcomeInputError, match="no customers"):
        realised_value_performance(snapshot.clear(), actual="actual_value", predicted="predicted_value")


def test_boolean_outcomes_are_accepted(snapshot: pl.DataFrame) -> None:
    as_bool = snapshot.with_columns(pl.col("churned").cast(pl.Boolean))

    result = realised_binary_performance(as_bool, outcome="churned", probability="churn_probability")

    assert result["roc_auc"] == metrics.roc_auc(snapshot["churned"], snapshot["churn_probability"])


# --- alerts ---------------------------------------------------------------------------------------------


def _alerted(realised: dict, backtest: dict, settings: MonitoringSettings | None = None) -> dict[str, float]:
    return {
        a["metric"]: a["worse_by"] for a in performance_alerts(realised, backtest, settings, model="churn")
    }


def test_alerts_know_which_way_each_metric_improves() -> None:
    backtest = {"roc_auc": 0.85, "brier": 0.12, "ece": 0.01, "total_error_pct": 3.0, "mae": 1000.0}

    worse = {"roc_auc": 0.80, "brier": 0.14, "ece": 0.02, "total_error_pct": -15.0, "mae": 1101.0}
    better = {"roc_auc": 0.95, "brier": 0.05, "ece": 0.0, "total_error_pct": 1.0, "mae": 500.0}
    within = {"roc_auc": 0.84, "brier": 0.13, "ece": 0.03, "total_error_pct": -13.0, "mae": 1100.0}

    alerts = _alerted(worse, backtest)
    assert alerts == {
        "roc_auc": pytest.approx(0.05),  # higher is better: 0.85 - 0.80 > 0.02
        "brier": pytest.approx(0.02),  # lower is better: 0.14 - 0.12 > 0.01
        "total_error_pct": pytest.approx(12.0),  # closer to zero: |-15| - |3| > 10 points
        "mae": pytest.approx(101.0),  # relative: 101 > 10% of 1000
    }
    assert _alerted(better, backtest) == {}
    assert _alerted(within, backtest) == {}  # at the tolerance exactly is not beyond it


def test_comparison_lists_every_metric_known_on_both_sides() -> None:
    records = backtest_comparison(
        {"roc_auc": 0.8, "pr_auc": None, "gini": float("nan"), "lift_top10": 2.0},
        {"roc_auc": 0.81, "pr_auc": 0.7, "gini": 0.9},
        model="churn",
    )

    assert records == [
        {
            "model": "churn",
            "metric": "roc_auc",
            "direction": "higher_is_better",
            "realised": 0.8,
            "backtest": 0.81,
            "worse_by": pytest.approx(0.01),
            "allowed": 0.02,
            "tolerance": 0.02,
            "tolerance_kind": "absolute",
            "alert": False,
        }
    ]


def test_tolerances_come_from_the_settings_and_typos_are_refused() -> None:
    tight = MonitoringSettings(tolerances={"roc_auc": 0.001})

    assert _alerted({"roc_auc": 0.848}, {"roc_auc": 0.85}, tight) == {"roc_auc": pytest.approx(0.002)}
    with pytest.raises(MonitoringSettingsError, match=r"unknown metrics \['roc-auc'\]"):
        performance_alerts({}, {}, MonitoringSettings(tolerances={"roc-auc": 0.1}), model="churn")


def test_every_default_tolerance_names_a_metric_with_a_direction() -> None:
    settings = MonitoringSettings()

    assert set(settings.tolerances) | set(settings.relative_tolerances) <= set(METRIC_DIRECTIONS)
    assert set(METRIC_DIRECTIONS) >= set(metrics.probability_metrics(np.array([0, 1]), np.array([0.2, 0.8])))
