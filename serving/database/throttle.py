"""Sign-in throttling: at most `limit` failed sign-ins per `window` per client address, then 429.

Why: the sign-in form takes an API key, so without a limit it is an oracle for guessing keys (OWASP
Authentication Cheat Sheet, "Protect against automated attacks"). The count lives in the database,
so every worker agrees and a restart does not reset it.

A sliding window, exact under concurrency: `admit` records the attempt *before* the key is checked,
in a transaction serialised per address (a PostgreSQL advisory lock on the address; on SQLite the
write lock every transaction takes), so that twelve simultaneous guesses cannot all see nine earlier
failures and pass. An attempt whose key was right is removed by `succeeded`; what stays, within the
window, are failures and attempts still being checked. Attempts older than the window are deleted
as new ones arrive.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from domain.errors import SignInThrottledError
from serving.database.connection import transaction
from serving.database.tables import sign_in_attempts, utc_now

ADVISORY_LOCK_CLASS = int.from_bytes(b"sgin", "big")
"""First key of PostgreSQL's two-key advisory locks taken per address (apart from the one-key space)."""
MAX_ADDRESS_LENGTH = 64


class SignInThrottle:
    """Counts sign-in attempts per client address in the `sign_in_attempts` table.

    Parameters
    ----------
    engine
        From `serving.database.open_database`, on a migrated database.
    limit
        Failed (or unfinished) sign-ins allowed per address within `window`.
    window
        Length of the sliding window.
    clock
        Aware UTC now; tests pass their own.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        limit: int = 10,
        window: timedelta = timedelta(minutes=1),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.limit = limit
        self.window = window
        self._clock = clock

    def admit(self, client_address: str) -> int:
        """Record a sign-in attempt from `client_address`, before its key is checked; the attempt's id.

        Call `succeeded(id)` when the key was accepted; a rejected attempt needs nothing more.

        Raises
        ------
        SignInThrottledError
            `limit` attempts from this address already fall within the window; `retry_after_s` says
            when the oldest leaves it. Nothing is recorded.
        DatabaseUnavailableError
            The attempt could not be recorded; the sign-in must not proceed.
        """
        address = _stored_address(client_address)
        now = self._clock()
        with transaction(self.engine, "record a sign-in attempt") as connection:
            _lock_address(connection, address)
            connection.execute(
                delete(sign_in_attempts).where(sign_in_attempts.c.attempted_at <= now - self.window)
            )
            recent, oldest = connection.execute(
                select(func.count(), func.min(sign_in_attempts.c.attempted_at)).where(
                    sign_in_attempts.c.client_address == address
                )
            ).one()
            if recent >= self.limit:
                wait = (oldest + self.window - now).total_seconds()
                raise SignInThrottledError(client_address, max(1, math.ceil(wait)))
            result = connection.execute(
                insert(sign_in_attempts).values(client_address=address, attempted_at=now)
            )
            inserted = result.inserted_primary_key
            assert inserted is not None
            attempt_id: int = inserted[0]
        return attempt_id

    def succeeded(self, attempt_id: int) -> None:
        """Forget an attempt whose key was accepted, so that only failures count."""
        with transaction(self.engine, "forget a successful sign-in attempt") as connection:
            connection.execute(delete(sign_in_attempts).where(sign_in_attempts.c.id == attempt_id))


def _stored_address(client_address: str) -> str:
    """The address as stored: itself, or its SHA-256 hex when longer than the column."""
    if len(client_address) <= MAX_ADDRESS_LENGTH:
        return client_address
    return hashlib.sha256(client_address.encode("utf-8")).hexdigest()


def _lock_address(connection: Connection, address: str) -> None:
    if connection.dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already holds the database's write lock.
    key = int.from_bytes(hashlib.sha256(address.encode("utf-8")).digest()[:4], "big", signed=True)
    connection.execute(
        text("SELECT pg_advisory_xact_lock(:lock_class, :key)"),
        {"lock_class": ADVISORY_LOCK_CLASS, "key": key},
    )
