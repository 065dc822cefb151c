"""Bounded load on two workers with a reload in the middle and a worker SIGKILLed: nothing else fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability.load import busiest_customers, copy_registry, run_load
from support.trained import TrainedModels, request_for

pytestmark = pytest.mark.slow


def test_eight_clients_through_a_reload_and_a_killed_worker(trained: TrainedModels, tmp_path: Path) -> None:
    bodies = [
        request_for(trained.raw, customer).model_dump_json().encode()
        for customer in busiest_customers(trained.raw)
    ]

    report = run_load(bodies, copy_registry(trained.tracking_uri, tmp_path), tmp_path)

    print("\n" + "\n".join(report.lines()))
    assert report.reload_status == 200
    assert report.failures == []
    assert len(report.killed_in_flight) <= 8  # at most one per client: its request on the dead worker
    assert report.unlogged == []
    assert report.old_pair_after_reload == []
    assert report.phase("after")
    committed = set(report.committed_in_metrics)  # every scrape sums all workers, the killed one too
    assert len(committed) == 1 and len(report.oks) <= committed.pop() <= sum(
        report.logged.values()
    )  # the service kept answering after the reload and the kill
