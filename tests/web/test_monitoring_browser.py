"""The monitoring page in a real browser (Debian's Chromium, headless, Playwright), as test_browser.py
drives the other pages: sign in, open /monitoring on the hand-made report, follow a heat-map cell to the
customers who moved and on to one of them, switch to Chinese; screenshots under tests/web/screenshots/
(git-ignored). Every request the browser makes is recorded: the page fetches nothing from another host."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from support.web_sample import API_KEY, sample_app

from serving.monitor_report import MonitorReportStore
from serving.text import Catalogues

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SCREENSHOTS = Path(__file__).parent / "screenshots"
SAMPLE = Path(__file__).parent / "data" / "monitor_report.json"
CATALOGUES = Catalogues.load()

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium`", allow_module_level=True)

from playwright.sync_api import Browser, Page, Request, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("monitoring")
    shutil.copy(SAMPLE, folder / "monitor.json")
    app = sample_app(folder)
    app.state.web.monitor_reports = MonitorReportStore(folder / "monitor.json")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="monitoring-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 20 s")
        time.sleep(0.05)
    app.state.initial_load.join(timeout=10)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    page = context.new_page()
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)
    yield page
    context.close()
    foreign = [url for url in requested if not url.startswith((base_url, "data:"))]
    assert foreign == [], f"pages fetched from other hosts: {foreign}"


def test_monitoring_page_charts_heat_map_movers_and_chinese(page: Page, base_url: str) -> None:
    page.goto(base_url + "/monitoring")
    page.fill("#api_key", API_KEY)
    page.click("button[type=submit]")
    page.wait_for_url("**/monitoring")

    expect(page.locator("#report-as-of")).to_have_text("2026-01-01")
    expect(page.locator("figure.chart-card[data-metric]")).to_have_count(4)
    expect(page.locator("#calibration circle.decile")).to_have_count(3)
    expect(page.locator("#drift-bars li.drift-bar")).to_have_count(5)
    expect(page.locator("#tier-heatmap a.moves-link")).to_have_count(4)
    assert page.locator("svg.accuracy-chart").first.bounding_box()["width"] > 200  # type: ignore[index]
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "08-monitoring.png"), full_page=True)

    page.click('#tier-heatmap td[data-from="B"][data-to="A"] a')
    page.wait_for_url("**/monitoring/moves?from=B&to=A")
    expect(page.locator("#movers-table tr[data-customer]")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "09-monitoring-moves.png"), full_page=True)
    page.click("a.customer-link")
    page.wait_for_url("**/customers/C005")

    page.goto(base_url + "/monitoring?lang=zh")
    expect(page.locator("h1")).to_have_text(CATALOGUES["zh"].text("web.monitoring.title"))
    expect(page.locator("#drift-status")).to_have_text(CATALOGUES["zh"].text("web.monitoring.flagged"))
    page.screenshot(path=str(SCREENSHOTS / "10-monitoring-zh.png"), full_page=True)
