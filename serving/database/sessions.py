"""Server-side web sessions: a sign-in ends when it is signed out, its key removed, idle or too old.

Why server-side: a signed cookie stays valid until it expires whatever the server learns, so a
replayed cookie outlives sign-out and key removal. Here the cookie carries only an opaque random
token (`secrets.token_urlsafe`, 256 bits); the database keeps its SHA-256 digest, never the token,
so someone who reads the table cannot sign in with what they read (OWASP Session Management Cheat
Sheet: session ID entropy, server-side invalidation, idle and absolute timeouts). Every worker
reads the same table, so a sign-in made on one worker holds on all, and a sign-out on one ends it
on all at once.

Each session carries a CSRF token for its forms (the synchroniser-token pattern, OWASP CSRF
Prevention Cheat Sheet), compared in constant time by `csrf_token_matches`.

The idle timeout is measured from `last_seen_at`, which `get` moves forward at most once per
`touch_interval` to spare a write on every page; a session may thus live up to `touch_interval`
past its idle timeout. The absolute lifetime is exact.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, delete, insert, or_, select, update

from serving.database.connection import transaction
from serving.database.tables import sessions, utc_now

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32
"""Random bytes in a session token and a CSRF token (256 bits, well above OWASP's 64-bit floor)."""
MAX_TOKEN_LENGTH = 128
"""Longer presented tokens are refused unread: `token_urlsafe(32)` is 43 characters."""


@dataclass(frozen=True)
class WebSession:
    """A live session as the pages need it; never holds the cookie's token."""

    session_id: str
    key_digest: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class IssuedSession:
    """What sign-in gets back: the token to set in the cookie (the only time it exists) and the session."""

    token: str
    session: WebSession


def session_id_of(token: str) -> str:
    """The stored form of a token: its SHA-256 hex digest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token_matches(session: WebSession, presented: str | None) -> bool:
    """Whether a form's CSRF token is the session's, compared in constant time (hmac.compare_digest)."""
    if not presented:
        return False
    return hmac.compare_digest(session.csrf_token.encode("utf-8"), presented.encode("utf-8"))


class SessionStore:
    """Sessions in the `sessions` table, shared by every worker.

    Parameters
    ----------
    engine
        From `serving.database.open_database`, on a migrated database.
    lifetime
        Absolute lifetime of a session from sign-in.
    idle_timeout
        A session unused for this long ends.
    touch_interval
        Least time between two updates of `last_seen_at` of one session.
    clock
        Aware UTC now; tests pass their own.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        lifetime: timedelta = timedelta(hours=8),
        idle_timeout: timedelta = timedelta(hours=1),
        touch_interval: timedelta = timedelta(minutes=1),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.lifetime = lifetime
        self.idle_timeout = idle_timeout
        self.touch_interval = touch_interval
        self._clock = clock

    def create(self, key_digest: str) -> IssuedSession:
        """Start a session for the API key whose SHA-256 hex digest is `key_digest` (after it was checked).

        Ended sessions are deleted on the way, so the table holds live sessions and recent ends only.

        Raises
        ------
        DatabaseUnavailableError
            The session could not be stored; the sign-in must fail.
        """
        now = self._clock()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session = WebSession(
            session_id=session_id_of(token),
            key_digest=key_digest,
            csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
            created_at=now,
            last_seen_at=now,
            expires_at=now + self.lifetime,
        )
        with transaction(self.engine, "store a new session") as connection:
            connection.execute(delete(sessions).where(_ended_before(now - self.lifetime)))
            connection.execute(
                insert(sessions).values(
                    id=session.session_id,
                    key_digest=session.key_digest,
                    csrf_token=session.csrf_token,
                    created_at=session.created_at,
                    last_seen_at=session.last_seen_at,
                    expires_at=session.expires_at,
                    revoked_at=None,
                )
            )
        return IssuedSession(token=token, session=session)

    def get(self, token: str | None) -> WebSession | None:
        """The live session of a cookie's token, None if unknown, revoked, expired or idle too long.

        Raises
        ------
        DatabaseUnavailableError
            The table cannot be read; the page should answer 503, not treat the user as signed out.
        """
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        now = self._clock()
        session_id = session_id_of(token)
        with transaction(self.engine, "read a session") as connection:
            row = connection.execute(select(sessions).where(sessions.c.id == session_id)).one_or_none()
            if row is None or row.revoked_at is not None or now >= row.expires_at:
                return None
            if now - row.last_seen_at >= self.idle_timeout:
                return None
            last_seen_at = row.last_seen_at
            if now - last_seen_at >= self.touch_interval:
                connection.execute(
                    update(sessions).where(sessions.c.id == session_id).values(last_seen_at=now)
                )
                last_seen_at = now
        return WebSession(
            session_id=row.id,
            key_digest=row.key_digest,
            csrf_token=row.csrf_token,
            created_at=row.created_at,
            last_seen_at=last_seen_at,
            expires_at=row.expires_at,
        )

    def revoke(self, token: str | None) -> bool:
        """End the session of `token` (sign-out); True if a live session was ended."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return False
        with transaction(self.engine, "revoke a session") as connection:
            result = connection.execute(
                update(sessions)
                .where(sessions.c.id == session_id_of(token), sessions.c.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
        return result.rowcount > 0

    def revoke_key(self, key_digest: str) -> int:
        """End every session opened with the key of `key_digest`; how many were live."""
        return self._revoke_where(sessions.c.key_digest == key_digest, "revoke the sessions of a key")

    def revoke_keys_except(self, accepted_digests: Collection[str]) -> int:
        """End every session whose key is not among `accepted_digests`; how many were live.

        Run at start-up and after the key configuration changes: a key removed from the
        configuration then ends its sessions at once, on every worker.
        """
        condition = sessions.c.key_digest.not_in(list(accepted_digests)) if accepted_digests else None
        ended = self._revoke_where(condition, "revoke the sessions of removed keys")
        if ended:
            logger.info("Ended %d web sessions of API keys no longer configured", ended)
        return ended

    def _revoke_where(self, condition: ColumnElement[bool] | None, purpose: str) -> int:
        statement = update(sessions).where(sessions.c.revoked_at.is_(None)).values(revoked_at=self._clock())
        if condition is not None:
            statement = statement.where(condition)
        with transaction(self.engine, purpose) as connection:
            return connection.execute(statement).rowcount


def _ended_before(moment: datetime) -> ColumnElement[bool]:
    """Sessions that expired or were revoked before `moment`: safe to delete."""
    return or_(sessions.c.expires_at < moment, sessions.c.revoked_at < moment)
