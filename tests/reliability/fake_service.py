"""Run by the crash test: the service on the fake engine, as `clvchurn serve` runs it, until killed.

`python fake_service.py PORT DATABASE_URL` serves on 127.0.0.1:PORT with one worker (uvicorn in this
very process, so SIGKILL takes the service down whole, prediction recorder included).
"""

from __future__ import annotations

import sys

from pydantic import SecretStr
from support.fake_engine import API_KEY, FakeEngine, loader_of

from serving.app import run
from serving.settings import Settings


def main(port: int, database_url: str) -> None:
    settings = Settings(
        api_keys=[SecretStr(API_KEY)],
        api_key_file=None,
        port=port,
        database_url=SecretStr(database_url),
        reload_interval_s=0,
    )
    run(settings, engine_loader=loader_of(FakeEngine("1")))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
