"""The Prometheus gauges of the latest action evaluation, read at scrape time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
from prometheus_client import CollectorRegistry, generate_latest

from features.actions_contract import ACTIONS_SCHEMA
from monitoring.action_metrics import ActionEvaluationCollector
from policy.evaluation import evaluate_actions
from policy.playbook import Playbook


def _evaluation(path: Path) -> None:
    rows = [(f"T{i}", "treatment") for i in range(4)] + [(f"K{i}", "control") for i in range(4)]
    actions = pl.DataFrame(
        {
            "customer_id": [c for c, _ in rows],
            "action_id": ["vip_rescue_call"] * 8,
            "assigned_at": [datetime(2025, 1, 6)] * 8,
            "group": [g for _, g in rows],
        }
    )
    actions = actions.with_columns(
        [pl.lit(None, dtype=d).alias(n) for n, d in ACTIONS_SCHEMA.items() if n not in actions.columns]
    ).select([pl.col(n).cast(d) for n, d in ACTIONS_SCHEMA.items()])
    transactions = pl.DataFrame(
        {"customer_id": ["T0", "T1", "K0"], "timestamp": [datetime(2025, 1, 20)] * 3, "amount": [50.0] * 3}
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("us")))
    evaluate_actions(actions, transactions, Playbook.load(), datetime(2025, 9, 1), 90).write(path)


def test_the_gauges_follow_the_file_and_are_absent_without_one(tmp_path: Path) -> None:
    path = tmp_path / "evaluation.json"
    registry = CollectorRegistry()
    registry.register(ActionEvaluationCollector(path))
    assert b"clvchurn_action_uplift" not in generate_latest(registry)

    _evaluation(path)
    text = generate_latest(registry).decode()

    assert 'clvchurn_action_uplift{action_id="vip_rescue_call",bound="estimate"} 0.25' in text
    assert 'clvchurn_action_customers{action_id="vip_rescue_call",group="control"} 4.0' in text
    assert 'clvchurn_action_success_rate{action_id="vip_rescue_call",group="treatment"} 0.5' in text
    assert 'bound="ci_low"' in text and 'bound="ci_high"' in text
    path.write_text("not json")
    assert "clvchurn_action_uplift{" not in generate_latest(registry).decode()
