"""Every error the project raises on purpose ends a command with one line on stderr and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import run_cli

from clvchurn.cli import one_line
from domain.errors import PlaybookError


def test_a_missing_data_folder_is_one_line_naming_it(tmp_path: Path) -> None:
    result = run_cli(
        [
            "features",
            "build",
            "--data",
            str(tmp_path / "nowhere"),
            "--as-of",
            "2025-01-01",
            "--out",
            str(tmp_path / "f.parquet"),
        ]
    )

    assert result.exit_code == 2
    assert result.stderr == f"error: data folder {tmp_path / 'nowhere'} does not exist or is not a folder\n"


def test_a_malformed_playbook_stops_the_service_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text("rules: [1]\n", encoding="utf-8")
    monkeypatch.setenv("CLVCHURN_PLAYBOOK_PATH", str(playbook))

    result = run_cli(["serve"])

    assert result.exit_code == 2
    assert result.stderr == (
        "error: playbook.yaml: churn_risk: Field required; "
        "playbook.yaml rule 1 '?': Input should be a valid dictionary or instance of Rule\n"
    )


def test_a_bad_setting_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLVCHURN_PORT", "eighty")

    result = run_cli(["serve"])

    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid setting CLVCHURN_PORT: ")


def test_a_bad_cutoff_option_names_the_option(tmp_path: Path) -> None:
    result = run_cli(
        [
            "features",
            "build",
            "--data",
            str(tmp_path),
            "--as-of",
            "July",
            "--out",
            str(tmp_path / "f.parquet"),
        ]
    )

    assert (result.exit_code, result.stderr) == (
        2,
        "error: --as-of 'July' is not an ISO date such as 2025-07-01\n",
    )


def test_debug_shows_the_traceback_instead(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="does not exist"):
        run_cli(["--debug", "train", "--data", str(tmp_path / "nowhere")])


def test_a_multi_line_message_becomes_one_line() -> None:
    assert one_line(PlaybookError("a.yaml: one\n  a.yaml: two\n")) == "a.yaml: one; a.yaml: two"


def test_the_installed_command_goes_through_the_same_handler(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "clvchurn", "train", "--data", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: data folder {tmp_path / 'nowhere'} does not exist or is not a folder"
    ]
