"""The portfolio by tag and by named account manager ("my customers"), and the pages that show both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.forms import sign_in
from support.web_sample import API_KEY, record, sample_app, sample_frame, write_sample

from policy.playbook import DEFAULT_PLAYBOOK
from serving.settings import Settings
from serving.snapshot_store import SnapshotStore, write_snapshot
from serving.text import Texts
from serving.web.portfolio import PortfolioIndex, PortfolioQuery

TEXTS = Texts.load(DEFAULT_PLAYBOOK)
ACTIVE = [2, 3, 4, 9, 10, 11]  # active customers of the sample (stages active, loyal, at_risk)


def crm_record(i: int) -> dict[str, Any]:
    tags = {2: ["buying", "quality_oriented"], 3: ["interacting"], 4: ["buying"], 9: ["quality_oriented"]}
    managers = {2: "Wang Fang", 3: "Li Lei", 4: "Wang Fang", 10: "Li Lei"}
    return {**record(i), "tags": tags.get(i, []), "account_manager": managers.get(i)}


@pytest.fixture
def index(tmp_path: Path) -> PortfolioIndex:
    path = write_snapshot(sample_frame([crm_record(i) for i in ACTIVE]), tmp_path / "scores.parquet")
    return PortfolioIndex(SnapshotStore(path), TEXTS)


def ids(index: PortfolioIndex, query: PortfolioQuery, lang: str = "en") -> list[str]:
    return sorted(str(row["customer_id"]) for row in index.page(query, lang).rows)  # type: ignore[arg-type]


def test_the_portfolio_filters_by_tag_and_lists_the_tags_present_in_playbook_order(
    index: PortfolioIndex,
) -> None:
    assert ids(index, PortfolioQuery(tag="buying")) == ["C002", "C004"]
    assert ids(index, PortfolioQuery(tag="quality_oriented")) == ["C002", "C009"]
    assert index.page(PortfolioQuery()).tags == ("buying", "interacting", "quality_oriented")
    assert len(ids(index, PortfolioQuery(tag="browsing"))) == len(ACTIVE)  # nobody carries it: dropped


def test_rows_carry_tag_labels_in_the_page_language(index: PortfolioIndex) -> None:
    (row,) = [
        row for row in index.page(PortfolioQuery(tag="buying"), "zh").rows if row["customer_id"] == "C002"
    ]

    assert row["tags"] == ["buying", "quality_oriented"]
    assert row["tag_labels"] == ["购买型", "品质导向型"]
    assert row["account_manager"] == "Wang Fang"


def test_my_customers_are_those_of_the_manager_the_signed_in_key_is_mapped_to(index: PortfolioIndex) -> None:
    mine = PortfolioQuery.from_params({"mine": "1"}, 25, (), signed_in_manager="Wang Fang")
    unmapped = PortfolioQuery.from_params({"mine": "1"}, 25, (), signed_in_manager=None)
    chosen = PortfolioQuery.from_params({"manager": "Li Lei"}, 25, ())
    nobody = PortfolioQuery.from_params({"manager": "Zhang Wei"}, 25, ())

    assert (mine.mine, mine.manager, mine.as_params()) == (True, "Wang Fang", {"mine": "1"})
    assert ids(index, mine) == ["C002", "C004"]
    assert (unmapped.mine, unmapped.manager) == (False, None) and len(ids(index, unmapped)) == len(ACTIVE)
    assert ids(index, chosen) == ["C003", "C010"] and chosen.as_params() == {"manager": "Li Lei"}
    assert ids(index, nobody) == []  # a manager without customers sees none, not everyone's
    assert index.page(PortfolioQuery()).managers == ("Li Lei", "Wang Fang")


def test_a_mine_link_ignores_a_manager_typed_into_the_address(index: PortfolioIndex) -> None:
    query = PortfolioQuery.from_params(
        {"mine": "1", "manager": "Li Lei"}, 25, (), signed_in_manager="Wang Fang"
    )

    assert ids(index, query) == ["C002", "C004"]


def test_settings_map_keys_in_clear_or_as_digests_to_managers() -> None:
    digest = "8d969eef6ecad3c29a3a629280e686cf0c3f5d5a86aff3ca12020c923adc6c92"  # SHA-256 of "123456"
    settings = Settings(account_manager_keys=f"key-of-wang=Wang Fang, {digest} = Li Lei")  # type: ignore[arg-type]

    assert settings.account_manager_for_key("key-of-wang") == "Wang Fang"
    assert settings.account_manager_for_key("123456") == "Li Lei"
    assert settings.account_manager_for_key("another") is None
    assert "key-of-wang" not in str(settings.account_manager_keys)


@pytest.fixture
def signed_in(tmp_path: Path) -> Iterator[TestClient]:
    app = sample_app(tmp_path, with_snapshot=False)
    write_sample(tmp_path / "scores.parquet", [crm_record(i) for i in ACTIVE])
    with TestClient(app, follow_redirects=False) as client:
        app.state.initial_load.join(timeout=10)
        assert sign_in(client, API_KEY, "/portfolio").status_code == 303
        yield client


@pytest.mark.parametrize(("lang", "label"), [("en", "Buying type"), ("zh", "购买型")])
def test_the_portfolio_page_filters_by_tag_and_shows_tags_and_managers(
    signed_in: TestClient, lang: str, label: str
) -> None:
    html = signed_in.get("/portfolio", params={"tag": "buying", "lang": lang}).text

    assert html.count('data-customer="') == 2
    assert 'data-customer="C002"' in html and 'data-customer="C004"' in html
    assert 'data-tags="buying quality_oriented"' in html
    assert label in html and "Wang Fang" in html
    assert 'id="filter-tag"' in html and 'id="filter-manager"' in html
    assert 'id="my-customers"' not in html  # this key is mapped to no manager


def test_the_portfolio_page_filters_by_manager(signed_in: TestClient) -> None:
    html = signed_in.get("/portfolio", params={"manager": "Li Lei"}).text

    assert sorted(part.split('"')[0] for part in html.split('data-customer="')[1:]) == ["C003", "C010"]


@pytest.mark.parametrize(
    ("lang", "texts"), [("en", ("Buying type", "Account manager")), ("zh", ("购买型", "客户经理"))]
)
def test_the_customer_page_shows_tags_and_the_named_manager(
    signed_in: TestClient, lang: str, texts: tuple[str, str]
) -> None:
    html = signed_in.get("/customers/C002", params={"lang": lang}).text
    bare = signed_in.get("/customers/C011", params={"lang": lang}).text

    assert 'data-tag="buying"' in html and 'data-tag="quality_oriented"' in html
    assert all(text in html for text in texts) and "Wang Fang" in html
    assert 'data-tag="' not in bare
    no_manager = "No named manager" if lang == "en" else "未指定客户经理"
    assert no_manager in bare
