"""Batch scoring (`clvchurn score`) against the online endpoint's engine, on real trained models."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from trained_models import AS_OF, TrainedModels, request_for, trained_models

from features.build import build_features
from serving.batch import score_base, timeline_events
from serving.schemas import Prediction
from serving.snapshot_store import (
    SNAPSHOT_SCHEMA,
    SnapshotStore,
    action_column,
    explanations_column,
    prediction_from_row,
    write_snapshot,
    write_snapshot_frame,
)

AGREEMENT_CUSTOMERS = 20
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TrainedModels:
    return trained_models(tmp_path_factory)


@pytest.fixture(scope="module")
def base(models: TrainedModels) -> pl.DataFrame:
    return score_base(models.raw, AS_OF, models.engine)


@pytest.fixture(scope="module")
def snapshot(base: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_snapshot_frame(base, tmp_path_factory.mktemp("snapshot") / "scores.parquet")


@pytest.fixture(scope="module")
def scored(base: pl.DataFrame) -> dict[str, list[Prediction]]:
    """The batch's rows as the API's predictions, in each language."""
    rows = list(base.iter_rows(named=True))
    return {lang: [prediction_from_row(row, lang) for row in rows] for lang in ("en", "zh")}


@pytest.fixture(scope="module")
def batch(scored: dict[str, list[Prediction]]) -> list[Prediction]:
    return scored["en"]


def test_batch_scores_every_customer_of_the_population_once_in_id_order(
    models: TrainedModels, batch: list[Prediction]
) -> None:
    population = build_features(models.raw, AS_OF)["customer_id"].to_list()

    assert [prediction.customer_id for prediction in batch] == population


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_online_prediction_equals_the_snapshot_row_exactly(
    models: TrainedModels, scored: dict[str, list[Prediction]], snapshot: Path, lang: str
) -> None:
    rows = {row["customer_id"]: row for row in pl.read_parquet(snapshot).iter_rows(named=True)}
    by_id = {prediction.customer_id: prediction for prediction in scored[lang]}
    step = len(scored[lang]) // AGREEMENT_CUSTOMERS
    chosen = [scored[lang][i * step].customer_id for i in range(AGREEMENT_CUSTOMERS)]

    for customer_id in chosen:
        online = models.engine.predict([request_for(models.raw, customer_id)], lang)[0]
        row = rows[customer_id]

        assert online == by_id[customer_id], customer_id
        assert online.model_dump_json() == by_id[customer_id].model_dump_json(), customer_id
        assert online == prediction_from_row(row, lang), customer_id
        assert online.explanations.model_dump_json() == row[explanations_column(lang)], customer_id
        assert online.recommended_action.model_dump_json() == row[action_column(lang)], customer_id


def test_one_multilingual_pass_equals_one_pass_per_language(
    models: TrainedModels, scored: dict[str, list[Prediction]]
) -> None:
    features = build_features(models.raw, AS_OF).head(300)

    for lang in ("en", "zh"):
        assert models.engine.score_features(features, lang) == scored[lang][:300], lang


def test_the_batch_columns_equal_the_predictions_of_the_same_rows(
    models: TrainedModels, base: pl.DataFrame, tmp_path: Path
) -> None:
    """The column writer and the `Prediction` builder give the same bytes, row by row, in each language."""
    features = build_features(models.raw, AS_OF).head(300)
    predictions = models.engine.score_features_multilingual(features, ("en", "zh"))
    expected = write_snapshot(predictions, tmp_path / "scores.parquet")

    assert pl.read_parquet(expected).equals(base.head(300))


def test_the_snapshot_holds_every_language_with_the_same_numbers(
    scored: dict[str, list[Prediction]], snapshot: Path
) -> None:
    store = SnapshotStore(snapshot)
    customer_id = max(scored["en"], key=lambda p: len(p.explanations.churn)).customer_id

    english, chinese = store.get(customer_id, "en"), store.get(customer_id, "zh")

    assert english is not None and chinese is not None
    assert chinese.model_dump(exclude={"explanations", "recommended_action"}) == english.model_dump(
        exclude={"explanations", "recommended_action"}
    )
    churn_en, churn_zh = english.explanations.churn, chinese.explanations.churn
    assert len(churn_en) == 3
    assert [(r.feature, r.contribution) for r in churn_zh] == [(r.feature, r.contribution) for r in churn_en]
    assert all(CHINESE.search(r.sentence) for r in churn_zh + chinese.explanations.value)
    assert not any(CHINESE.search(r.sentence) for r in churn_en + english.explanations.value)
    assert chinese.recommended_action.id == english.recommended_action.id
    assert CHINESE.search(chinese.recommended_action.title)
    assert not CHINESE.search(english.recommended_action.title)
    assert set(pl.read_parquet_schema(snapshot)) >= {
        "explanations_en",
        "explanations_zh",
        "recommended_action_en",
        "recommended_action_zh",
    }


def test_the_agreement_sample_covers_several_tiers_and_stages(batch: list[Prediction]) -> None:
    step = len(batch) // AGREEMENT_CUSTOMERS
    chosen = [batch[i * step] for i in range(AGREEMENT_CUSTOMERS)]

    assert len({prediction.tier for prediction in chosen}) >= 3
    assert len({prediction.lifecycle_stage for prediction in chosen}) >= 3


def test_batch_predictions_are_valid_responses(batch: list[Prediction]) -> None:
    """Predictions are assembled without validation; validating them again must change nothing."""
    for prediction in batch[:200]:
        assert Prediction.model_validate(prediction.model_dump()) == prediction


def test_timeline_events_keep_only_events_before_the_cutoff(models: TrainedModels) -> None:
    events = timeline_events(models.raw, AS_OF)
    before = (
        models.raw.transactions.filter(pl.col("timestamp") < AS_OF).height
        + models.raw.interactions.filter(pl.col("timestamp") < AS_OF).height
    )

    assert events.height == before
    assert events.filter(pl.col("timestamp") >= AS_OF).height == 0
    assert set(events.filter(pl.col("amount") < 0)["kind"].unique()) == {"refund"}


def test_an_empty_feature_table_gives_an_empty_snapshot_with_every_column(models: TrainedModels) -> None:
    features = build_features(models.raw, AS_OF).head(0)

    empty = models.engine.score_snapshot(features, ("en", "zh"))

    assert empty.height == 0
    assert dict(empty.schema) == SNAPSHOT_SCHEMA


def test_pipelined_chunks_give_the_rows_of_one_whole_table(
    models: TrainedModels, base: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small chunks exercise the background thread: every chunk's rows equal the one-chunk table's."""
    monkeypatch.setattr("serving.batch.CHUNK_ROWS", 7)
    progress: list[tuple[int, int]] = []

    chunked = score_base(
        models.raw, AS_OF, models.engine, progress=lambda done, total: progress.append((done, total))
    )

    assert base.height > 3 * 7
    assert chunked.equals(base)
    whole = models.engine.score_snapshot(build_features(models.raw, AS_OF), ("en", "zh"))
    assert chunked.equals(whole)
    assert [done for done, _ in progress] == sorted(
        {min(end, base.height) for end in range(7, base.height + 7, 7)}
    )


def test_a_failure_while_computing_a_chunk_reaches_the_caller_and_stops_the_work(
    models: TrainedModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    features = build_features(models.raw, AS_OF)
    chunks = [features.slice(start, 5) for start in range(0, 25, 5)]
    computed: list[int] = []
    numbers = models.engine._numbers

    def failing_on_the_second(chunk: pl.DataFrame, langs: tuple[str, ...]):  # type: ignore[no-untyped-def]
        computed.append(len(computed))
        if len(computed) == 2:
            raise RuntimeError("TreeSHAP failed")
        return numbers(chunk, langs)

    monkeypatch.setattr(models.engine, "_numbers", failing_on_the_second)
    written = []
    with pytest.raises(RuntimeError, match="TreeSHAP failed"):
        for frame in models.engine.score_snapshot_chunks(chunks, ("en",)):
            written.append(frame)

    assert len(written) == 1
    assert len(computed) <= 3  # at most the chunk already queued after the failing one, never all five
