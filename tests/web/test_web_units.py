"""The page modules on tiny hand-made data: portfolio query, events file, reason bars, models view."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
from support.web_sample import TEXTS, models_info, prediction, record, sample_frame

from domain.errors import EventsFormatError
from serving.events import events_path_for
from serving.schemas import ModelsInfo, Reason
from serving.serialise import prediction_from_record
from serving.snapshot_store import SnapshotStore, write_snapshot
from serving.text import Catalogues
from serving.web.customer_view import action_view, reason_bars
from serving.web.models_view import challenger_card, key_metrics, run_url
from serving.web.portfolio import PortfolioIndex, PortfolioQuery
from serving.web.timeline import EventsStore, TimelineEvent, timeline_marks

CATALOGUES = Catalogues.load()


def scored(
    customer: str, probability: float, value: float, owner: str = "marketing", tier: str = "A"
) -> dict:
    """A snapshot record like the sample's customer 4 (action vip_rescue_call), with these numbers."""
    return {
        **record(4),
        "customer_id": customer,
        "tier": tier,
        "churn_probability": probability,
        "predicted_value": value,
        "value_if_retained": value,
        "value_at_risk": probability * value,
        "action_owner": owner,
    }


def snapshot_of(
    *customers: tuple[str, float, float], owner: str = "marketing", tier: str = "A"
) -> list[dict]:
    """`scored` customers (id, probability, value) as snapshot records."""
    return [scored(*customer, owner=owner, tier=tier) for customer in customers]


def write(records: list[dict], path: Path) -> Path:
    return write_snapshot(sample_frame(records), path)


def test_portfolio_ranks_ties_by_id_and_totals_the_selection(tmp_path: Path) -> None:
    four = snapshot_of(("b", 0.5, 100.0), ("c", 0.9, 100.0), ("d", 0.1, 100.0))
    account_manager = snapshot_of(("a", 0.25, 200.0), owner="account_manager")
    tier_b = snapshot_of(("c", 0.9, 100.0), tier="B")
    path = write([four[0], account_manager[0], tier_b[0], four[2]], tmp_path / "scores.parquet")
    index = PortfolioIndex(SnapshotStore(path), TEXTS)
    page = index.page(PortfolioQuery(page_size=3))
    assert [row["customer_id"] for row in page.rows] == ["c", "a", "b"]
    assert (page.total, page.pages, page.currency) == (4, 2, "EUR")
    assert page.total_priority == 200.0  # 0.9 x 100 + 0.25 x 200 + 0.5 x 100 + 0.1 x 100
    assert page.owners == ("account_manager", "marketing")
    assert page.rows[1]["owner"] == "account_manager" and page.rows[1]["due_date"] == "2025-07-08"
    only_a = index.page(PortfolioQuery(tier="A", owner="marketing", page=5, page_size=3))
    assert ([row["customer_id"] for row in only_a.rows], only_a.page) == (["b", "d"], 1)


def test_portfolio_rows_carry_the_texts_of_the_asked_language(tmp_path: Path) -> None:
    path = write(snapshot_of(("a", 0.5, 100.0), owner="account_manager"), tmp_path / "s.parquet")
    index = PortfolioIndex(SnapshotStore(path), TEXTS)

    [chinese] = index.page(PortfolioQuery(), "zh").rows
    [english] = index.page(PortfolioQuery()).rows

    assert (chinese["action_title"], chinese["owner_label"]) == ("24 小时内致电高价值客户", "客户经理")
    assert (english["action_title"], english["owner_label"]) == (
        "Call the high-value customer within 24 hours",
        "Account manager",
    )
    assert {name for name in chinese if name.endswith(("_en", "_zh"))} == set()


def test_portfolio_follows_a_rewritten_snapshot(tmp_path: Path) -> None:
    path = write(snapshot_of(("a", 0.5, 100.0)), tmp_path / "scores.parquet")
    index = PortfolioIndex(SnapshotStore(path), TEXTS)
    assert index.page(PortfolioQuery()).total == 1
    write(snapshot_of(("a", 0.5, 100.0), ("b", 0.5, 10.0)), path)
    os.utime(path, ns=(1, 1))
    assert [row["customer_id"] for row in index.page(PortfolioQuery()).rows] == ["a", "b"]


def test_query_from_params_drops_unknown_values_and_keeps_links_short() -> None:
    query = PortfolioQuery.from_params(
        {
            "tier": "B",
            "risk": "x",
            "owner": "marketing",
            "q": "  C1 ",
            "page": "-3",
            "sort": "predicted_value",
        },
        page_size=10,
        owners=("marketing",),
    )
    assert query == PortfolioQuery(
        tier="B", owner="marketing", search="C1", sort="predicted_value", page_size=10
    )
    assert query.as_params(page=2) == {
        "tier": "B",
        "owner": "marketing",
        "q": "C1",
        "sort": "predicted_value",
        "page": "2",
    }


