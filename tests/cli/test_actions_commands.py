"""`clvchurn data synth --campaigns`, `clvchurn evaluate actions` and `clvchurn actions export`, run as a
user would: the files they write and the JSON keys issue 14 spells out."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from support.cli import run_cli

from features.actions_contract import load_actions
from monitoring.action_records import ActionRecords
from serving.database import open_database, upgrade

ACTION_KEYS = {
    "action_id",
    "rule_id",
    "window_days",
    "n_treatment",
    "n_control",
    "success_rate_treatment",
    "success_rate_control",
    "uplift",
    "uplift_ci_low",
    "uplift_ci_high",
    "value_per_customer_treatment",
    "value_per_customer_control",
    "incremental_value",
    "cost",
    "roi",
    "kpi",
}


@pytest.fixture(scope="module")
def campaign_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("campaigns")
    result = run_cli(
        ["data", "synth", "--customers", "1500", "--seed", "4", "--out", str(out), "--campaigns"]
    )
    assert result.exit_code == 0, result.output
    assert "Simulated campaigns on 2024-10-01, 2025-01-15, 2025-05-01, 2025-08-15" in result.stdout
    return out


def test_synth_campaigns_writes_a_valid_actions_file_and_its_truth(campaign_folder: Path) -> None:
    loaded = load_actions(campaign_folder)
    truth = pl.read_parquet(campaign_folder / "campaign_truth.parquet")

    assert loaded.counts is not None and loaded.counts.rejected == 0
    assert set(loaded.actions["group"].unique()) == {"treatment", "control"}
    assert {"success_with", "success_without"} <= set(truth.columns)
    assert truth.height == loaded.actions.height


def test_evaluate_actions_writes_the_issue_s_keys_and_an_html_report(
    campaign_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    json_path, html_path = tmp_path / "evaluation.json", tmp_path / "evaluation.html"

    result = run_cli(
        [
            "evaluate",
            "actions",
            "--data",
            str(campaign_folder),
            "--json",
            str(json_path),
            "--html",
            str(html_path),
        ]
    )

    assert result.exit_code == 0, result.output
    document = json.loads(json_path.read_text())
    assert document["actions"]
    for action in document["actions"]:
        assert set(action) >= ACTION_KEYS
        assert set(action["kpi"]) >= {"metric", "target", "observed", "met"}
        assert {"by_tier", "by_lifecycle_stage"} <= set(action)
        if action["n_control"] == 0:
            assert action["uplift"] is None and "cannot be known" in action["note"]
        else:
            assert action["uplift_ci_low"] <= action["uplift"] <= action["uplift_ci_high"]
    assert "Evaluated" in result.stdout
    page = html_path.read_text()
    assert page.startswith("<!doctype html>") and document["actions"][0]["action_id"] in page


def test_evaluate_actions_without_an_actions_file_says_how_to_add_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    assert run_cli(["data", "synth", "--customers", "50", "--out", str(data)]).exit_code == 0

    result = run_cli(["evaluate", "actions", "--data", str(data), "--json", str(tmp_path / "e.json")])

    assert result.exit_code == 2
    assert "holds no actions to evaluate" in result.stderr and "POST /v1/actions" in result.stderr


def test_actions_export_writes_the_recorded_actions_as_an_actions_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'clvchurn.db'}"
    upgrade(url)
    engine = open_database(url)
    from datetime import datetime

    ActionRecords(engine).record(
        [
            {
                "customer_id": "C1",
                "action_id": "vip_rescue_call",
                "assigned_at": datetime(2025, 7, 1),
                "group": "treatment",
                "cost": 25.0,
            },
            {
                "customer_id": "C2",
                "action_id": "hold_out",
                "assigned_at": datetime(2025, 7, 1),
                "group": "control",
                "rule_id": "high_value_at_risk",
            },
        ]
    )
    engine.dispose()
    monkeypatch.setenv("CLVCHURN_DATABASE_URL", url)
    out = tmp_path / "data" / "actions.csv"

    result = run_cli(["actions", "export", "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert "Wrote 2 actions" in result.stdout
    loaded = load_actions(out.parent)
    assert loaded.counts is not None and (loaded.counts.accepted, loaded.counts.rejected) == (2, 0)
    assert loaded.actions.select("customer_id", "group", "rule_id").rows() == [
        ("C1", "treatment", None),
        ("C2", "control", "high_value_at_risk"),
    ]
    assert run_cli(["actions", "export", "--out", str(tmp_path / "a.json")]).exit_code == 2
