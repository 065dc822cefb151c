"""`clvchurn monitor`'s report on the session's trained pair: realised figures checked against an
independent computation from the snapshot and the raw data, windows, estimates, migration and drift."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sklearn.metrics import roc_auc_score
from support.trained import CUSTOMERS, SEED, TrainedModels

from domain.errors import MonitoringInputError
from domain.vocabulary import LIFECYCLE_STAGES, TIERS
from features.build import build_features
from features.definitions import features_from
from features.synth import SyntheticShift, generate
from monitoring.report import MonitorResult, monitor
from monitoring.settings import MonitoringSettings
from serving.batch import score_features
from serving.history import (
    entry_path,
    pair_description,
    read_history_features,
    read_history_snapshot,
    write_history_entry,
)

EARLY, LATE = datetime(2025, 1, 1), datetime(2025, 7, 1)
ENGAGEMENT_FEATURES = {"visits_90d", "email_opens_90d", "email_clicks_90d", "calls_90d", "meetings_90d"}
INTERACTION_FEATURES = {spec.name for spec in features_from("interactions")}


def file_history(models: TrainedModels, folder: Path, raw: object, *cutoffs: datetime) -> Path:
    """Score each cutoff into the history as `clvchurn score` does: the snapshot and its features."""
    for cutoff in cutoffs:
        features = build_features(raw, cutoff)  # type: ignore[arg-type]
        scored = score_features(features, models.engine)
        write_history_entry(folder, scored, pair_description(models.engine.loaded), features=features)
    return folder


@pytest.fixture(scope="module")
def history(trained: TrainedModels, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return file_history(trained, tmp_path_factory.mktemp("history"), trained.raw, EARLY, LATE)


@pytest.fixture(scope="module")
def result(trained: TrainedModels, history: Path) -> MonitorResult:
    champion = {"name": "clvchurn-pair", "version": trained.engine.loaded.version, "run_id": "r"}
    return monitor(trained.raw, history, settings=MonitoringSettings(movers_per_cell=3), champion=champion)


def independent_churn_labels(trained: TrainedModels, snapshot: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """Active customers of the snapshot and whether they placed no order in [as_of, as_of + 180 days)."""
    ordered = (
        trained.raw.transactions.filter(
            (pl.col("amount") > 0)
            & (pl.col("timestamp") >= as_of)
            & (pl.col("timestamp") < as_of + timedelta(days=180))
        )
        .select("customer_id")
        .unique()
        .with_columns(pl.lit(True).alias("ordered"))
    )
    active = snapshot.filter(pl.col("population") == "active")
    return active.join(ordered, on="customer_id", how="left").with_columns(
        pl.col("ordered").is_null().cast(pl.Int8).alias("churned")
    )


def test_realised_roc_auc_of_a_past_snapshot_equals_an_independent_computation(
    trained: TrainedModels, history: Path, result: MonitorResult
) -> None:
    snapshot = read_history_snapshot(history, EARLY)
    labelled = independent_churn_labels(trained, snapshot, EARLY)
    expected = roc_auc_score(labelled["churned"].to_numpy(), labelled["churn_probability"].to_numpy())

    churn = result.report["realised"][0]["churn"]
    assert result.report["realised"][0]["snapshot_as_of"] == "2025-01-01"
    assert churn["roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert (churn["n"], churn["positives"]) == (labelled.height, int(labelled["churned"].sum()))

    spend = (
        trained.raw.transactions.filter(
            (pl.col("timestamp") >= EARLY) & (pl.col("timestamp") < EARLY + timedelta(days=365))
        )
        .group_by("customer_id")
        .agg(pl.col("amount").sum())
    )
    value = result.report["realised"][0]["value"]
    assert value["n"] == snapshot.height
    assert value["actual_total"] == pytest.approx(
        float(spend.join(snapshot, on="customer_id")["amount"].sum())
    )


def test_each_window_is_judged_once_closed_and_only_then(result: MonitorResult) -> None:
    report = result.report
    early, late = report["realised"]
    assert report["data_end"] == "2026-01-01"
    assert early["windows"]["churn"] == {
        "from": "2025-01-01",
        "to": "2025-06-30",
        "horizon_days": 180,
        "closed": True,
        "out_of_time": False,  # the session's pair was refitted through 2025-07-05: it learned these labels
    }
    assert early["value"] is not None and early["windows"]["value"]["to"] == "2026-01-01"
    assert late["churn"] is not None and late["windows"]["churn"]["to"] == "2025-12-28"
    assert late["value"] is None and late["windows"]["value"] == {
        "from": "2025-07-01",
        "to": "2026-07-01",
        "horizon_days": 365,
        "closed": False,
        "out_of_time": False,
    }
    assert report["status"]["latest_closed"] == {
        "churn": "2025-07-01",
        "reactivation": "2025-07-01",
        "conversion": "2025-07-01",
        "value": "2025-01-01",
    }


def test_an_earlier_as_of_leaves_later_outcomes_unknown(trained: TrainedModels, history: Path) -> None:
    report = monitor(trained.raw, history, as_of=datetime(2025, 8, 1)).report

    assert report["as_of"] == "2025-08-01"
    assert [entry["snapshot_as_of"] for entry in report["realised"]] == ["2025-01-01"]
    assert report["realised"][0]["churn"] is not None and report["realised"][0]["value"] is None
    assert [entry["snapshot_as_of"] for entry in report["estimated"]] == ["2025-01-01", "2025-07-01"]
    assert report["estimated"][1]["churn"]["realised"] is None
    with pytest.raises(MonitoringInputError, match="no snapshot on or before 2024-12-31"):
        monitor(trained.raw, history, as_of=datetime(2024, 12, 31))


def test_figures_sit_beside_the_backtest_and_alerts_are_the_comparisons_beyond_tolerance(
    trained: TrainedModels, result: MonitorResult
) -> None:
    pair = trained.engine.pair
    for entry in result.report["realised"]:
        for name in ("churn", "value"):
            stored = pair[name].metadata
            assert entry["backtest"][name] == {
                "as_of": stored.backtest_as_of.isoformat(),  # type: ignore[union-attr]
                **stored.backtest_metrics,
            }
        assert entry["alerts"] == [record for record in entry["comparison"] if record["alert"]]
        churn_metrics = {record["metric"] for record in entry["comparison"] if record["model"] == "churn"}
        assert churn_metrics == {"roc_auc", "pr_auc", "brier", "ece"}
    assert result.report["status"]["alerts"] == sum(
        len(entry["alerts"]) for entry in result.report["realised"]
    )


def test_every_snapshot_is_estimated_and_the_realised_figure_is_filled_in_once_known(
    result: MonitorResult,
) -> None:
    estimated = result.report["estimated"]
    assert [entry["snapshot_as_of"] for entry in estimated] == ["2025-01-01", "2025-07-01"]
    for entry, realised in zip(estimated, result.report["realised"], strict=True):
        guess = entry["churn"]
        assert set(guess) >= {"roc_auc_expected", "ece_expected", "n", "closes_on", "realised"}
        assert guess["realised"]["roc_auc"] == realised["churn"]["roc_auc"]
        assert 0.5 < guess["roc_auc_expected"] < 1


def test_migration_matrices_sum_to_the_customers_in_both_snapshots(
    history: Path, result: MonitorResult
) -> None:
    before, after = (read_history_snapshot(history, day) for day in (EARLY, LATE))
    both = before.join(after, on="customer_id", suffix="_after")
    moves = result.report["migration"]

    assert (moves["from"], moves["to"]) == ("2025-01-01", "2025-07-01")
    assert moves["customers"] == both.height
    assert list(moves["tiers"]) == list(TIERS) and list(moves["stages"]) == list(LIFECYCLE_STAGES)
    assert sum(sum(row.values()) for row in moves["tiers"].values()) == both.height
    assert sum(sum(row.values()) for row in moves["stages"].values()) == both.height
    assert (
        moves["tiers"]["A"]["B"]
        == both.filter((pl.col("tier") == "A") & (pl.col("tier_after") == "B")).height
    )
    assert moves["movers_total"] == moves["moved_up"] + moves["moved_down"] == result.movers.height  # type: ignore[union-attr]
    cells: dict[tuple[str, str], int] = {}
    for mover in moves["movers"]:
        cells[mover["tier_from"], mover["tier_to"]] = cells.get((mover["tier_from"], mover["tier_to"]), 0) + 1
    assert cells == {cell: min(3, moves["tiers"][cell[0]][cell[1]]) for cell in cells}
    assert json.dumps(result.report, allow_nan=False)


def test_a_shift_in_engagement_is_flagged_and_fresh_customers_without_one_are_not(
    trained: TrainedModels, tmp_path: Path
) -> None:
    cutoff = datetime(2026, 1, 1)
    shifted = generate(CUSTOMERS, SEED, shift=SyntheticShift("engagement", date(2025, 7, 1))).raw
    drift = monitor(shifted, file_history(trained, tmp_path / "shifted", shifted, cutoff)).report["drift"]

    assert drift["flagged"] and drift["snapshot_as_of"] == "2026-01-01"
    assert drift["reference"]["as_of"] == "2026-01-01"
    flagged = {record["name"] for record in drift["features"] if record["flagged"]}
    assert flagged & ENGAGEMENT_FEATURES and flagged <= INTERACTION_FEATURES  # nothing about orders moved

    fresh = generate(CUSTOMERS, SEED + 1).raw
    quiet = monitor(fresh, file_history(trained, tmp_path / "fresh", fresh, cutoff)).report["drift"]
    assert not quiet["flagged"]
    assert not any(record["flagged"] for record in [*quiet["features"], *quiet["predictions"]])


def test_drift_on_the_features_kept_in_the_history_equals_drift_on_features_built_again(
    trained: TrainedModels, tmp_path: Path
) -> None:
    shifted = generate(CUSTOMERS, SEED, shift=SyntheticShift("engagement", date(2025, 7, 1))).raw
    folder = file_history(trained, tmp_path / "history", shifted, datetime(2026, 1, 1))
    kept = monitor(shifted, folder).report["drift"]
    assert read_history_features(folder, date(2026, 1, 1)) is not None
    entry_path(folder, date(2026, 1, 1)).with_name("features.parquet").unlink()
    rebuilt = monitor(shifted, folder).report["drift"]

    assert kept["flagged"]
    assert kept == rebuilt


def test_the_report_carries_the_keys_other_tools_read(result: MonitorResult) -> None:
    """The keys issue 13 publishes for other tools, on the report of the trained pair."""
    report = result.report
    assert {"as_of", "champion", "realised", "estimated", "drift", "migration"} <= set(report)
    assert {"run_id", "versions"} <= set(report["champion"])
    first = report["realised"][0]
    published = {"snapshot_as_of", "churn", "reactivation", "conversion", "value", "backtest", "alerts"}
    assert published <= set(first)
    assert {"roc_auc", "pr_auc", "brier", "ece", "n", "calibration"} <= set(first["churn"])
    for population in ("reactivation", "conversion"):
        assert first[population] is None or {"roc_auc", "brier", "ece", "n"} <= set(first[population])
    assert {"gini", "spearman", "mae", "total_error_pct", "n", "deciles"} <= set(first["value"])
    assert {"roc_auc_expected", "ece_expected"} <= set(report["estimated"][-1]["churn"])
    drift = report["drift"]
    assert {"reference", "features", "prediction", "flagged"} <= set(drift)
    assert isinstance(drift["flagged"], bool)
    for record in [*drift["features"], drift["prediction"]]:
        assert {"name", "statistic", "value", "flagged"} <= set(record)
    assert drift["prediction"]["name"] == "churn_probability"
    moves = report["migration"]
    assert {"from", "to", "tiers", "stages"} <= set(moves)
    assert set(moves["tiers"]["A"]) == set(TIERS)
