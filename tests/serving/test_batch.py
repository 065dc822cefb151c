"""Batch scoring (`clvchurn score`) against the online endpoint's engine, on real trained models."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from trained_models import AS_OF, TrainedModels, request_for, trained_models

from features.build import build_features
from serving.batch import score_base, timeline_events
from serving.schemas import Prediction
from serving.snapshot_store import prediction_from_row, write_snapshot

AGREEMENT_CUSTOMERS = 20


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TrainedModels:
    return trained_models(tmp_path_factory)


@pytest.fixture(scope="module")
def batch(models: TrainedModels) -> list[Prediction]:
    return score_base(models.raw, AS_OF, models.engine)


def test_batch_scores_every_customer_of_the_population_once_in_id_order(
    models: TrainedModels, batch: list[Prediction]
) -> None:
    population = build_features(models.raw, AS_OF)["customer_id"].to_list()

    assert [prediction.customer_id for prediction in batch] == population


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_online_prediction_equals_the_snapshot_row_exactly(
    models: TrainedModels, batch: list[Prediction], tmp_path: Path, lang: str
) -> None:
    scored = batch if lang == "en" else score_base(models.raw, AS_OF, models.engine, lang)
    snapshot = write_snapshot(scored, tmp_path / "scores.parquet")
    rows = {row["customer_id"]: row for row in pl.read_parquet(snapshot).iter_rows(named=True)}
    by_id = {prediction.customer_id: prediction for prediction in scored}
    step = len(scored) // AGREEMENT_CUSTOMERS
    chosen = [scored[i * step].customer_id for i in range(AGREEMENT_CUSTOMERS)]

    for customer_id in chosen:
        online = models.engine.predict([request_for(models.raw, customer_id)], lang)[0]

        assert online == by_id[customer_id], customer_id
        assert online.model_dump_json() == by_id[customer_id].model_dump_json(), customer_id
        assert online == prediction_from_row(rows[customer_id]), customer_id


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
