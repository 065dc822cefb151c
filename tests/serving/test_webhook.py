"""The CRM webhook against a local receiver: signed JSON-line batches, retries with backoff on 5xx and
network errors, no retry on a refusal, and a push that never raises nor holds up its caller."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from domain.errors import WebhookSettingsError
from serving.settings import Settings
from serving.webhook import (
    BATCH_HEADER,
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookPusher,
    sign,
    verify_signature,
)

SECRET = "shared-secret"
ROWS = [{"customer_id": f"C{i:03d}", "tier": "A", "tag_labels": ["购买型"]} for i in range(1, 6)]


@dataclass
class Receiver:
    """A local HTTP receiver that answers `statuses` in turn (then 200) and keeps what it got."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    release: threading.Event = field(default_factory=threading.Event)
    hold: bool = False


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.hold:
                state.release.wait(timeout=10)
            state.received.append((dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/crm"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def pusher(url: str, waits: list[float], **options: object) -> WebhookPusher:
    return WebhookPusher(url, SECRET, batch_size=2, backoff_s=0.5, sleep=waits.append, **options)  # type: ignore[arg-type]


def test_rows_arrive_as_signed_json_line_batches(receiver: Receiver) -> None:
    report = pusher(receiver.url, []).push(ROWS)

    assert (report.batches, report.delivered_batches, report.delivered_rows, report.attempts) == (3, 3, 5, 3)
    assert [headers[BATCH_HEADER] for headers, _ in receiver.received] == ["1/3", "2/3", "3/3"]
    got = [json.loads(line) for _, body in receiver.received for line in body.decode("utf-8").splitlines()]
    assert got == ROWS
    for headers, body in receiver.received:
        assert headers["Content-Type"] == "application/x-ndjson"
        assert verify_signature(body, SECRET, headers[SIGNATURE_HEADER])
        assert not verify_signature(body + b" ", SECRET, headers[SIGNATURE_HEADER])
        assert not verify_signature(body, "another secret", headers[SIGNATURE_HEADER])


def test_the_signature_is_hmac_sha256_of_the_body_in_hex() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    assert sign(b"what do ya want for nothing?", "Jefe") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_a_server_error_is_retried_with_growing_backoff_under_the_same_delivery_id(
    receiver: Receiver,
) -> None:
    receiver.statuses = [503, 500, 429]
    waits: list[float] = []

    report = pusher(receiver.url, waits).push(ROWS[:2])

    assert (report.delivered_rows, report.attempts, report.failed_batches) == (2, 4, 0)
    assert len(waits) == 3
    assert all(0 <= wait <= limit for wait, limit in zip(waits, [0.5, 1.0, 2.0], strict=True))
    assert len({headers[DELIVERY_HEADER] for headers, _ in receiver.received}) == 1


def test_a_refusal_is_not_retried_and_the_next_batch_still_goes(receiver: Receiver) -> None:
    receiver.statuses = [400]

    report = pusher(receiver.url, []).push(ROWS[:4])

    assert (report.delivered_batches, report.failed_batches, report.attempts) == (1, 1, 2)
    assert report.failures == ("batch 1/2: HTTP 400 (not retried: the receiver refuses the content)",)


def test_an_unreachable_receiver_is_given_up_after_max_attempts_without_raising(receiver: Receiver) -> None:
    waits: list[float] = []
    dead = receiver.url.replace("/crm", "").rsplit(":", 1)[0] + ":1/crm"  # port 1: connection refused

    report = pusher(dead, waits, max_attempts=3, timeout_s=2.0).push(ROWS[:1])

    assert (report.delivered_rows, report.failed_batches, report.attempts, len(waits)) == (0, 1, 3, 2)
    assert report.failures[0].startswith("batch 1/1: ")


def test_a_push_in_the_background_returns_before_the_receiver_answers(receiver: Receiver) -> None:
    receiver.hold = True
    reports: list[object] = []

    thread = pusher(receiver.url, []).push_in_background(ROWS[:1], done=reports.append)

    assert thread.is_alive() and reports == []  # the caller goes on while the receiver holds the request
    receiver.release.set()
    thread.join(timeout=10)
    assert len(reports) == 1 and receiver.received


def test_settings_give_the_pusher_and_refuse_a_url_without_secret() -> None:
    assert WebhookPusher.from_settings(Settings()) is None
    configured = WebhookPusher.from_settings(
        Settings(webhook_url="https://crm.example/hook", webhook_secret=SecretStr("s"), webhook_batch_size=7)
    )
    assert configured is not None and (configured.url, configured.batch_size) == (
        "https://crm.example/hook",
        7,
    )
    with pytest.raises(WebhookSettingsError, match="CLVCHURN_WEBHOOK_SECRET is not"):
        WebhookPusher.from_settings(Settings(webhook_url="https://crm.example/hook"))
