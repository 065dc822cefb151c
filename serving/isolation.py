"""Scoring several requests at once without letting one of them fail the others.

The micro-batcher (`serving.microbatch`) and POST /v1/predict/batch hand the engine many customers in
one call, because most of a call's cost is fixed. If that call fails, or returns fewer predictions than
it was given, `predict_isolated` scores every request alone, so that only the request that cannot be
scored fails and every other one gets its prediction. Errors of the engine itself (models not loaded,
a model whose features no longer exist, a broken playbook) would fail every request alike, so they
are raised at once for the whole group instead of being tried request by request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from domain.errors import ModelContractError, ModelNotReadyError, PlaybookError
from serving.engine import PredictionEngine
from serving.schemas import Prediction, PredictRequest

logger = logging.getLogger(__name__)

ENGINE_ERRORS: tuple[type[Exception], ...] = (ModelNotReadyError, ModelContractError, PlaybookError)
"""Failures of the engine rather than of a request: scoring alone would fail the same way."""


def predict_isolated(
    engine: PredictionEngine, requests: Sequence[PredictRequest], lang: str
) -> list[Prediction | Exception]:
    """One prediction, or the exception that request alone raised, per request, in order.

    Raises
    ------
    ModelNotReadyError, ModelContractError, PlaybookError
        The engine cannot score anyone (see `ENGINE_ERRORS`).
    """
    try:
        predictions = engine.predict(requests, lang)
    except ENGINE_ERRORS:
        raise
    except Exception as error:
        if len(requests) == 1:
            return [error]
        logger.warning(
            "Scoring %d requests together failed (%s); scoring each alone",
            len(requests),
            type(error).__name__,
        )
    else:
        if len(predictions) == len(requests):
            return list(predictions)
        if len(requests) == 1:
            bug = f"the engine returned {len(predictions)} predictions for 1 request"
            return [RuntimeError(bug)]  # answered 500
        logger.error(
            "The engine returned %d predictions for %d requests; scoring each alone",
            len(predictions),
            len(requests),
        )
    return [outcome for request in requests for outcome in predict_isolated(engine, [request], lang)]
