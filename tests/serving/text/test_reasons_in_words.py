"""Reason codes in English and Chinese words, number formatting, catalogues and language negotiation."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest

from domain.errors import MissingTextError
from serving.reasons import code_reasons
from serving.text import Catalogue, Catalogues, ReasonWriter, RenderedReason, negotiate_language

REFERENCE: dict[str, Any] = {
    "overall": {"customers": 10, "features": {"orders_90d": {"median": 2.0}}},
    "tiers": {
        "A": {
            "customers": 3,
            "features": {
                "mean_days_between_orders": {"median": 21.0},
                "days_since_last_order": {"median": 15.0},
                "orders_90d": {"median": 5.0},
                "net_spend_365d": {"median": 12345.5},
                "complaints_365d": {"median": 0.0},
                "refund_share_of_spend": {"median": 0.02},
                "satisfaction_last": {"median": 4.0},
                "tenure_days": {"median": None},
            },
        }
    },
}
VALUES: dict[str, Any] = {
    "days_since_last_order": 142.3,
    "orders_90d": 1.0,
    "net_spend_365d": 1234.5,
    "complaints_365d": 3.0,
    "refund_share_of_spend": 0.125,
    "satisfaction_last": None,
    "orders_trend_90d": -2.0,
    "tenure_days": 400.0,
    "profile_region": "north",
    "mystery_score": 3.14159,
}


@pytest.fixture(scope="module")
def writer() -> ReasonWriter:
    return ReasonWriter(Catalogues.load())


def _reasons(
    writer: ReasonWriter,
    contributions: dict[str, float],
    values: dict[str, Any],
    tier: str,
    reference: dict[str, Any],
    kind: str,
    lang: str,
    top_n: int = 3,
    sentences: dict[tuple[Any, ...], str] | None = None,
) -> list[RenderedReason]:
    """Code one customer's reasons from named contributions, then render them."""
    names = list(contributions)
    frame = pl.DataFrame(
        {
            name: pl.Series(
                [values.get(name)], dtype=pl.String if name.startswith("profile_") else pl.Float64
            )
            for name in names
        }
    )
    codes = code_reasons(
        np.array([list(contributions.values())]),
        names,
        frame,
        np.array([tier], dtype=object),
        reference,
        top_n,
    )
    return [writer.render(code, kind, lang, sentences) for code in codes.row(0)]  # type: ignore[arg-type]


def _sentence(writer: ReasonWriter, feature: str, lang: str, tier: str = "A", value: Any = None) -> str:
    values = {**VALUES, feature: value} if value is not None else VALUES
    (reason,) = _reasons(writer, {feature: 0.042}, values, tier, REFERENCE, "churn", lang, top_n=1)
    return reason.sentence


@pytest.mark.parametrize(
    ("feature", "english", "chinese"),
    [
        (
            "days_since_last_order",
            "No order for 142 days; customers in tier A usually order every 21 days.",
            "已 142 天未下单；A 级客户通常每 21 天下单一次。",
        ),
        (
            "orders_90d",
            "1 order in the last 90 days; customers in tier A typically place 5 orders.",
            "近 90 天下单 1 笔订单；A 级客户通常为 5 笔订单。",
        ),
        (
            "net_spend_365d",
            "Net spend of 1,234.50 in the last 365 days; customers in tier A typically spend 12,345.50.",
            "近 365 天净消费 1,234.50；A 级客户通常为 12,345.50。",
        ),
        (
            "complaints_365d",
            "3 complaints in the last 365 days; customers in tier A typically have 0 complaints.",
            "近 365 天有 3 次投诉；A 级客户通常为 0 次投诉。",
        ),
        (
            "refund_share_of_spend",
            "12.5% of the amount ordered was refunded; for customers in tier A it is typically 2%.",
            "订单金额中有 12.5%被退款；A 级客户通常为 2%。",
        ),
        (
            "orders_trend_90d",
            "Orders fell by 2 in the last 90 days compared with the 90 days before.",
            "近 90 天订单比之前 90 天减少 2 笔订单。",
        ),
        (
            "satisfaction_last",
            "Latest satisfaction score: no data recorded.",
            "最近一次满意度评分：暂无记录。",
        ),
        ("tenure_days", "Customer for (days): 400 days.", "成为客户天数：400 天。"),
        ("profile_region", "Region: north.", "地区：north。"),
        ("mystery_score", "Mystery score: 3.14.", "Mystery score：3.14。"),
    ],
)
def test_exact_sentences_in_both_languages(
    writer: ReasonWriter, feature: str, english: str, chinese: str
) -> None:
    assert _sentence(writer, feature, "en") == english
    assert _sentence(writer, feature, "zh") == chinese


