"""Sign-in throttling: ten failures a minute per address, shared by every worker, exact under concurrency."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from domain.errors import SignInThrottledError
from serving.database import SignInThrottle, open_database, sign_in_attempts

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def throttle(engine: Engine, clock: Clock) -> SignInThrottle:
    return SignInThrottle(engine, limit=10, window=timedelta(minutes=1), clock=clock)


def fail_sign_ins(
    throttle: SignInThrottle, clock: Clock, address: str, count: int, every_s: float = 1.0
) -> None:
    for _ in range(count):
        throttle.admit(address)
        clock.now += timedelta(seconds=every_s)


def test_the_eleventh_failure_within_a_minute_is_refused_with_retry_after(
    throttle: SignInThrottle, clock: Clock
) -> None:
    fail_sign_ins(throttle, clock, "203.0.113.7", 10)  # 09:00:00 to 09:00:09
    clock.now = START + timedelta(seconds=9.5)

    with pytest.raises(SignInThrottledError) as raised:
        throttle.admit("203.0.113.7")

    assert raised.value.retry_after_s == 51  # the 09:00:00 failure leaves the window at 09:01:00
    assert raised.value.client_address == "203.0.113.7"
    assert str(raised.value) == "Too many failed sign-ins from 203.0.113.7: try again in 51 seconds"
    throttle.admit("198.51.100.2")  # another address is not affected


def test_the_window_slides(throttle: SignInThrottle, clock: Clock) -> None:
    fail_sign_ins(throttle, clock, "203.0.113.7", 10)
    clock.now = START + timedelta(seconds=60) - timedelta(microseconds=1)
    with pytest.raises(SignInThrottledError):
        throttle.admit("203.0.113.7")

    clock.now = START + timedelta(seconds=60)
    throttle.admit("203.0.113.7")  # 09:00:00 left the window; 09:00:01 to 09:00:09 and this one remain
    with pytest.raises(SignInThrottledError) as raised:
        throttle.admit("203.0.113.7")
    assert raised.value.retry_after_s == 1


def test_successful_sign_ins_do_not_count(throttle: SignInThrottle, clock: Clock) -> None:
    for _ in range(25):
        throttle.succeeded(throttle.admit("203.0.113.7"))
    fail_sign_ins(throttle, clock, "203.0.113.7", 10, every_s=0)

    with pytest.raises(SignInThrottledError):
        throttle.admit("203.0.113.7")


def test_attempts_older_than_the_window_are_deleted(
    engine: Engine, throttle: SignInThrottle, clock: Clock
) -> None:
    fail_sign_ins(throttle, clock, "203.0.113.7", 3)
    fail_sign_ins(throttle, clock, "198.51.100.2", 3)
    clock.now = START + timedelta(minutes=5)
    throttle.admit("192.0.2.1")

    with engine.connect() as connection:
        assert connection.execute(select(sign_in_attempts.c.client_address)).scalars().all() == ["192.0.2.1"]


def test_every_worker_counts_the_same_failures(
    database_url: str, throttle: SignInThrottle, clock: Clock
) -> None:
    other_engine = open_database(database_url)
    try:
        other_worker = SignInThrottle(other_engine, clock=clock)
        fail_sign_ins(throttle, clock, "203.0.113.7", 5, every_s=0)
        fail_sign_ins(other_worker, clock, "203.0.113.7", 5, every_s=0)

        for worker in (throttle, other_worker):
            with pytest.raises(SignInThrottledError):
                worker.admit("203.0.113.7")
    finally:
        other_engine.dispose()


def test_simultaneous_guesses_cannot_exceed_the_limit(engine: Engine, database_url: str) -> None:
    """Twenty sign-ins at once from one address, on four engines (as four workers): exactly ten get in."""
    engines = [open_database(database_url) for _ in range(4)]
    throttles = [SignInThrottle(each) for each in engines]
    start = threading.Barrier(20)
    outcomes: list[str] = []

    def guess(number: int) -> None:
        start.wait()
        try:
            throttles[number % 4].admit("203.0.113.7")
            outcomes.append("admitted")
        except SignInThrottledError:
            outcomes.append("throttled")

    guesses = [threading.Thread(target=guess, args=(number,)) for number in range(20)]
    for thread in guesses:
        thread.start()
    for thread in guesses:
        thread.join()
    for each in engines:
        each.dispose()

    assert sorted(outcomes) == ["admitted"] * 10 + ["throttled"] * 10
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(sign_in_attempts)).scalar() == 10


def test_an_address_longer_than_the_column_is_kept_as_its_digest(
    engine: Engine, throttle: SignInThrottle, clock: Clock
) -> None:
    address = "unix:" + "/run/very/long/socket/path" * 5
    fail_sign_ins(throttle, clock, address, 10, every_s=0)

    with pytest.raises(SignInThrottledError, match="Too many failed sign-ins from unix:/run/very"):
        throttle.admit(address)
    with engine.connect() as connection:
        stored = set(connection.execute(select(sign_in_attempts.c.client_address)).scalars())
    assert [len(value) for value in stored] == [64]
