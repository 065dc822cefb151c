"""The monitoring page in a real browser (Debian's Chromium, headless, Playwright), as test_browser.py
drives the other pages: sign in, open /monitoring on the hand-made report, follow a heat-map cell to the
customers who moved and on to one of them, switch to Chinese; screenshots under tests/web/screenshots/
(git-ignored). Every request the browser makes is recorded: the page fetches nothing from another host."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.browser import require_chromium, served, shot
from support.web_sample import API_KEY, sample_app

from serving.monitor_report import MonitorReportStore
from serving.text import Catalogues

pytestmark = pytest.mark.browser

SAMPLE = Path(__file__).parent / "data" / "monitor_report.json"
CATALOGUES = Catalogues.load()

require_chromium()

from playwright.sync_api import Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("monitoring")
    shutil.copy(SAMPLE, folder / "monitor.json")
    app = sample_app(folder)
    app.state.web.monitor_reports = MonitorReportStore(folder / "monitor.json")
    with served(app, "monitoring-under-test") as url:
        yield url


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
    shot(page, "08-monitoring")

    page.click('#tier-heatmap td[data-from="B"][data-to="A"] a')
    page.wait_for_url("**/monitoring/moves?from=B&to=A")
    expect(page.locator("#movers-table tr[data-customer]")).to_have_count(1)
    shot(page, "09-monitoring-moves")
    page.click("a.customer-link")
    page.wait_for_url("**/customers/C005")

    page.goto(base_url + "/monitoring?lang=zh")
    expect(page.locator("h1")).to_have_text(CATALOGUES["zh"].text("web.monitoring.title"))
    expect(page.locator("#drift-status")).to_have_text(CATALOGUES["zh"].text("web.monitoring.flagged"))
    shot(page, "10-monitoring-zh")
