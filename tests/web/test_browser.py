"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright.

The app runs under uvicorn on a free loopback port with the sample portfolio (`web_sample.py`). The
tests sign in, filter the portfolio, open a customer, check the reasons, timeline and action, switch
language, and save screenshots under tests/web/screenshots/ (git-ignored). Every request the browser
makes is recorded, to check that pages load nothing from another host.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.browser import require_chromium, served, shot
from support.web_sample import (
    API_KEY,
    CHALLENGER_RUN_ID,
    NO_EVENTS_CUSTOMER,
    PAIR_RUN_ID,
    SENTENCES,
    expected_rows,
    sample_app,
)

from serving.text import Catalogues

pytestmark = pytest.mark.browser

CATALOGUES = Catalogues.load()

require_chromium()

from playwright.sync_api import Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(sample_app(tmp_path_factory.mktemp("pages")), "pages-under-test") as url:
        yield url


def _sign_in(page: Page, base_url: str, target: str = "/portfolio") -> None:
    page.goto(base_url + target)
    page.fill("#api_key", API_KEY)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{target}")


def test_sign_in_is_required_and_a_wrong_key_is_refused(page: Page, base_url: str) -> None:
    page.goto(base_url + "/portfolio")
    assert page.url == f"{base_url}/sign-in?next=%2Fportfolio"
    shot(page, "01-sign-in")
    page.fill("#api_key", "not-a-key")
    page.click("button[type=submit]")
    expect(page.locator("#sign-in-error")).to_have_text(CATALOGUES["en"].text("web.sign_in.failed"))
    assert API_KEY not in page.content() and "not-a-key" not in page.content()
    page.fill("#api_key", API_KEY)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/portfolio")
    expect(page.locator("#portfolio-table tbody tr")).to_have_count(25)


def test_portfolio_filters_rank_and_page(page: Page, base_url: str) -> None:
    _sign_in(page, base_url)
    active = [row for row in expected_rows() if row["population"] == "active"]
    ranked = sorted(active, key=lambda row: -float(row["priority"]))  # type: ignore[arg-type]
    first_ids = page.locator("#portfolio-table tbody tr").evaluate_all(
        "rows => rows.map(row => row.dataset.customer)"
    )
    assert first_ids == [row["customer_id"] for row in ranked[:25]]
    shot(page, "02-portfolio")

    page.select_option("#filter-risk", "high")
    page.wait_for_url("**risk=high**")
    page.select_option("#filter-owner", "account_manager")
    page.wait_for_url("**owner=account_manager**")
    wanted = [row for row in ranked if row["risk"] == "high" and row["owner"] == "account_manager"]
    shown = page.locator("#portfolio-table tbody tr").evaluate_all(
        "rows => rows.map(row => [row.dataset.customer, row.dataset.risk, row.dataset.owner])"
    )
    assert shown == [[row["customer_id"], "high", "account_manager"] for row in wanted]
    expect(page.locator("#stat-customers")).to_have_text(str(len(wanted)))
    shot(page, "03-portfolio-filtered")

    page.goto(base_url + "/portfolio?page=2")
    assert page.locator("#portfolio-table tbody tr").count() == len(active) - 25
    expect(page.locator("#page-next")).to_have_count(0)
    page.fill("#q", "c04")
    page.click("#apply-filters")
    page.wait_for_url("**q=c04**")
    shown_ids = page.locator("#portfolio-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.customer)"
    )
    assert sorted(shown_ids) == [f"C04{digit}" for digit in range(10)]  # a search spans every population

    page.goto(base_url + "/portfolio")
    page.click("a[data-population=lapsed]")
    page.wait_for_url("**population=lapsed**")
    lapsed = [row for row in expected_rows() if row["population"] == "lapsed"]
    shown_ids = page.locator("#portfolio-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.customer)"
    )
    assert shown_ids == [
        row["customer_id"] for row in sorted(lapsed, key=lambda row: -float(row["priority"]))
    ]  # type: ignore[arg-type]
    shot(page, "03b-portfolio-lapsed")


