import asyncio
from collections.abc import Sequence
from datetime import datetime

import pytest

from domain.errors import PredictionInputError
from serving.microbatch import MicroBatcher
from serving.schemas import PredictRequest


class RecordingEngine:
    """Answers each request with its customer id; refuses customers named 'bad'."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, requests: Sequence[PredictRequest], lang: str) -> list[str]:
        ids = [r.customer.customer_id for r in requests]
        self.calls.append(ids)
        if "bad" in ids:
            raise PredictionInputError("customer 'bad' cannot be scored")
        return [f"{customer}:{lang}" for customer in ids]


def request(customer_id: str) -> PredictRequest:
    return PredictRequest.model_validate(
        {"customer": {"customer_id": customer_id}, "as_of": datetime(2025, 1, 1)}
    )


def test_a_lone_request_is_scored_at_once_and_queued_ones_together() -> None:
    engine = RecordingEngine()
    batcher = MicroBatcher(lambda: engine)  # type: ignore[arg-type,return-value]

    async def scenario() -> list[object]:
        alone = await batcher.predict(request("C0"), "en")
        together = await asyncio.gather(*(batcher.predict(request(f"C{i}"), "en") for i in range(1, 5)))
        return [alone, *together]

    results = asyncio.run(scenario())

    assert results == ["C0:en", "C1:en", "C2:en", "C3:en", "C4:en"]
    assert engine.calls == [["C0"], ["C1", "C2", "C3", "C4"]]


def test_languages_are_scored_apart_and_one_bad_customer_fails_alone() -> None:
    engine = RecordingEngine()
    batcher = MicroBatcher(lambda: engine)  # type: ignore[arg-type,return-value]

    async def scenario() -> list[object]:
        calls = [
            batcher.predict(request("C0"), "en"),
            batcher.predict(request("C1"), "zh"),
            batcher.predict(request("bad"), "en"),
            batcher.predict(request("C3"), "en"),
        ]
        return await asyncio.gather(*calls, return_exceptions=True)

    first, second, bad, fourth = asyncio.run(scenario())

    assert (first, second, fourth) == ("C0:en", "C1:zh", "C3:en")
    assert isinstance(bad, PredictionInputError)
    assert engine.calls == [["C0", "bad", "C3"], ["C0"], ["bad"], ["C3"], ["C1"]]


def test_engine_not_ready_fails_every_waiting_request() -> None:
    def no_engine() -> RecordingEngine:
        raise RuntimeError("models are loading")

    batcher = MicroBatcher(no_engine)  # type: ignore[arg-type]

    with pytest.raises(RuntimeError, match="models are loading"):
        asyncio.run(batcher.predict(request("C0"), "en"))
