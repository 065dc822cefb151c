"""Micro-batching of concurrent single-customer requests.

Most of a one-customer prediction is fixed cost per call (planning the feature query, building the
model matrix, starting LightGBM), not per customer. Requests that arrive while the engine is busy
are therefore scored together in the next call: a lone request starts at once (no waiting window, so
no added latency), and under concurrent load each call serves everyone who queued meanwhile. The
results are the same as scoring each customer alone (features are per customer, predictions per row).
A request that cannot be scored fails alone: if a call fails, every request of it is scored alone
(`serving.isolation.predict_isolated`), so the others still get their predictions.

One batcher lives on `app.state`; it runs on the event loop, so its queue needs no lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi.concurrency import run_in_threadpool

from serving.engine import PredictionEngine
from serving.isolation import predict_isolated
from serving.schemas import Prediction, PredictRequest

logger = logging.getLogger(__name__)

MAX_CUSTOMERS_PER_CALL = 64


@dataclass
class _Waiting:
    request: PredictRequest
    lang: str
    result: asyncio.Future[Prediction] = field(repr=False)


class MicroBatcher:
    """Scores single-customer requests, grouping those that queue while a call is running."""

    def __init__(self, current_engine: Callable[[], PredictionEngine]) -> None:
        self._current_engine = current_engine
        self._queue: list[_Waiting] = []
        self._draining = False

    async def predict(self, request: PredictRequest, lang: str) -> Prediction:
        waiting = _Waiting(request, lang, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await waiting.result

    async def _drain(self) -> None:
        try:
            while self._queue:
                taken = self._queue[:MAX_CUSTOMERS_PER_CALL]
                del self._queue[:MAX_CUSTOMERS_PER_CALL]
                by_language: dict[str, list[_Waiting]] = defaultdict(list)
                for waiting in taken:
                    by_language[waiting.lang].append(waiting)
                for lang, group in by_language.items():
                    await self._score(group, lang)
        finally:
            self._draining = False

    async def _score(self, group: list[_Waiting], lang: str) -> None:
        try:
            engine = self._current_engine()
            outcomes = await run_in_threadpool(predict_isolated, engine, [w.request for w in group], lang)
        except Exception as error:  # the engine cannot score anyone; the route answers the usual error
            _fail(group, error)
            return
        for waiting, outcome in zip(group, outcomes, strict=True):
            if waiting.result.done():
                continue
            if isinstance(outcome, Exception):
                waiting.result.set_exception(outcome)
            else:
                waiting.result.set_result(outcome)


def _fail(group: list[_Waiting], error: BaseException) -> None:
    for waiting in group:
        if not waiting.result.done():
            waiting.result.set_exception(error)
