"""`clvchurn data check` and the check `clvchurn train` runs first: advice that names the option to change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import run_cli

from clvchurn.commands import console as console_module
from features.synth import generate, write_synthetic


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_module.console, "width", 400)


@pytest.fixture(scope="module")
def synthetic_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic")
    write_synthetic(generate(300, seed=5), folder)
    return folder


def test_check_prints_training_s_schedules_and_what_stops_training(
    synthetic_folder: Path, tmp_path: Path
) -> None:
    done = run_cli(["data", "check", str(synthetic_folder), "--json", str(tmp_path / "check.json")])

    assert done.exit_code == 0, done.output
    out = " ".join(done.stdout.split())
    assert "Backtest of the churn, reactivation, conversion models (180-day labels): calibration" in out
    assert "Backtest of the value, value_if_retained models (365-day labels): calibration" in out
    assert "at least 500 are needed (Klaviyo's minimum)" in out
    assert "stops training" in out and "base rate" in out
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["settings"]["lookback_days"] == 180  # the playbook's dormant_after_days
    assert report["settings"]["min_history_days"] == 180
    assert [m["model"] for m in report["models"]] == [
        "churn",
        "reactivation",
        "conversion",
        "value",
        "value_if_retained",
    ]


def test_check_advises_the_longest_conventional_horizon_that_fits(
    synthetic_folder: Path, tmp_path: Path
) -> None:
    # Four years of synthetic history: 3 x 365 days + 400 days of history before a fit cutoff is too long.
    done = run_cli(
        [
            "data",
            "check",
            str(synthetic_folder),
            "--min-history-days",
            "400",
            "--json",
            str(tmp_path / "c.json"),
        ]
    )

    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "c.json").read_text())
    value = report["schedules"]["value"]
    assert not value["fits"] and report["schedules"]["churn"]["fits"]
    advice = next(line for line in report["blocking"] if "value and value if retained backtest" in line)
    assert advice.startswith("with 48 months of history")
    assert (
        f"use --value-horizon-days 270 (the longest that fits is {value['longest_fitting_horizon_days']} days)"
        in (advice)
    )


@pytest.mark.slow
def test_train_stops_with_the_check_s_advice_in_one_line(
    synthetic_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    done = run_cli(["train", "--data", str(synthetic_folder), "--min-history-days", "400"])

    assert done.exit_code == 2
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(
        "error: the data cannot train the churn, value and value_if_retained models"
    )
    assert "use --value-horizon-days 270" in done.stderr
