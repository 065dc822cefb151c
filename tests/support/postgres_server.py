"""A throwaway PostgreSQL server for the tests, from Debian's binaries, on a temporary folder and port.

PostgreSQL refuses to run as root, which CI is: then initdb, pg_ctl and the server run as the
package's `postgres` user (`runuser -u postgres --`), on a folder handed to that user. The server
listens on 127.0.0.1 at a free port and on a unix socket inside the folder, trusts local
connections (nothing else can reach it), and is stopped and deleted by `stop()`.

Run as a script it starts a server, prints its URL and waits for Ctrl-C, for the benchmarks:
`.venv/bin/python tests/support/postgres_server.py`.
"""

from __future__ import annotations

import getpass
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest

POSTGRES_USER = "postgres"
INITDB_PATTERN = "/usr/lib/postgresql/*/bin/initdb"


def find_binaries() -> Path | None:
    """The newest installed `bin` folder of Debian's PostgreSQL server, None when none is installed."""
    found = sorted(glob.glob(INITDB_PATTERN), key=lambda path: int(Path(path).parts[-3]))
    return Path(found[-1]).parent if found else None


def missing_reason() -> str | None:
    """Why no server can be started here, or None when one can."""
    if find_binaries() is None:
        return f"PostgreSQL server binaries not found ({INITDB_PATTERN}); run `make postgres`"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser, so PostgreSQL (which refuses root) cannot be started"
    return None


class ThrowawayPostgres:
    """One server; `create_database()` hands each test a fresh database of its own."""

    def __init__(self) -> None:
        binaries = find_binaries()
        if binaries is None:
            raise RuntimeError(missing_reason())
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="clvchurn-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.folder, user=POSTGRES_USER, group=POSTGRES_USER)
        self.user = POSTGRES_USER if self._as_postgres else _current_user()

    def start(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=on "
            "-c max_connections=200 -c shared_buffers=32MB"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start"
        )

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        with self._admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self._admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        )

    def _run(self, program: str, *arguments: str) -> None:
        command = [str(self.binaries / program), *arguments]
        if self._as_postgres:
            command = ["runuser", "-u", POSTGRES_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.folder, check=False)
        if result.returncode != 0:
            log = self.folder / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}\n{tail}")


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def postgres_or_skip() -> Iterator[ThrowawayPostgres]:
    """A started throwaway server, or the calling test skipped with the reason (no server binaries)."""
    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    with throwaway_postgres() as server:
        yield server


def empty_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The body of a `database_url` fixture parametrised over "sqlite" and "postgresql": the URL of an
    empty database, not yet migrated (a PostgreSQL one from the `postgres_server` fixture, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'clvchurn.db'}"
        return
    server: ThrowawayPostgres = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _current_user() -> str:
    return getpass.getuser()


if __name__ == "__main__":
    import signal

    with throwaway_postgres() as server:
        print(server.url(), flush=True)
        with suppress(KeyboardInterrupt):
            signal.pause()
