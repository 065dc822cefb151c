"""Web sessions: opaque tokens stored as digests, and sessions that end on sign-out, key removal, idleness or age."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text

from domain.errors import DatabaseUnavailableError
from serving.database import SessionStore, csrf_token_matches, open_database, sessions

SIGN_IN = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
KEY_A = hashlib.sha256(b"key-a").hexdigest()
KEY_B = hashlib.sha256(b"key-b").hexdigest()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(SIGN_IN)


@pytest.fixture
def store(engine: Engine, clock: Clock) -> SessionStore:
    return SessionStore(
        engine,
        lifetime=timedelta(hours=8),
        idle_timeout=timedelta(minutes=30),
        touch_interval=timedelta(minutes=1),
        clock=clock,
    )


def stored_rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as connection:
        return [row._asdict() for row in connection.execute(select(sessions).order_by(sessions.c.created_at))]


def test_sign_in_stores_the_token_only_as_its_digest(engine: Engine, store: SessionStore) -> None:
    issued = store.create(KEY_A)

    assert len(issued.token) == 43  # 32 random bytes, URL-safe base64
    assert stored_rows(engine) == [
        {
            "id": hashlib.sha256(issued.token.encode()).hexdigest(),
            "key_digest": KEY_A,
            "csrf_token": issued.session.csrf_token,
            "created_at": SIGN_IN,
            "last_seen_at": SIGN_IN,
            "expires_at": SIGN_IN + timedelta(hours=8),
            "revoked_at": None,
        }
    ]
    assert issued.token not in repr(stored_rows(engine))


def test_a_session_is_found_by_its_token_and_only_by_it(store: SessionStore) -> None:
    issued = store.create(KEY_A)
    other = store.create(KEY_A)

    assert store.get(issued.token) == issued.session
    assert store.get(other.token) == other.session
    assert issued.session.csrf_token != other.session.csrf_token
    for presented in (None, "", "unknown-token", issued.session.session_id, issued.token + "x", "x" * 10_000):
        assert store.get(presented) is None


def test_sign_out_ends_the_session_at_once(store: SessionStore) -> None:
    issued = store.create(KEY_A)
    kept = store.create(KEY_A)

    assert store.revoke(issued.token) is True
    assert store.get(issued.token) is None
    assert store.revoke(issued.token) is False
    assert store.revoke("never-issued") is False
    assert store.get(kept.token) == kept.session


def test_a_session_ends_at_its_lifetime_however_active(store: SessionStore, clock: Clock) -> None:
    issued = store.create(KEY_A)
    for _ in range(16):  # every 29 minutes for 7 h 44 min: never idle
        clock.advance(minutes=29)
        assert store.get(issued.token) is not None
    clock.now = SIGN_IN + timedelta(hours=8) - timedelta(microseconds=1)
    assert store.get(issued.token) is not None

    clock.now = SIGN_IN + timedelta(hours=8)
    assert store.get(issued.token) is None


def test_a_session_unused_for_the_idle_timeout_ends(store: SessionStore, clock: Clock) -> None:
    issued = store.create(KEY_A)
    clock.advance(minutes=20)
    assert store.get(issued.token) is not None  # seen at 09:20

    clock.advance(minutes=29, seconds=59)
    assert store.get(issued.token) is not None  # 29:59 after 09:20
    clock.advance(minutes=30)
    assert store.get(issued.token) is None


def test_last_seen_is_written_at_most_once_per_touch_interval(
    engine: Engine, store: SessionStore, clock: Clock
) -> None:
    issued = store.create(KEY_A)
    clock.advance(seconds=59)
    assert store.get(issued.token).last_seen_at == SIGN_IN  # type: ignore[union-attr]
    assert stored_rows(engine)[0]["last_seen_at"] == SIGN_IN

    clock.advance(seconds=1)
    assert store.get(issued.token).last_seen_at == SIGN_IN + timedelta(minutes=1)  # type: ignore[union-attr]
    assert stored_rows(engine)[0]["last_seen_at"] == SIGN_IN + timedelta(minutes=1)


def test_removing_a_key_ends_its_sessions_and_no_other(store: SessionStore) -> None:
    first, second, other = store.create(KEY_A), store.create(KEY_A), store.create(KEY_B)
    store.revoke(second.token)

    assert store.revoke_key(KEY_A) == 1
    assert (store.get(first.token), store.get(second.token)) == (None, None)
    assert store.get(other.token) == other.session


def test_sessions_of_keys_no_longer_configured_end_at_start_up(store: SessionStore) -> None:
    kept, removed = store.create(KEY_A), store.create(KEY_B)

    assert store.revoke_keys_except({KEY_A}) == 1
    assert store.get(kept.token) == kept.session
    assert store.get(removed.token) is None
    assert store.revoke_keys_except(set()) == 1  # no key configured: no session survives
    assert store.get(kept.token) is None


def test_every_worker_sees_sign_in_and_sign_out_at_once(database_url: str, store: SessionStore) -> None:
    other_engine = open_database(database_url)
    try:
        other_worker = SessionStore(other_engine, clock=lambda: SIGN_IN)
        issued = store.create(KEY_A)

        assert other_worker.get(issued.token) == issued.session
        other_worker.revoke(issued.token)
        assert store.get(issued.token) is None
    finally:
        other_engine.dispose()


def test_ended_sessions_are_deleted_a_lifetime_after_they_end(
    engine: Engine, store: SessionStore, clock: Clock
) -> None:
    """Expired at 17:00 or revoked at 10:00, a session is deleted by the first sign-in a lifetime later."""
    expired, revoked = store.create(KEY_A), store.create(KEY_B)
    clock.advance(hours=1)
    store.revoke(revoked.token)

    def kept() -> set[str]:
        return {str(row["id"]) for row in stored_rows(engine)}

    clock.now = SIGN_IN + timedelta(hours=9)
    third = store.create(KEY_A).session.session_id
    assert kept() == {expired.session.session_id, revoked.session.session_id, third}
    clock.advance(microseconds=1)
    fourth = store.create(KEY_A).session.session_id
    assert kept() == {expired.session.session_id, third, fourth}

    clock.now = SIGN_IN + timedelta(hours=16, microseconds=1)
    fifth = store.create(KEY_A).session.session_id
    assert kept() == {third, fourth, fifth}


def test_the_csrf_token_must_be_the_sessions_own(store: SessionStore) -> None:
    issued, other = store.create(KEY_A), store.create(KEY_A)

    assert csrf_token_matches(issued.session, issued.session.csrf_token) is True
    for presented in (None, "", other.session.csrf_token, issued.session.csrf_token[:-1], issued.token):
        assert csrf_token_matches(issued.session, presented) is False


@pytest.fixture
def broken_store(engine: Engine, store: SessionStore) -> Iterator[SessionStore]:
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE sessions"))
    yield store


def test_a_database_error_is_not_mistaken_for_signed_out(broken_store: SessionStore) -> None:
    with pytest.raises(
        DatabaseUnavailableError, match=r"Cannot read a session in the database at .* migrated"
    ):
        broken_store.get("some-token")
    with pytest.raises(DatabaseUnavailableError, match="Cannot store a new session"):
        broken_store.create(KEY_A)
