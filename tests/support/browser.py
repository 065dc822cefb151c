"""What the real-browser tests share: Debian's Chromium, an app served by uvicorn on a free loopback
port, a page that records every request it makes, and screenshots under tests/web/screenshots/.

A module of browser tests calls `require_chromium()` before importing Playwright's names: without
Chromium the module is skipped, except in CI, where that is a failure (the Makefile installs it).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
from fastapi import FastAPI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "web" / "screenshots"
STARTUP_SECONDS = 20


def require_chromium() -> None:
    """Skip the calling test module when Chromium is missing; fail instead in CI."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"{CHROMIUM} is missing in CI: install Debian's chromium and chromium-driver (see the Makefile)",
            pytrace=False,
        )
    pytest.skip(
        f"{CHROMIUM} is missing: `apt-get install chromium chromium-driver` to run the browser tests",
        allow_module_level=True,
    )


@contextmanager
def served(app: FastAPI, name: str) -> Iterator[str]:
    """`app` under uvicorn on a free loopback port, its models loaded; yields the base URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"uvicorn did not start within {STARTUP_SECONDS} s")
        time.sleep(0.05)
    app.state.initial_load.join(timeout=10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def local_only_page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A fresh page (1366 x 900, en-GB); on leaving, asserts it fetched nothing from another host."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    yield page
    context.close()
    foreign = [url for url in requested if not url.startswith((base_url, "data:"))]
    assert foreign == [], f"pages fetched from other hosts: {foreign}"


def shot(page: Page, name: str) -> None:
    """A full-page screenshot `tests/web/screenshots/<name>.png` (git-ignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
