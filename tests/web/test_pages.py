"""The pages over HTTP without a browser: sign-in, filters and paging on the server, language choice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support.forms import csrf_of, sign_in
from support.web_sample import (
    API_KEY,
    CATALOGUES,
    PortfolioEngine,
    expected_rows,
    record,
    sample_app,
    write_sample,
)

from domain.errors import ModelNotReadyError
from serving.app import create_app
from serving.settings import Settings
from serving.web.language import LANGUAGE_COOKIE
from serving.web.session import SESSION_COOKIE

PAGES = ["/portfolio", "/portfolio?tier=A&page=2", "/customers/C001", "/models"]


def shown_customers(html: str) -> list[str]:
    return re.findall(r'<tr data-customer="([^"]+)"', html)


def ranked_ids(rows: list[dict[str, object]]) -> list[str]:
    ordered = sorted(rows, key=lambda row: (-float(row["priority"]), row["customer_id"]))  # type: ignore[arg-type]
    return [str(row["customer_id"]) for row in ordered]


def rows_of(population: str) -> list[dict[str, object]]:
    return [row for row in expected_rows() if row["population"] == population]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_redirects_to_sign_in_without_a_session(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?next=")
    assert "C001" not in response.text


def test_sign_in_returns_to_the_page_asked_for(client: TestClient) -> None:
    next_path = client.get("/portfolio?tier=A").headers["location"].split("next=")[1]
    assert next_path == "%2Fportfolio%3Ftier%3DA"
    response = sign_in(client, API_KEY, "/portfolio?tier=A")
    assert (response.status_code, response.headers["location"]) == (303, "/portfolio?tier=A")
    assert client.get("/portfolio?tier=A").status_code == 200


def test_wrong_key_is_a_401_page_that_repeats_no_key(client: TestClient) -> None:
    response = sign_in(client, "guess-1234", "/portfolio")
    assert response.status_code == 401
    assert 'id="sign-in-error"' in response.text
    assert "guess-1234" not in response.text and API_KEY not in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert client.get("/portfolio").status_code == 303


@pytest.mark.parametrize("target", ["https://elsewhere.example/", "//elsewhere.example/x", "portfolio", ""])
def test_sign_in_never_redirects_off_site(client: TestClient, target: str) -> None:
    response = sign_in(client, API_KEY, target)
    assert response.headers["location"] == "/portfolio"


def test_session_cookie_holds_no_key_and_sign_out_ends_it(signed_in: TestClient) -> None:
    cookie = signed_in.cookies[SESSION_COOKIE]
    assert API_KEY not in cookie and len(cookie) == 43  # an opaque random token, nothing more
    form = signed_in.get("/portfolio").text
    assert signed_in.post("/sign-out", data={"csrf_token": csrf_of(form)}).status_code == 303
    assert signed_in.get("/portfolio").status_code == 303


def test_a_replayed_cookie_is_refused_after_sign_out(signed_in: TestClient) -> None:
    cookie = signed_in.cookies[SESSION_COOKIE]
    signed_in.post("/sign-out", data={"csrf_token": csrf_of(signed_in.get("/portfolio").text)})
    signed_in.cookies.set(SESSION_COOKIE, cookie)
    response = signed_in.get("/portfolio")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")


def test_sign_out_without_the_csrf_token_is_refused_and_keeps_the_session(signed_in: TestClient) -> None:
    assert signed_in.post("/sign-out").status_code == 403
    assert signed_in.post("/sign-out", data={"csrf_token": "forged"}).status_code == 403
    assert signed_in.get("/portfolio").status_code == 200


def test_sign_in_without_the_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/sign-in")  # the form's cookie is set, but the token is not repeated
    response = client.post("/sign-in", data={"api_key": API_KEY, "csrf_token": "forged"})
    assert response.status_code == 403
    assert SESSION_COOKIE not in client.cookies
    assert client.post("/sign-in", data={"api_key": API_KEY}).status_code == 403


def test_eleventh_failed_sign_in_within_a_minute_is_429(client: TestClient) -> None:
    failures = [sign_in(client, f"guess-{attempt}").status_code for attempt in range(10)]
    throttled = sign_in(client, API_KEY)  # even the right key waits now
    assert failures == [401] * 10
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    assert SESSION_COOKIE not in client.cookies


def test_a_removed_key_ends_its_sessions_at_once(signed_in: TestClient, tmp_path: Path) -> None:
    cookie = signed_in.cookies[SESSION_COOKIE]
    kept = "another-key-9d0a"
    settings = Settings(
        api_keys=[SecretStr(kept)], api_key_file=None, snapshot_path=tmp_path / "scores.parquet"
    )
    other: FastAPI = create_app(settings, engine_loader=lambda _settings: PortfolioEngine())  # type: ignore[arg-type, return-value]
    with TestClient(other, follow_redirects=False) as client:  # the same database, the key gone
        client.cookies.set(SESSION_COOKIE, cookie)
        assert client.get("/portfolio").status_code == 303
    assert signed_in.get("/portfolio").status_code == 303  # revoked at the other app's start-up


def test_a_session_holds_on_another_worker_of_the_same_database(
    signed_in: TestClient, tmp_path: Path
) -> None:
    other = sample_app(tmp_path)
    with TestClient(other, follow_redirects=False) as client:
        other.state.initial_load.join(timeout=10)
        client.cookies.set(SESSION_COOKIE, signed_in.cookies[SESSION_COOKIE])
        assert client.get("/portfolio").status_code == 200


def test_cookies_are_secure_unless_serving_on_loopback(tmp_path: Path) -> None:
    settings = Settings(api_keys=[SecretStr(API_KEY)], api_key_file=None, host="0.0.0.0")
    app: FastAPI = create_app(settings, engine_loader=lambda _settings: PortfolioEngine())  # type: ignore[arg-type, return-value]
    with TestClient(app, follow_redirects=False, base_url="https://testserver") as client:
        form = client.get("/sign-in")
        signed = sign_in(client, API_KEY)
    assert "secure" in form.headers["set-cookie"].lower()
    assert (
        "secure" in signed.headers["set-cookie"].lower()
        and "httponly" in signed.headers["set-cookie"].lower()
    )


def test_a_forged_session_cookie_is_refused(client: TestClient) -> None:
    client.cookies.set(SESSION_COOKIE, "A" * 43)
    assert client.get("/portfolio").status_code == 303


def test_portfolio_ranks_active_customers_by_value_at_risk_and_pages_by_25(signed_in: TestClient) -> None:
    everyone = ranked_ids(rows_of("active"))  # 29 active customers
    assert shown_customers(signed_in.get("/portfolio").text) == everyone[:25]
    assert shown_customers(signed_in.get("/portfolio?page=2").text) == everyone[25:]
    assert shown_customers(signed_in.get("/portfolio?page=99").text) == everyone[25:]
    assert shown_customers(signed_in.get("/portfolio?page=zero").text) == everyone[:25]


@pytest.mark.parametrize("population", ["lapsed", "prospect"])
def test_each_population_has_its_own_view_ranked_by_its_own_priority(
    signed_in: TestClient, population: str
) -> None:
    html = signed_in.get(f"/portfolio?population={population}").text
    assert shown_customers(html) == ranked_ids(rows_of(population))
    assert f'class="tab tab-active" data-population="{population}"' in html
    assert f'<input type="hidden" name="population" value="{population}">' in html


def test_lapsed_customers_are_ranked_by_the_value_of_a_comeback(signed_in: TestClient) -> None:
    shown = shown_customers(signed_in.get("/portfolio?population=lapsed").text)
    # C012 (dormant): reactivation 0.44 x value if retained 1,800 = 792 beats C005 (lost): 0.85 x 750
    assert shown.index("C012") < shown.index("C005")


def test_portfolio_filters_combine_on_the_server(signed_in: TestClient) -> None:
    wanted = [row for row in rows_of("active") if row["tier"] == "B" and row["risk"] == "high"]
    html = signed_in.get("/portfolio?tier=B&risk=high").text
    assert shown_customers(html) == ranked_ids(wanted)
    assert sorted(shown_customers(html)) == ["C029", "C037", "C045"]  # i % 4 == 1, i*37 % 100 >= 60, active
    by_stage_owner = [
        row for row in rows_of("active") if row["stage"] == "active" and row["owner"] == "marketing"
    ]
    html = signed_in.get("/portfolio?stage=active&owner=marketing").text
    assert shown_customers(html) == ranked_ids(by_stage_owner)


def test_unknown_filter_values_are_ignored(signed_in: TestClient) -> None:
    html = signed_in.get("/portfolio?tier=Z&risk=extreme&owner=nobody&sort=secret").text
    assert shown_customers(html) == ranked_ids(rows_of("active"))[:25]


def test_search_matches_part_of_the_id_in_any_case_in_every_population(signed_in: TestClient) -> None:
    assert shown_customers(signed_in.get("/portfolio?q=c00").text) == ranked_ids(
        [row for row in expected_rows() if str(row["customer_id"]).startswith("C00")]
    )
    assert 'id="portfolio-empty"' in signed_in.get("/portfolio?q=nobody").text


def test_sort_by_probability(signed_in: TestClient) -> None:
    shown = shown_customers(signed_in.get("/portfolio?sort=probability").text)
    assert shown[:3] == ["C008", "C016", "C043"]  # active customers' (i * 37) % 100: 96, 92, 91
    lapsed = shown_customers(signed_in.get("/portfolio?population=lapsed&sort=probability").text)
    assert lapsed[:2] == ["C027", "C005"]  # lapsed customers' reactivation: 99, 85


def test_paging_links_keep_the_filters(signed_in: TestClient) -> None:
    html = signed_in.get("/portfolio?stage=lost&sort=predicted_value&q=c").text
    assert "page-next" not in html
    html = signed_in.get("/portfolio?risk=high").text
    assert "page-next" not in html  # 11 high-risk customers fit on one page
    html = signed_in.get("/portfolio?sort=predicted_value").text
    assert 'href="/portfolio?sort=predicted_value&amp;page=2"' in html


def test_language_choice_is_remembered_in_a_cookie(signed_in: TestClient) -> None:
    response = signed_in.get("/portfolio?lang=zh")
    assert '<html lang="zh-Hans">' in response.text
    assert f"{LANGUAGE_COOKIE}=zh" in response.headers["set-cookie"]
    assert '<html lang="zh-Hans">' in signed_in.get("/models").text
    assert '<html lang="en">' in signed_in.get("/models?lang=en").text
    assert '<html lang="en">' in signed_in.get("/models").text


def test_accept_language_decides_until_a_language_is_chosen(signed_in: TestClient) -> None:
    chinese = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    assert '<html lang="zh-Hans">' in signed_in.get("/portfolio", headers=chinese).text
    signed_in.get("/portfolio?lang=en")
    assert '<html lang="en">' in signed_in.get("/portfolio", headers=chinese).text
    assert '<html lang="en">' in signed_in.get("/portfolio?lang=fr").text


def test_sign_in_page_follows_the_language_too(client: TestClient) -> None:
    assert "API 密钥" in client.get("/sign-in?lang=zh").text


def test_customer_page_and_unknown_customer(signed_in: TestClient) -> None:
    html = signed_in.get("/customers/C008").text
    assert "No order for 97 days" in html
    assert html.count('class="reason reason-') == 5
    response = signed_in.get("/customers/C999")
    assert response.status_code == 404
    assert "C999" in response.text


def test_customer_page_shows_the_page_languages_reasons_and_action(signed_in: TestClient) -> None:
    chinese = signed_in.get("/customers/C008?lang=zh").text
    english = signed_in.get("/customers/C008?lang=en").text
    zh, en = CATALOGUES["zh"], CATALOGUES["en"]

    assert (
        "已 97 天未下单；A 级客户通常每 21 天下单一次。" in chinese and "No order for 97 days" not in chinese
    )
    assert "No order for 97 days; customers in tier A usually order every 21 days." in english
    assert "已 97 天未下单" not in english
    assert zh.text("action.vip_rescue_call.title") in chinese  # C008: ACTIONS[8 % 4]
    assert en.text("action.vip_rescue_call.title") in english


def test_portfolio_shows_action_titles_and_owners_in_the_page_language(signed_in: TestClient) -> None:
    zh, en = CATALOGUES["zh"], CATALOGUES["en"]
    chinese = signed_in.get("/portfolio?q=C004&lang=zh").text  # C004: vip_rescue_call, account_manager
    english = signed_in.get("/portfolio?q=C004&lang=en").text

    assert f'<td class="action-cell">{zh.text("action.vip_rescue_call.title")}</td>' in chinese
    assert f"<td>{zh.text('owner.account_manager')}</td>" in chinese
    assert f'<td class="action-cell">{en.text("action.vip_rescue_call.title")}</td>' in english
    assert f"<td>{en.text('owner.account_manager')}</td>" in english


def test_customer_ids_are_escaped(tmp_path: Path) -> None:
    app = sample_app(tmp_path, with_snapshot=False)
    write_sample(app.state.settings.snapshot_path, [{**record(1), "customer_id": "<b>C1</b>"}])
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, API_KEY, None)
        html = client.get("/portfolio").text
    assert "&lt;b&gt;C1&lt;/b&gt;" in html and "<b>C1</b>" not in html


def test_pages_say_when_there_is_no_snapshot(tmp_path: Path) -> None:
    app = sample_app(tmp_path, with_snapshot=False)
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, API_KEY, None)
        response = client.get("/portfolio")
    assert response.status_code == 503
    assert "clvchurn score" in response.text


def test_models_page_lists_the_champion_and_the_challenger_pair(signed_in: TestClient) -> None:
    html = signed_in.get("/models").text
    assert html.count('data-role="champion"') == 1
    assert html.count('data-role="challenger"') == 1
    assert html.count('data-model="churn"') == 2 and html.count('data-model="value"') == 2
    assert "ROC AUC" in html and "0.812" in html and "0.825" in html
    assert "rows_train" not in html


def test_models_page_while_no_model_is_loaded(tmp_path: Path) -> None:
    settings = Settings(
        api_keys=[API_KEY],  # type: ignore[list-item]
        snapshot_path=tmp_path / "scores.parquet",
    )

    def no_model(_settings: Settings) -> object:
        raise ModelNotReadyError("no champion registered")

    app: FastAPI = create_app(settings, engine_loader=no_model)  # type: ignore[arg-type]
    with TestClient(app, follow_redirects=False) as client:
        app.state.initial_load.join(timeout=10)
        sign_in(client, API_KEY, None)
        response = client.get("/models")
    assert response.status_code == 503
    assert "no champion registered" in response.text


def test_pages_send_security_headers_and_assets_are_local(signed_in: TestClient) -> None:
    response = signed_in.get("/portfolio")
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "http://" not in response.text and "https://" not in response.text
    assert signed_in.get("/static/app.css").status_code == 200


def test_pages_stay_out_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if not path.startswith(("/v1", "/healthz", "/readyz", "/metrics"))]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_customer_page_shows_the_value_range_expected_orders_and_next_order(
    signed_in: TestClient, lang: str
) -> None:
    texts = CATALOGUES[lang]
    active = signed_in.get(f"/customers/C008?lang={lang}").text  # stage new: active
    lapsed = signed_in.get(f"/customers/C005?lang={lang}").text  # stage dormant: lapsed

    assert '<span class="stat-value" id="value-range">480.00 EUR – 2,000.00 EUR</span>' in active
    assert texts.text("web.customer.value_range", days=180) in active
    assert '<span class="stat-value" id="predicted-orders">2.0</span>' in active
    assert '<span class="stat-value" id="next-order-date">2025-07-09</span>' in active
    assert texts.text("web.customer.next_order") in active
    assert 'id="value-range"' in lapsed and 'id="next-order-date"' not in lapsed
