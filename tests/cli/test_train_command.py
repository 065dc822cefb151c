"""`clvchurn train` as a user runs it: the tables it prints, and its one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import run_cli

from features.synth import generate, write_synthetic

pytestmark = pytest.mark.slow


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    write_synthetic(generate(1_000, seed=8), folder)
    return folder


def test_cli_prints_metrics_table_promotion_and_where_to_look(
    data_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from clvchurn.commands import console as console_module

    store_uri = f"sqlite:///{tmp_path}/cli-store/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(console_module.console, "width", 200)
    result = run_cli(["train", "--data", str(data_folder), "--snapshots", "3"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # rich wraps long lines at the console width
    for model, days in (("churn", 180), ("reactivation", 180), ("value", 365), ("value_if_retained", 365)):
        assert re.search(
            rf"{model}: backtest as of \d{{4}}-\d\d-\d\d, {days}-day labels; registered refit trained "
            r"through \d{4}-\d\d-\d\d",
            out,
        ), model
    for row in ("clvchurn", "bgnbd_gamma_gamma", "rfm_rules", "logistic_regression", "oracle"):
        assert re.search(rf"│ {row} +│ \d\.\d{{4}} ", out), row
    assert "Value at risk against the true value lost to churn" in out
    assert "clvchurn-pair v1: now 'champion' (no champion before)" in out
    # The data check ran first: the conversion model has too few prospects who convert.
    assert "note: conversion model: " in out
    assert f"Browse with: mlflow ui --backend-store-uri {store_uri}" in out


def test_a_base_too_small_to_calibrate_ends_in_one_line_with_exit_code_2(tmp_path: Path) -> None:
    """Run as a user runs it, in a fresh process: nothing else (MLflow's set-up logging) reaches stderr."""
    environment = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/store/mlflow.db"}

    def clvchurn(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "clvchurn", *args]
        return subprocess.run(
            command, cwd=tmp_path, env=environment, capture_output=True, text=True, check=False
        )

    assert clvchurn("data", "synth", "--customers", "60", "--seed", "1", "--out", "D").returncode == 0
    done = clvchurn("train", "--data", "D")

    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: ")
    assert "Traceback" not in done.stdout + done.stderr
    # The data check stops it before any fitting, with its advice: 60 customers are too few buyers.
    assert done.stderr.startswith(
        "error: the data cannot train the churn, value and value_if_retained models honestly"
    )
    assert "at least 500 are needed (Klaviyo's minimum): import more customers" in done.stderr
    assert "Training..." not in done.stdout
