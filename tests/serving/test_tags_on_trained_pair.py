"""Playbook tags on the real trained pair: the snapshot's tags recomputed by hand from the features and
the resolved thresholds, the same tags online, labels in both languages, and a rule that reads tags."""

from __future__ import annotations

import operator
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from support.trained import AS_OF, TrainedModels, request_for

from domain.vocabulary import Language
from features.build import build_features
from policy.playbook import DEFAULT_PLAYBOOK
from serving.batch import score_base
from serving.predictor import Predictor
from serving.serialise import prediction_from_record
from serving.text import Texts

OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@pytest.fixture(scope="module")
def base(trained: TrainedModels) -> pl.DataFrame:
    return score_base(trained.raw, AS_OF, trained.engine)


def _by_hand(engine: Predictor, features: pl.DataFrame, snapshot: pl.DataFrame) -> list[list[str]]:
    """Each customer's tags from the resolved bounds, one Python comparison at a time."""
    rows = features.join(snapshot.select("customer_id", "population", "lifecycle_stage"), on="customer_id")
    found = []
    for row in rows.sort("customer_id").iter_rows(named=True):
        tags = []
        for resolved in engine.tag_rules.resolved:
            when = resolved.tag.when

            def holds(bound: Any, row: dict[str, Any] = row) -> bool:
                value = row.get(bound.feature)
                return value is not None and bool(OPERATORS[bound.operator](value, bound.value))

            if (
                resolved.enabled
                and (when.population is None or row["population"] in when.population)
                and (when.lifecycle_stage is None or row["lifecycle_stage"] in when.lifecycle_stage)
                and all(holds(bound) for bound in resolved.every)
                and (not resolved.any or any(all(holds(b) for b in group) for group in resolved.any))
            ):
                tags.append(resolved.id)
        found.append(tags)
    return found


def test_the_snapshot_carries_each_customers_tags_as_the_playbook_defines_them(
    trained: TrainedModels, base: pl.DataFrame
) -> None:
    features = build_features(trained.raw, AS_OF)

    assert base.sort("customer_id")["tags"].to_list() == _by_hand(trained.engine, features, base)
    counts = base["tags"].explode().drop_nulls().value_counts().to_dict(as_series=False)
    carried = dict(zip(counts["tags"], counts["count"], strict=True))
    # The synthetic base has no discount data, so nobody is price-sensitive; the other tags occur.
    assert "price_sensitive" not in carried
    assert {"buying", "interacting", "service_dependent", "quality_oriented"} <= set(carried)
    assert all(0 < count < base.height for count in carried.values())


def test_quantile_bounds_are_resolved_from_the_pairs_reference_distribution(trained: TrainedModels) -> None:
    resolved = {tag.id: tag for tag in trained.engine.tag_rules.resolved}
    orders = trained.engine.pair.metadata.reference_distribution["features"]["orders_365d"]

    (at_least, above) = resolved["buying"].thresholds["orders_365d"]

    assert at_least == (">=", 2.0)
    assert above[0] == ">" and above[1] in orders["edges"]
    assert not resolved["price_sensitive"].enabled


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_online_tags_equal_the_snapshots_with_labels_in_the_language(
    trained: TrainedModels, base: pl.DataFrame, lang: Language
) -> None:
    tagged = base.filter(pl.col("tags").list.len() >= 2).sort("customer_id").head(3)
    assert tagged.height == 3
    texts = trained.engine.texts
    catalogue = texts.catalogues[lang]

    for record in tagged.iter_rows(named=True):
        (online,) = trained.engine.predict([request_for(trained.raw, record["customer_id"])], lang)
        from_snapshot = prediction_from_record(record, lang, texts)

        assert online.tags == from_snapshot.tags == record["tags"]
        assert (
            online.tag_labels
            == from_snapshot.tag_labels
            == [catalogue.text(f"tag.{code}.label") for code in record["tags"]]
        )
    assert catalogue.misses == set()


def test_a_rule_that_reads_tags_decides_for_the_tagged_customers(
    trained: TrainedModels, base: pl.DataFrame, tmp_path: Path
) -> None:
    document = DEFAULT_PLAYBOOK.read_text(encoding="utf-8").replace(
        "rules:\n",
        "rules:\n"
        "  - id: service_first\n"
        "    when: {tags: [service_dependent]}\n"
        "    action: {id: standard_follow_up, owner: marketing, due_within_days: 30,\n"
        "             success: {metric: renewal, days: 90, target: 0.90}, cost: 2}\n",
        1,
    )
    path = tmp_path / "playbook.yaml"
    path.write_text(document, encoding="utf-8")
    engine = Predictor(trained.engine.loaded, Texts.load(path), trained.tracking_uri)

    decided = score_base(trained.raw, AS_OF, engine)

    service = decided["tags"].list.contains("service_dependent")
    assert decided["rule_id"].to_list() == [
        "service_first" if has else rule for has, rule in zip(service, base["rule_id"], strict=True)
    ]
    assert service.sum() > 0


def test_the_named_account_manager_comes_from_the_customers_file_and_changes_no_number(
    trained: TrainedModels, base: pl.DataFrame
) -> None:
    customers = trained.raw.customers
    ids = customers["customer_id"].sort().to_list()
    managers = {ids[0]: "Wang Fang", ids[1]: " Li Lei ", ids[2]: ""}
    named = customers.with_columns(
        pl.col("customer_id")
        .replace_strict(managers, default=None, return_dtype=pl.String)
        .alias("account_manager")
    )
    raw = replace(trained.raw, customers=named)

    with_managers = score_base(raw, AS_OF, trained.engine)

    shown = dict(zip(with_managers["customer_id"], with_managers["account_manager"], strict=True))
    expected = {ids[0]: "Wang Fang", ids[1]: "Li Lei", ids[2]: None}
    assert {customer: shown.get(customer) for customer in expected if customer in shown} == {
        customer: name for customer, name in expected.items() if customer in shown
    }
    assert with_managers["account_manager"].drop_nulls().len() == sum(1 for c in ids[:2] if c in shown)
    assert with_managers.drop("account_manager").equals(base.drop("account_manager"))
    scored_id = next(customer for customer in ids[:2] if customer in shown)
    (online,) = trained.engine.predict([request_for(raw, scored_id)], "en")
    assert online.account_manager == expected[scored_id]
