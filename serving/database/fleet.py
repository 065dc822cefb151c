"""What the workers of one service agree on through the database: the model pair to serve.

Why: with `--workers N` a POST /v1/admin/reload reaches one worker. That worker loads the registry's
champion, then writes a *reload target* (the pair's version and a fresh token) in `service_state`;
every worker checks the target once a second (`serving.engine.FleetFollower`), loads the champion
when the token is new and its pair differs, and writes a *heartbeat* (its pair and the last token it
acted on). The reload route waits until every live worker (heartbeat younger than `LIVE_WITHIN`) has
acted on the token, so when it returns all of them serve the new pair. A worker that was killed
stops beating and is left out; a new one loads the champion at start and follows from then on.

Values are JSON text under keys `engine.target` and `worker.<id>`, in the `service_state` table.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select

from serving.database.connection import transaction
from serving.database.state import ServiceState
from serving.database.tables import service_state, utc_now

TARGET_KEY = "engine.target"
WORKER_PREFIX = "worker."
LIVE_WITHIN = timedelta(seconds=3)
"""A worker whose heartbeat is older than this counts as gone (it beats every second)."""
FORGET_AFTER = timedelta(hours=1)
"""Heartbeats older than this are deleted when a reload is requested."""


@dataclass(frozen=True)
class ReloadTarget:
    """The pair a reload put in service, and the token telling this reload from an earlier one."""

    pair: str
    token: str


@dataclass(frozen=True)
class Heartbeat:
    """What a worker said last: the pair it serves and the target token it has acted on."""

    worker: str
    pair: str | None
    token: str | None
    seen_at: datetime


class Fleet:
    """Reload targets and heartbeats of the service's workers, in `service_state`."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self.state = ServiceState(engine, clock=clock)
        self._clock = clock

    def request_reload(self, pair: str) -> ReloadTarget:
        """Record that every worker must now serve `pair`; the target, with a new token."""
        target = ReloadTarget(pair=pair, token=uuid.uuid4().hex)
        self.state.put(TARGET_KEY, json.dumps({"pair": target.pair, "token": target.token}))
        self._forget_old_heartbeats()
        return target

    def target(self) -> ReloadTarget | None:
        """The last reload target, None if no reload was ever requested."""
        value = self.state.get(TARGET_KEY)
        if value is None:
            return None
        document = json.loads(value)
        return ReloadTarget(pair=str(document["pair"]), token=str(document["token"]))

    def beat(self, worker: str, pair: str | None, token: str | None) -> None:
        """Say that `worker` serves `pair` and has acted on the target `token`."""
        document = {"pair": pair, "token": token, "seen_at": self._clock().isoformat()}
        self.state.put(WORKER_PREFIX + worker, json.dumps(document))

    def live_workers(self) -> list[Heartbeat]:
        """Heartbeats younger than `LIVE_WITHIN`."""
        now = self._clock()
        with transaction(self.engine, "read the workers' heartbeats") as connection:
            values = connection.execute(
                select(service_state.c.key, service_state.c.value).where(
                    service_state.c.key.startswith(WORKER_PREFIX)
                )
            ).all()
        beats = []
        for key, value in values:
            document = json.loads(value)
            seen_at = datetime.fromisoformat(document["seen_at"])
            if now - seen_at <= LIVE_WITHIN:
                beats.append(
                    Heartbeat(key[len(WORKER_PREFIX) :], document["pair"], document["token"], seen_at)
                )
        return beats

    def wait_until_followed(self, target: ReloadTarget, timeout_s: float, poll_s: float = 0.1) -> list[str]:
        """Wait until every live worker has acted on `target`; the workers still behind at `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            behind = [beat.worker for beat in self.live_workers() if beat.token != target.token]
            if not behind or time.monotonic() >= deadline:
                return behind
            time.sleep(poll_s)

    def _forget_old_heartbeats(self) -> None:
        cutoff = self._clock() - FORGET_AFTER
        with transaction(self.engine, "forget old heartbeats") as connection:
            connection.execute(
                delete(service_state).where(
                    service_state.c.key.startswith(WORKER_PREFIX), service_state.c.updated_at < cutoff
                )
            )


def worker_id() -> str:
    """A name for this worker, unique among processes and among apps of one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