def test_events_store_slices_one_customer_and_accepts_a_value_column(tmp_path: Path) -> None:
    snapshot = tmp_path / "scores.parquet"
    events = events_path_for(snapshot)
    assert events == tmp_path / "scores.events.parquet"
    store = EventsStore(events)
    assert store.events("a") == []
    pl.DataFrame(
        {
            "customer_id": ["b", "a", "a", "c"],
            "timestamp": [
                datetime(2024, 1, 3),
                datetime(2024, 1, 2),
                datetime(2024, 1, 1),
                datetime(2024, 1, 1),
            ],
            "kind": ["order", "survey", "order", "refund"],
            "value": [5.0, 4.0, 10.0, -1.0],
        }
    ).write_parquet(events)
    assert store.events("a") == [
        TimelineEvent(datetime(2024, 1, 1), "order", 10.0),
        TimelineEvent(datetime(2024, 1, 2), "survey", 4.0),
    ]
    assert store.events("zz") == []


def test_events_file_without_kind_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "scores.events.parquet"
    pl.DataFrame({"customer_id": ["a"], "timestamp": [datetime(2024, 1, 1)]}).write_parquet(path)
    with pytest.raises(EventsFormatError, match=r"scores\.events\.parquet lacks columns \['kind'\]"):
        EventsStore(path).events("a")


def test_timeline_marks_span_first_event_to_scoring_date() -> None:
    events = [
        TimelineEvent(datetime(2024, 1, 1), "order", 10.0),
        TimelineEvent(datetime(2024, 1, 3), "call", None),
    ]
    marks = timeline_marks(events, until=datetime(2024, 1, 5))
    assert [(mark.x, mark.row, mark.title) for mark in marks] == [
        (0.0, 0, "2024-01-01 order 10.00"),
        (500.0, 1, "2024-01-03 call"),
    ]


def test_reason_bars_scale_to_the_largest_contribution() -> None:
    reasons = [
        Reason(
            feature="orders_90d",
            value=1,
            contribution=-0.02,
            direction="decreases",
            sentence="s1",
            label="L",
            impact="-2.0",
        ),
        Reason(
            feature="mystery_score",
            value=1,
            contribution=0.08,
            direction="increases",
            sentence="s2",
            label="M",
            impact="+8.0",
        ),
    ]
    bars = reason_bars(reasons)
    assert [(bar.label, bar.impact, bar.x, bar.width) for bar in bars] == [
        ("L", "-2.0", 75.0, 25.0),
        ("M", "+8.0", 100.0, 100.0),
    ]


def test_action_shows_the_decision_in_the_page_language() -> None:
    chinese = prediction(4, "zh")
    view = action_view(chinese, CATALOGUES["zh"])
    assert (view.title, view.owner_label, view.due_date, view.due_within) == (
        "24 小时内致电高价值客户",
        "客户经理",
        date(2025, 7, 8),
        "7 天内",
    )
    assert view.steps == CATALOGUES["zh"].texts("action.vip_rescue_call.steps")


def test_an_action_the_playbook_no_longer_defines_is_shown_by_its_id() -> None:
    gone = prediction_from_record({**record(4), "action_id": "house_special"}, "zh", TEXTS)

    view = action_view(gone, CATALOGUES["zh"])

    assert (view.id, view.title, view.steps, view.owner_label) == (
        "house_special",
        "house_special",
        [],
        "客户经理",
    )


def test_key_metrics_follow_the_report_card() -> None:
    assert key_metrics({"rows_train": 9.0, "brier": 0.2, "roc_auc": 0.8}) == [
        ("roc_auc", 0.8),
        ("brier", 0.2),
    ]
    assert key_metrics({"zeta": 1.0, "alpha": 2.0}) == [("alpha", 2.0), ("zeta", 1.0)]
    assert run_url("http://mlflow:5000/", "abc") == "http://mlflow:5000/#/runs/abc"
    assert run_url("", None) is None


def test_challenger_card_shows_the_pair_and_survives_a_registry_error() -> None:
    found = models_info("4", "r4", 0.9, datetime(2025, 7, 2))
    card = challenger_card(lambda: found, "")
    assert card is not None
    assert (card.role, card.version, card.run_url) == ("challenger", "4", "/#/runs/r4")
    assert [(model.name, model.metrics[0]) for model in card.models] == [
        ("churn", ("roc_auc", 0.9)),
        ("value", ("mae", 12.5)),
    ]
    assert challenger_card(lambda: None, "") is None

    def unreachable() -> ModelsInfo | None:
        raise ConnectionError("registry down")

    assert challenger_card(unreachable, "") is None