def test_recent_order_reads_differently_from_a_long_silence(writer: ReasonWriter) -> None:
    assert _sentence(writer, "days_since_last_order", "en", value=1.0) == (
        "Last order 1 day ago; customers in tier A usually order every 21 days."
    )
    assert _sentence(writer, "days_since_last_order", "zh", value=1.0) == (
        "最近一次下单在 1 天前；A 级客户通常每 21 天下单一次。"
    )


def test_unknown_tier_compares_with_all_customers(writer: ReasonWriter) -> None:
    assert _sentence(writer, "orders_90d", "en", tier="Z") == (
        "1 order in the last 90 days; customers overall typically place 2 orders."
    )


def test_top_n_by_absolute_contribution_with_direction_and_impact(writer: ReasonWriter) -> None:
    contributions = {"orders_90d": -0.05, "days_since_last_order": 0.042, "net_spend_365d": 0.01, "bias": 0.0}

    reasons = _reasons(writer, contributions, VALUES, "A", REFERENCE, "churn", "en", top_n=2)

    assert [(r.feature, r.direction, r.impact) for r in reasons] == [
        ("orders_90d", "decreases", "-5.0 points"),
        ("days_since_last_order", "increases", "+4.2 points"),
    ]
    assert reasons[0].value == 1.0
    assert reasons[1].contribution == 0.042


def test_value_contributions_are_currency(writer: ReasonWriter) -> None:
    (reason,) = _reasons(writer, {"net_spend_365d": 1234.567}, VALUES, "A", REFERENCE, "value", "zh", top_n=1)

    assert (reason.direction, reason.impact) == ("increases", "+1,234.57")


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        (None, None, "en"),
        ("zh", "en-US,en;q=0.9", "zh"),
        ("en", "zh-CN", "en"),
        ("fr", "zh-Hans;q=0.8, fr", "zh"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-GB;q=0.9, zh-Hans;q=0.5", "en"),
        (None, "de, zh;q=0", "en"),
        (None, "fr-FR, ZH_cn;q=0.4", "zh"),
        ("zh-Hans", None, "zh"),
        (None, "*", "en"),
    ],
)
def test_negotiate_language(query: str | None, header: str | None, expected: str) -> None:
    assert negotiate_language(query, header) == expected


def test_catalogues_have_the_same_keys_in_every_language() -> None:
    catalogues = Catalogues.load()

    assert set(catalogues["en"].entries) == set(catalogues["zh"].entries)


def test_catalogue_text_and_missing_key() -> None:
    catalogue = Catalogue.load("zh")

    assert catalogue.text("lifecycle_stage.at_risk") == "有流失风险"
    assert catalogue.text("peers.tier", tier="B") == "B 级客户"
    with pytest.raises(MissingTextError, match=r"zh\.yaml has no text for 'tier\.E'"):
        catalogue.text("tier.E")
    with pytest.raises(MissingTextError, match="needs parameter 'tier'"):
        catalogue.text("peers.tier")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_defined_feature_has_a_label_and_its_own_sentence(writer: ReasonWriter, lang: str) -> None:
    from features.definitions import FEATURES

    catalogue = writer.catalogues[lang]
    reference = {"tiers": {"B": {"features": {spec.name: {"median": 1.0} for spec in FEATURES}}}}
    generic = catalogue.text("reason.generic", label="", value="", peers="", median="")[:1]
    for spec in FEATURES:
        (reason,) = _reasons(writer, {spec.name: 0.1}, {spec.name: 2.0}, "B", reference, "churn", lang)
        assert reason.label == catalogue.text(f"feature.{spec.name}"), spec.name
        assert not reason.sentence.startswith(reason.label + generic), reason.sentence


def test_a_shared_sentence_memo_changes_no_reason(writer: ReasonWriter) -> None:
    """A batch reuses sentences across customers; each reason must still be the one computed afresh."""
    contributions = {"orders_90d": -0.05, "days_since_last_order": 0.042, "orders_trend_90d": 0.01}
    customers = [
        VALUES,
        {**VALUES, "orders_90d": 5.0},
        {**VALUES, "orders_trend_90d": -0.0},
        {**VALUES, "orders_trend_90d": 0.0},
        VALUES,
    ]
    other_peers = {"overall": {"customers": 4, "features": {"orders_90d": {"median": 9.0}}}}
    references = [("churn", REFERENCE), ("value", REFERENCE), ("churn", other_peers), ("value", other_peers)]
    memo: dict[tuple[Any, ...], str] = {}
    sentences = set()
    for kind, reference in references:
        for lang in ("en", "zh"):
            for tier in ("A", "Z"):
                for values in customers:
                    fresh = _reasons(writer, contributions, values, tier, reference, kind, lang)
                    shared = _reasons(
                        writer, contributions, values, tier, reference, kind, lang, sentences=memo
                    )
                    assert shared == fresh
                    sentences.update(reason.sentence for reason in fresh)
    assert 0 < len(memo) < len(references) * 2 * 2 * len(customers) * len(contributions)
    assert any("9 orders" in sentence for sentence in sentences)
