"""Batch scoring: the whole customer base through the same features and engine as the online endpoint.

`clvchurn score` writes the snapshot that GET /v1/customers/{id} and the portfolio pages serve (codes
only: the readers render words in their own language), and beside it the events file the customer
page draws its timeline from (`serving.events`).

The base is scored in chunks to bound memory. The models and TreeSHAP release the GIL while they run,
and the reason coding and policy are Python and numpy, so one background thread computing chunk
i+1's model outputs while chunk i is decided keeps both cores busy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

import polars as pl

from features.build import build_features
from features.contract import RawData
from serving.predictor import ModelOutputs, Predictor
from serving.serialise import empty_snapshot

logger = logging.getLogger(__name__)

CHUNK_ROWS = 20_000


def score_base(
    raw: RawData,
    as_of: datetime,
    predictor: Predictor,
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """Every customer known at `as_of` in the snapshot format (`serving.serialise`), in id order.

    For each customer the rows hold exactly what POST /v1/predict answers for their history.
    """
    scored = score_features(build_features(raw, as_of), predictor, progress)
    logger.info("Scored %d customers as of %s", scored.height, as_of)
    return scored


def score_features(
    features: pl.DataFrame,
    predictor: Predictor,
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """The snapshot rows of a feature table `build_features` made, in its order: `score_base` for a
    caller that keeps the features too (the snapshot history files them for drift)."""
    slices = (features.slice(start, CHUNK_ROWS) for start in range(0, features.height, CHUNK_ROWS))
    chunks: list[pl.DataFrame] = []
    for frame in score_chunks(predictor, slices):
        chunks.append(frame)
        if progress is not None:
            progress(sum(chunk.height for chunk in chunks), features.height)
    return pl.concat(chunks) if chunks else empty_snapshot()


def score_chunks(predictor: Predictor, chunks: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """The snapshot rows of each feature chunk in order, the next chunk's model outputs computed
    meanwhile; the same rows as `predictor.score(chunk).to_frame()` chunk by chunk."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clvchurn-models")
    try:
        pending: Future[ModelOutputs] | None = None
        for chunk in chunks:
            upcoming = pool.submit(predictor.model_outputs, chunk)
            if pending is not None:
                yield predictor.decide(pending.result()).to_frame()
            pending = upcoming
        if pending is not None:
            yield predictor.decide(pending.result()).to_frame()
    finally:
        # On an error or an early close, a chunk not started yet is dropped, not computed.
        pool.shutdown(wait=True, cancel_futures=True)
