"""`clvchurn monitor --engine spark` gives the in-process report for the same history and data.

The history is what a user's `clvchurn score` files: two cutoffs of the 600-customer `scoring_base`
scored in process by the session's trained pair, each entry with the features it was scored from.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from support.cli import run_cli
from support.trained import TrainedModels

from serving.history import FEATURES_FILE, entry_path

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark

CUTOFFS = ("2025-01-01", "2025-07-01")
VARYING = {"generated_at", "movers_file"}


def same(left: Any, right: Any, where: str = "report") -> None:
    """Equal JSON values, floats to 1e-9 (sums over the same rows in another order)."""
    if isinstance(left, dict) and isinstance(right, dict):
        assert set(left) - VARYING == set(right) - VARYING, where
        for key in set(left) - VARYING:
            same(left[key], right[key], f"{where}.{key}")
    elif isinstance(left, list) and isinstance(right, list):
        assert len(left) == len(right), where
        for index, (one, other) in enumerate(zip(left, right, strict=True)):
            same(one, other, f"{where}[{index}]")
    elif isinstance(left, float) or isinstance(right, float):
        assert math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12), f"{where}: {left} != {right}"
    else:
        assert left == right, where


def test_the_spark_monitor_report_equals_the_in_process_one(
    spark: SparkSession,
    trained: TrainedModels,
    scoring_base: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLVCHURN_MLFLOW_TRACKING_URI", trained.tracking_uri)
    history = tmp_path / "history"
    for cutoff in CUTOFFS:
        out = tmp_path / f"{cutoff}.parquet"
        arguments = [
            "--data",
            str(scoring_base),
            "--as-of",
            cutoff,
            "--out",
            str(out),
            "--history",
            str(history),
        ]
        scored = run_cli(["score", *arguments])
        assert scored.exit_code == 0, scored.output
        assert entry_path(history, date.fromisoformat(cutoff)).with_name(FEATURES_FILE).is_file()

    judged = ["--data", str(scoring_base), "--history", str(history), "--no-mlflow"]
    local = run_cli(["monitor", *judged, "--json", str(tmp_path / "local.json")])
    on_spark = run_cli(
        [
            "monitor",
            "--engine",
            "spark",
            "--spark-master",
            "local[2]",
            *judged,
            "--json",
            str(tmp_path / "spark.json"),
        ]
    )

    assert local.exit_code == 0, local.output
    assert on_spark.exit_code == 0, on_spark.output
    printed = " ".join(on_spark.output.split())
    assert "transactions.parquet: " in printed and "Judged 2 snapshots on Spark" in printed
    expected = json.loads((tmp_path / "local.json").read_text())
    found = json.loads((tmp_path / "spark.json").read_text())
    assert [entry["snapshot_as_of"] for entry in expected["realised"]] == list(CUTOFFS)
    assert expected["migration"]["customers"] > 0 and expected["drift"]["features"]
    same(found, expected)


def test_monitor_without_the_spark_engine_refuses_spark_options(tmp_path: Path) -> None:
    result = run_cli(["monitor", "--data", str(tmp_path), "--spark-master", "local[2]"])

    assert result.exit_code == 2
    assert "--spark-master and --spark-conf only apply with --engine spark" in " ".join(result.output.split())
