"""Batch scoring (`clvchurn score`) against the online endpoint's engine, on real trained models."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from support.trained import AS_OF, TrainedModels, request_for

from features.build import build_features
from serving.batch import score_base, score_chunks
from serving.events import timeline_events
from serving.predictor import Predictor
from serving.schemas import Prediction
from serving.serialise import SNAPSHOT_SCHEMA, prediction_from_record
from serving.snapshot_store import SnapshotStore, write_snapshot

AGREEMENT_CUSTOMERS = 20
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def models(trained: TrainedModels) -> TrainedModels:
    return trained


@pytest.fixture(scope="module")
def base(models: TrainedModels) -> pl.DataFrame:
    return score_base(models.raw, AS_OF, models.engine)


@pytest.fixture(scope="module")
def snapshot(base: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_snapshot(base, tmp_path_factory.mktemp("snapshot") / "scores.parquet")


@pytest.fixture(scope="module")
def scored(models: TrainedModels, base: pl.DataFrame) -> dict[str, list[Prediction]]:
    """The batch's rows as the API renders them, in each language."""
    texts = models.engine.texts
    rows = list(base.iter_rows(named=True))
    return {lang: [prediction_from_record(row, lang, texts) for row in rows] for lang in ("en", "zh")}


def test_batch_scores_every_customer_of_the_population_once_in_id_order(
    models: TrainedModels, base: pl.DataFrame
) -> None:
    population = build_features(models.raw, AS_OF)["customer_id"].to_list()

    assert base["customer_id"].to_list() == population
    assert dict(base.schema) == SNAPSHOT_SCHEMA


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_online_prediction_equals_the_snapshot_answer_exactly(
    models: TrainedModels, scored: dict[str, list[Prediction]], snapshot: Path, lang: str
) -> None:
    store = SnapshotStore(snapshot)
    step = len(scored[lang]) // AGREEMENT_CUSTOMERS
    chosen = [scored[lang][i * step] for i in range(AGREEMENT_CUSTOMERS)]

    for from_batch in chosen:
        customer_id = from_batch.customer_id
        online = models.engine.predict([request_for(models.raw, customer_id)], lang)[0]
        record = store.record(customer_id)

        assert record is not None
        assert online == from_batch, customer_id
        assert online.model_dump_json() == from_batch.model_dump_json(), customer_id
        assert online == prediction_from_record(record, lang, models.engine.texts), customer_id


def test_the_snapshot_stores_codes_and_renders_every_language_with_the_same_numbers(
    models: TrainedModels, scored: dict[str, list[Prediction]], snapshot: Path
) -> None:
    store = SnapshotStore(snapshot)
    customer_id = max(scored["en"], key=lambda p: len(p.explanations.churn)).customer_id
    record = store.record(customer_id)
    assert record is not None

    english = prediction_from_record(record, "en", models.engine.texts)
    chinese = prediction_from_record(record, "zh", models.engine.texts)

    in_words = {"explanations", "recommended_action", "tag_labels"}
    assert chinese.model_dump(exclude=in_words) == english.model_dump(exclude=in_words)
    assert len(chinese.tag_labels) == len(english.tag_labels) == len(english.tags)
    churn_en, churn_zh = english.explanations.churn, chinese.explanations.churn
    assert len(churn_en) == 3
    assert [(r.feature, r.contribution) for r in churn_zh] == [(r.feature, r.contribution) for r in churn_en]
    assert all(CHINESE.search(r.sentence) for r in churn_zh + chinese.explanations.value)
    assert not any(CHINESE.search(r.sentence) for r in churn_en + english.explanations.value)
    assert chinese.recommended_action.id == english.recommended_action.id
    assert CHINESE.search(chinese.recommended_action.title)
    assert not CHINESE.search(english.recommended_action.title)
    # Words are never stored: no column holds a sentence or a title.
    text_columns = [name for name, dtype in pl.read_parquet_schema(snapshot).items() if dtype == pl.String]
    assert not any(CHINESE.search(str(value)) for name in text_columns for value in record.values())
    assert "explanations_en" not in pl.read_parquet_schema(snapshot)


def test_the_agreement_sample_covers_several_tiers_and_stages(scored: dict[str, list[Prediction]]) -> None:
    batch = scored["en"]
    step = len(batch) // AGREEMENT_CUSTOMERS
    chosen = [batch[i * step] for i in range(AGREEMENT_CUSTOMERS)]

    assert len({prediction.tier for prediction in chosen}) >= 3
    assert len({prediction.lifecycle_stage for prediction in chosen}) >= 3


def test_rendered_predictions_are_valid_responses(scored: dict[str, list[Prediction]]) -> None:
    """Predictions are assembled without validation; validating them again must change nothing."""
    for prediction in scored["en"][:200] + scored["zh"][:200]:
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

    empty = models.engine.score(features).to_frame()

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
    whole = models.engine.score(build_features(models.raw, AS_OF)).to_frame()
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
    model_outputs = Predictor.model_outputs

    def failing_on_the_second(engine: Predictor, chunk: pl.DataFrame):  # type: ignore[no-untyped-def]
        computed.append(len(computed))
        if len(computed) == 2:
            raise RuntimeError("TreeSHAP failed")
        return model_outputs(engine, chunk)

    monkeypatch.setattr(Predictor, "model_outputs", failing_on_the_second)
    written = []
    with pytest.raises(RuntimeError, match="TreeSHAP failed"):
        for frame in score_chunks(models.engine, chunks):
            written.append(frame)

    assert len(written) == 1
    assert len(computed) <= 3  # at most the chunk already queued after the failing one, never all five
