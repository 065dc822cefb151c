"""`clvchurn retrain` as cron runs it, on a real champion trained by `clvchurn train`: the comparison
JSON, the exit codes (0 promoted, 3 champion kept, 2 error), the aliases, idempotence and the lock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.cli import run_cli

from features.synth import generate, write_synthetic
from model_contract import CHALLENGER, CHAMPION, PAIR_MODEL_NAME, aliased_version
from training.retrain import retrain_lock

pytestmark = pytest.mark.slow

LENIENT = {"MAX_ROC_AUC_DROP": "1", "MAX_ECE": "1", "MAX_GINI_DROP": "1"}
STRICT = {"MAX_ROC_AUC_DROP": "1", "MAX_ECE": "0.000001", "MAX_GINI_DROP": "1"}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.setenv("CLVCHURN_MONITOR_RETRAIN_LOCK_PATH", str(tmp_path / "retrain.lock"))
    monkeypatch.chdir(tmp_path)
    return uri


def gate(monkeypatch: pytest.MonkeyPatch, limits: dict[str, str]) -> None:
    for name, value in limits.items():
        monkeypatch.setenv(f"CLVCHURN_MONITOR_RETRAIN_{name}", value)


def aliases(uri: str) -> tuple[str | None, str | None]:
    found = [aliased_version(PAIR_MODEL_NAME, alias, uri) for alias in (CHAMPION, CHALLENGER)]
    return found[0] and found[0].version, found[1] and found[1].version  # type: ignore[return-value]


def comparison(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(path.read_text())
    return found


def test_challenger_kept_then_promoted_then_nothing_changed_then_a_failed_gate(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "raw"
    write_synthetic(generate(1_000, seed=8), data)
    assert run_cli(["train", "--data", str(data), "--snapshots", "3"]).exit_code == 0
    assert aliases(store) == ("1", None)

    # A passing gate without --promote-if-better: registered as challenger, champion kept, exit 3.
    gate(monkeypatch, LENIENT)
    first = tmp_path / "first.json"
    result = run_cli(["retrain", "--data", str(data), "--json", str(first)])
    assert result.exit_code == 3, result.output
    kept = comparison(first)
    assert {"champion", "challenger", "models", "gate", "decision", "reason", "exit_code"} <= set(kept)
    assert (kept["decision"], kept["exit_code"], kept["gate"]["passed"]) == ("kept", 3, True)
    assert kept["champion"]["version"] == "1" and kept["challenger"]["version"] == "2"
    assert [(c["model"], c["metric"], c["kind"]) for c in kept["gate"]["checks"]] == [
        ("churn", "roc_auc", "drop"),
        ("value", "gini", "drop"),
        ("churn", "ece", "max"),
    ]
    churn = kept["models"]["churn"]
    assert churn["comparable"] and churn["method"] == "both backtests on the window"
    assert churn["champion"]["roc_auc"] > 0.5 and churn["challenger"]["roc_auc"] > 0.5
    assert "without --promote-if-better the champion stays" in kept["reason"]
    assert aliases(store) == ("1", "2")

    # The same data and settings with --promote-if-better: nothing is trained, the stored comparison
    # passed, so the challenger becomes champion (exit 0) and no challenger is left waiting.
    result = run_cli(["retrain", "--data", str(data), "--promote-if-better", "--json", str(first)])
    assert result.exit_code == 0, result.output
    promoted = comparison(first)
    assert promoted["decision"] == "promoted" and "nothing changed since challenger v2" in promoted["reason"]
    assert aliases(store) == ("2", None)

    # Again: the champion was trained by a retrain on exactly these data and settings.
    result = run_cli(["retrain", "--data", str(data), "--promote-if-better", "--json", str(first)])
    assert result.exit_code == 3, result.output
    assert "nothing changed: champion v2" in comparison(first)["reason"]
    assert aliases(store) == ("2", None)

    # A gate the challenger cannot pass (a new gate is a new fingerprint: it trains again).
    gate(monkeypatch, STRICT)
    failed_path = tmp_path / "failed.json"
    result = run_cli(["retrain", "--data", str(data), "--promote-if-better", "--json", str(failed_path)])
    assert result.exit_code == 3, result.output
    failed = comparison(failed_path)
    assert (failed["decision"], failed["gate"]["passed"]) == ("kept", False)
    ece = next(check for check in failed["gate"]["checks"] if check["metric"] == "ece")
    assert ece["passed"] is False and ece["limit"] == 0.000001
    assert failed["reason"].startswith("the champion stays: churn ece:")
    assert aliases(store) == ("2", "3")


def test_errors_are_one_line_and_exit_code_2(tmp_path: Path, store: str) -> None:
    data = tmp_path / "raw"
    write_synthetic(generate(50, seed=8), data)
    with retrain_lock(tmp_path / "retrain.lock"):
        locked = run_cli(["retrain", "--data", str(data)])
    assert locked.exit_code == 2
    assert locked.stderr.startswith("error: another `clvchurn retrain` holds the lock")
    assert "pid " in locked.stderr and locked.stderr.count("\n") == 1

    missing = run_cli(["retrain", "--data", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and missing.stderr.startswith("error: ")
    assert str(tmp_path / "nowhere") in missing.stderr


def test_an_unexpected_failure_is_exit_code_2_too(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.retrain

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    data = tmp_path / "raw"
    write_synthetic(generate(50, seed=8), data)
    monkeypatch.setattr(training.retrain, "retrain", broken)
    result = run_cli(["retrain", "--data", str(data)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: `clvchurn retrain --data {data}` failed: OSError: disk full; the champion is unchanged. "
        "Run it again with --debug for the traceback\n"
    )