def test_customer_page_shows_reasons_timeline_and_action(page: Page, base_url: str) -> None:
    _sign_in(page, base_url)
    page.select_option("#filter-tier", "A")
    page.wait_for_url("**tier=A**")
    first = page.locator("#portfolio-table tbody tr").first
    customer = first.get_attribute("data-customer")
    assert customer == "C032"  # active tier A customers: C032 has the largest value at risk (0.84 x 4,800)
    first.locator("a.customer-link").click()
    page.wait_for_url(f"**/customers/{customer}")

    reasons = page.locator("#probability-reasons .reason")
    expect(reasons).to_have_count(3)
    expect(reasons.nth(0).locator(".reason-label")).to_have_text("Days since last order")
    expect(reasons.nth(0).locator(".reason-impact")).to_have_text("+12.0 points")
    expect(reasons.nth(0).locator(".reason-sentence")).to_contain_text("No order for 97 days")
    widths = reasons.locator("rect.bar").evaluate_all("bars => bars.map(bar => bar.getAttribute('width'))")
    assert widths == ["100.0", "33.33", "50.0"]
    assert reasons.nth(2).get_attribute("data-direction") == "decreases"

    en = CATALOGUES["en"]
    expect(page.locator("#action-title")).to_have_text(en.text("action.vip_rescue_call.title"))
    expect(page.locator("#action-steps li")).to_have_count(len(en.texts("action.vip_rescue_call.steps")))
    expect(page.locator("#action-owner")).to_have_text(en.text("owner.account_manager"))
    expect(page.locator("#action-due")).to_contain_text("2025-07-08")

    expect(page.locator("#events-table tbody tr")).to_have_count(14)  # 12 orders, a refund, an email
    expect(page.locator(".timeline-chart rect.mark")).to_have_count(14)
    shot(page, "04-customer")

    page.goto(f"{base_url}/customers/{NO_EVENTS_CUSTOMER}")
    expect(page.locator("#no-events")).to_have_text(en.text("web.customer.no_events"))


def test_language_switch_is_remembered(page: Page, base_url: str) -> None:
    _sign_in(page, base_url, "/customers/C032")
    page.click("a[data-lang=zh]")
    page.wait_for_url("**lang=zh**")
    zh = CATALOGUES["zh"]
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    expect(page.locator("#action-title")).to_have_text(zh.text("action.vip_rescue_call.title"))
    expect(page.locator("#probability-reasons .reason-label").first).to_have_text(
        zh.text("feature.days_since_last_order")
    )
    sentences = page.locator("#probability-reasons .reason-sentence").all_inner_texts()
    assert sentences == [
        SENTENCES["zh"][name] for name in ("days_since_last_order", "complaints_90d", "orders_365d")
    ]
    expect(page.locator("#action-steps li").first).to_have_text(zh.texts("action.vip_rescue_call.steps")[0])
    shot(page, "05-customer-zh")

    page.click("#back-to-portfolio")
    page.wait_for_url(f"{base_url}/portfolio")
    expect(page.locator("h1")).to_have_text(zh.text("web.portfolio.title"))
    shot(page, "06-portfolio-zh")
    page.click("a[data-lang=en]")
    page.wait_for_url("**lang=en**")
    expect(page.locator("h1")).to_have_text(CATALOGUES["en"].text("web.portfolio.title"))


def test_models_page_links_champion_and_challenger_runs(page: Page, base_url: str) -> None:
    _sign_in(page, base_url, "/models")
    expect(page.locator(".model-card")).to_have_count(2)
    expect(page.locator("#pair-champion .model-version")).to_have_text("3")
    expect(page.locator("#pair-challenger .model-version")).to_have_text("4")
    expect(page.locator("#pair-champion tr[data-model]")).to_have_count(2)
    links = page.locator("a.run-link")
    assert links.evaluate_all("links => links.map(a => a.getAttribute('href'))") == [
        f"http://127.0.0.1:5000/#/runs/{PAIR_RUN_ID}",
        f"http://127.0.0.1:5000/#/runs/{CHALLENGER_RUN_ID}",
    ]
    shot(page, "07-models")
