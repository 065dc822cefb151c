"""`clvchurn export` as a user runs it: the served snapshot by default, only changed customers with
--changed-since, one-line errors, and the rows pushed to a local webhook receiver, signed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from support.cli import run_cli
from support.web_sample import record, sample_frame

from serving.history import write_history_entry
from serving.snapshot_store import write_snapshot
from serving.webhook import SIGNATURE_HEADER, verify_signature

SECRET = "cli-secret"


def crm_record(i: int, **changes: Any) -> dict[str, Any]:
    return {**record(i), "tags": ["buying"] if i == 1 else [], "account_manager": "Wang Fang", **changes}


@pytest.fixture
def snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_snapshot(sample_frame([crm_record(i) for i in range(1, 5)]), tmp_path / "scores.parquet")
    monkeypatch.setenv("CLVCHURN_SNAPSHOT_PATH", str(path))
    monkeypatch.setenv("CLVCHURN_MONITOR_HISTORY_PATH", str(tmp_path / "history"))
    monkeypatch.delenv("CLVCHURN_WEBHOOK_URL", raising=False)
    return path


@pytest.fixture
def received(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[dict[str, str], bytes]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append((dict(self.headers.items()), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CLVCHURN_WEBHOOK_URL", f"http://127.0.0.1:{server.server_address[1]}/hook")
    monkeypatch.setenv("CLVCHURN_WEBHOOK_SECRET", SECRET)
    yield got
    server.shutdown()
    server.server_close()


def test_export_writes_the_served_snapshot_and_only_changes_since_an_earlier_one(
    snapshot: Path, tmp_path: Path
) -> None:
    first = run_cli(["export", "--format", "jsonl", "--out", str(tmp_path / "all.jsonl")])

    assert first.exit_code == 0, first.output
    assert "Exported 4 of 4 customers" in first.stdout
    assert len((tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()) == 4

    write_history_entry(
        tmp_path / "history", pl.read_parquet(snapshot), {"version": "1"}
    )  # clvchurn score files it
    later = datetime(2025, 8, 1)
    write_snapshot(
        sample_frame(
            [
                crm_record(1, as_of=later),
                crm_record(2, as_of=later, tier="A"),
                crm_record(3, as_of=later, tags=["interacting"]),
                crm_record(4, as_of=later, predicted_value=1.0),
            ]
        ),
        snapshot,
    )
    out = tmp_path / "changed.csv"
    second = run_cli(
        ["export", "--format", "csv", "--out", str(out), "--changed-since", "2025-07-01", "--lang", "zh"]
    )

    assert second.exit_code == 0, second.output
    assert "Exported 2 of 4 customers changed since 2025-07-01" in second.stdout
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["C002", "C003"]
    assert "互动型" in lines[2]


def test_an_unknown_date_or_format_ends_in_one_line(snapshot: Path, tmp_path: Path) -> None:
    missing = run_cli(
        ["export", "--format", "csv", "--out", str(tmp_path / "x.csv"), "--changed-since", "2025-01-01"]
    )
    bad_format = run_cli(["export", "--format", "xml", "--out", str(tmp_path / "x.xml")])

    assert missing.exit_code == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "no entry for as_of=2025-01-01 (it holds: none)" in missing.stderr
    assert bad_format.exit_code == 2 and "--format 'xml': give one of csv, jsonl" in bad_format.stderr


def test_export_pushes_the_same_json_lines_to_the_webhook_signed(
    snapshot: Path, tmp_path: Path, received: list[tuple[dict[str, str], bytes]]
) -> None:
    result = run_cli(["export", "--format", "jsonl", "--out", str(tmp_path / "all.jsonl")])

    assert result.exit_code == 0, result.output
    assert "Pushed 4 rows in 1 of 1 batches" in result.stdout
    ((headers, body),) = received
    assert verify_signature(body, SECRET, headers[SIGNATURE_HEADER])
    assert body.decode("utf-8") == (tmp_path / "all.jsonl").read_text(encoding="utf-8")
    assert json.loads(body.decode("utf-8").splitlines()[0])["account_manager"] == "Wang Fang"


def test_no_push_leaves_the_webhook_alone(
    snapshot: Path, tmp_path: Path, received: list[tuple[dict[str, str], bytes]]
) -> None:
    result = run_cli(["export", "--format", "csv", "--out", str(tmp_path / "all.csv"), "--no-push"])

    assert result.exit_code == 0, result.output
    assert received == []
