"""The /actions page: each action's rates, uplift with its interval, value and target, the trend, in both
languages, signed in only; a missing evaluation says how to make one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from features.actions_contract import ACTIONS_SCHEMA
from policy.evaluation import evaluate_actions
from policy.playbook import Playbook

JAN = datetime(2025, 1, 6)
APR = datetime(2025, 4, 7)


def _actions() -> pl.DataFrame:
    rows = [
        *[(f"T{i}", "vip_rescue_call", JAN, "treatment", "high_value_at_risk", "A") for i in range(6)],
        *[(f"K{i}", "vip_rescue_call", JAN, "control", "high_value_at_risk", "A") for i in range(4)],
        *[(f"K{i}", "vip_rescue_call", APR, "control", "high_value_at_risk", "B") for i in range(4, 7)],
        *[(f"T{i}", "vip_rescue_call", APR, "treatment", "high_value_at_risk", "B") for i in range(6, 9)],
        ("V1", "mid_value_growth", JAN, "treatment", "mid_value_growth", "C"),
    ]
    columns = ("customer_id", "action_id", "assigned_at", "group", "rule_id", "tier")
    frame = pl.DataFrame([dict(zip(columns, row, strict=True)) for row in rows])
    frame = frame.with_columns(
        pl.when(pl.col("action_id") == "hold_out")
        .then(pl.lit("vip_rescue_call"))
        .otherwise(pl.col("action_id"))
        .alias("action_id")
    )
    return frame.with_columns(
        [
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in ACTIONS_SCHEMA.items()
            if name not in columns
        ]
    ).select([pl.col(name).cast(dtype) for name, dtype in ACTIONS_SCHEMA.items()])


@pytest.fixture
def evaluation_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Orders within 60 days: 5 of 9 treated (T0-T4), 1 of 7 control (K0).
    transactions = pl.DataFrame(
        {
            "customer_id": ["T0", "T1", "T2", "T3", "T4", "K0"],
            "timestamp": [datetime(2025, 1, 20)] * 3 + [datetime(2025, 2, 20)] * 2 + [datetime(2025, 2, 1)],
            "amount": [100.0] * 6,
        }
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("us")))
    evaluation = evaluate_actions(
        _actions(), transactions, Playbook.load(), datetime(2025, 9, 1), 90, evaluated_at=datetime(2025, 9, 2)
    )
    path = tmp_path / "evaluation.json"
    evaluation.write(path)
    monkeypatch.setenv("CLVCHURN_ACTIONS_EVALUATION_PATH", str(path))
    return path


def test_the_page_shows_rates_uplift_interval_and_target_per_action(
    signed_in: TestClient, evaluation_path: Path
) -> None:
    response = signed_in.get("/actions?lang=en")

    assert response.status_code == 200
    html = response.text
    assert "Actions and their effect" in html
    assert 'data-action="vip_rescue_call"' in html and 'data-action="mid_value_growth"' in html
    # 5/9 treated against 1/7 control: uplift 55.6% - 14.3% = +41.3%
    assert "55.6%" in html and "14.3%" in html and "+41.3%" in html
    assert "80.0%" in html  # the practice's target for the high-value call
    assert "No control group, so the effect of this action cannot be known" in html
    assert 'class="interval-chart"' in html and 'class="rates-chart"' in html
    assert 'data-period="2024-12-13"' in html and 'data-period="2025-03-13"' in html  # the trend
    assert 'data-segment="A"' in html and 'data-segment="B"' in html
    assert 'href="/actions" class="active"' in html


def test_the_page_in_chinese(signed_in: TestClient, evaluation_path: Path) -> None:
    html = signed_in.get("/actions?lang=zh").text
    assert '<html lang="zh-Hans">' in html
    assert "行动及其效果" in html and "没有对照组" in html
    assert "Actions and their effect" not in html


def test_without_an_evaluation_the_page_says_how_to_make_one(
    signed_in: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLVCHURN_ACTIONS_EVALUATION_PATH", str(tmp_path / "none.json"))
    response = signed_in.get("/actions?lang=en")
    assert response.status_code == 404
    assert "clvchurn evaluate actions --data DIR --json FILE" in response.text


def test_the_page_needs_a_sign_in(client: TestClient, evaluation_path: Path) -> None:
    response = client.get("/actions")
    assert response.status_code in (302, 303, 307)
    assert "/sign-in" in response.headers["location"]


def test_the_portfolio_can_rank_by_expected_value_saved(signed_in: TestClient) -> None:
    response = signed_in.get("/portfolio?sort=expected_value_saved&lang=en")
    assert response.status_code == 200
    assert '<option value="expected_value_saved" selected>Expected value saved</option>' in response.text


def test_metrics_carry_the_latest_evaluation_s_uplift(evaluation_path: Path, client: TestClient) -> None:
    metrics = client.get("/metrics").text

    assert 'clvchurn_action_uplift{action_id="vip_rescue_call",bound="estimate"}' in metrics
    assert 'clvchurn_action_customers{action_id="vip_rescue_call",group="control"} 7.0' in metrics
