"""CRM push: export rows POSTed as JSON lines to a webhook, in batches, signed, retried, never blocking.

Each batch is one POST of ``application/x-ndjson`` (the export's JSON lines, `serving.export.json_line`)
with the headers

- ``X-Clvchurn-Signature: sha256=<hex>``: HMAC-SHA256 of the exact body under CLVCHURN_WEBHOOK_SECRET
  (RFC 2104), the scheme GitHub and Stripe webhooks use; the receiver recomputes it over the raw body and
  compares in constant time (`verify_signature`);
- ``X-Clvchurn-Delivery``: an id of the batch that stays the same across retries, so a receiver that
  saw a batch already can drop the repeat;
- ``X-Clvchurn-Batch``: ``k/n``, the batch's place in the push.

A batch answered 2xx is delivered. A network error, a timeout, 408, 429 or 5xx is retried after
``backoff_s``, doubled at each further try, with "full jitter" (a wait drawn uniformly up to it; AWS
Architecture Blog, "Exponential backoff and jitter", 2015), up to ``max_attempts`` tries; any other
answer (a 4xx: the receiver refuses the content) is not retried. A batch that fails is logged and the
push goes on with the next one: a push never raises and, started with `push_in_background`, never holds
up the caller (scoring or the export file).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from domain.errors import WebhookSettingsError
from serving.export import json_line
from serving.settings import Settings

logger = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "X-Clvchurn-Signature"
DELIVERY_HEADER: Final = "X-Clvchurn-Delivery"
BATCH_HEADER: Final = "X-Clvchurn-Batch"
CONTENT_TYPE: Final = "application/x-ndjson"
RETRIED_STATUSES: Final = frozenset({408, 429})


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of `body` under `secret`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """What a receiver does: recompute the signature of the raw body and compare in constant time."""
    return header is not None and hmac.compare_digest(sign(body, secret), header)


@dataclass(frozen=True)
class PushReport:
    """What a push did: rows and batches delivered, batches given up, and tries made."""

    batches: int = 0
    delivered_batches: int = 0
    delivered_rows: int = 0
    failed_batches: int = 0
    attempts: int = 0
    failures: tuple[str, ...] = field(default=())


Poster = Callable[[str, bytes, Mapping[str, str], float], int]
"""POST (url, body, headers, timeout) and return the HTTP status; raises OSError on network errors."""


def post_with_urllib(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


class WebhookPusher:
    """Pushes export rows to one webhook (see the module docstring)."""

    def __init__(
        self,
        url: str,
        secret: str,
        batch_size: int = 500,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        timeout_s: float = 10.0,
        post: Poster = post_with_urllib,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.post = post
        self.sleep = sleep
        self.rng = rng or random.Random()

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WebhookPusher | None:
        """The pusher the settings configure, or None when CLVCHURN_WEBHOOK_URL is unset.

        Raises
        ------
        WebhookSettingsError: a URL without CLVCHURN_WEBHOOK_SECRET (an unsigned push is refused).
        """
        if not settings.webhook_url:
            return None
        if settings.webhook_secret is None or not settings.webhook_secret.get_secret_value():
            raise WebhookSettingsError(
                "CLVCHURN_WEBHOOK_URL is set but CLVCHURN_WEBHOOK_SECRET is not: set the shared secret the "
                "receiver checks the X-Clvchurn-Signature header with"
            )
        return cls(
            settings.webhook_url,
            settings.webhook_secret.get_secret_value(),
            batch_size=settings.webhook_batch_size,
            max_attempts=settings.webhook_max_attempts,
            backoff_s=settings.webhook_backoff_s,
            timeout_s=settings.webhook_timeout_s,
            **overrides,
        )

    def push(self, rows: Sequence[Mapping[str, Any]]) -> PushReport:
        """Send `rows` batch by batch; never raises (failures are logged and reported)."""
        batches = [rows[start : start + self.batch_size] for start in range(0, len(rows), self.batch_size)]
        delivered = delivered_rows = attempts = 0
        failures: list[str] = []
        for number, batch in enumerate(batches, start=1):
            body = "".join(json_line(row) + "\n" for row in batch).encode("utf-8")
            headers = {
                "Content-Type": CONTENT_TYPE,
                SIGNATURE_HEADER: sign(body, self.secret),
                DELIVERY_HEADER: str(uuid.uuid4()),
                BATCH_HEADER: f"{number}/{len(batches)}",
            }
            ok, tries, problem = self._deliver(body, headers)
            attempts += tries
            if ok:
                delivered += 1
                delivered_rows += len(batch)
            else:
                failures.append(f"batch {number}/{len(batches)}: {problem}")
                logger.warning("Webhook %s: batch %d/%d given up after %d tries: %s", self.url, number,
                               len(batches), tries, problem)  # fmt: skip
        return PushReport(len(batches), delivered, delivered_rows, len(failures), attempts, tuple(failures))

    def _deliver(self, body: bytes, headers: Mapping[str, str]) -> tuple[bool, int, str]:
        problem = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                status = self.post(self.url, body, headers, self.timeout_s)
            except OSError as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if 200 <= status < 300:
                    return True, attempt, ""
                problem = f"HTTP {status}"
                if status < 500 and status not in RETRIED_STATUSES:
                    return False, attempt, problem + " (not retried: the receiver refuses the content)"
            if attempt < self.max_attempts:
                self.sleep(self.rng.uniform(0, self.backoff_s * 2 ** (attempt - 1)))
        return False, self.max_attempts, problem

    def push_in_background(
        self, rows: Sequence[Mapping[str, Any]], done: Callable[[PushReport], None] | None = None
    ) -> threading.Thread:
        """`push` on a daemon thread, so scoring or an export never waits for the receiver; `done` gets
        the report. Join the thread to wait (a command does before it exits)."""

        def run() -> None:
            report = self.push(rows)
            logger.info("Webhook %s: %d of %d rows delivered", self.url, report.delivered_rows, len(rows))
            if done is not None:
                done(report)

        thread = threading.Thread(target=run, name="clvchurn-webhook", daemon=True)
        thread.start()
        return thread
