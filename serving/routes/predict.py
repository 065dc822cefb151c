"""POST /v1/predict and /v1/predict/batch: score customers from the history sent in the request."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from domain.errors import PredictionInputError
from serving.isolation import predict_isolated
from serving.middleware import request_id_of
from serving.routes.deps import (
    API_PREFIX,
    EngineDep,
    LanguageDep,
    MicroBatcherDep,
    PredictionLogDep,
    SettingsDep,
    TelemetryDep,
)
from serving.schemas import BatchPredictRequest, BatchPredictResponse, ErrorBody, Prediction, PredictRequest
from serving.settings import Settings

router = APIRouter(prefix=API_PREFIX, tags=["predictions"])

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "Missing or invalid X-API-Key."},
    413: {"model": ErrorBody, "description": "Body larger than CLVCHURN_MAX_BODY_BYTES."},
    503: {"model": ErrorBody, "description": "Models not loaded yet."},
}


@router.post(
    "/predict",
    summary="Score one customer",
    description="Tier, lifecycle stage, churn probability, predicted value, value at risk, reasons and the "
    "recommended retention action for one customer, computed from the history in the body as of `as_of`.",
    responses=ERROR_RESPONSES,
    response_model=Prediction,
)
async def predict(
    body: PredictRequest,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    lang: LanguageDep,
    batcher: MicroBatcherDep,
    telemetry: TelemetryDep,
    log: PredictionLogDep,
) -> Response:
    # `engine` is taken only to answer 503 at once while models load; the micro-batcher scores with
    # the engine in service when the call runs.
    check_event_count(body, settings, ("body",))
    check_transaction_ids(body, ("body",))
    prediction: Prediction = await batcher.predict(body, lang)
    _observe([prediction], request, telemetry, log)
    # The engine built a validated Prediction: serialise it once instead of FastAPI validating it again.
    return Response(prediction.model_dump_json(), media_type="application/json")


@router.post(
    "/predict/batch",
    summary="Score up to 1,000 customers",
    description="The same as /v1/predict for many customers at once; predictions come back in request order.",
    responses=ERROR_RESPONSES,
    response_model=BatchPredictResponse,
)
async def predict_batch(
    body: BatchPredictRequest,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    lang: LanguageDep,
    telemetry: TelemetryDep,
    log: PredictionLogDep,
) -> Response:
    if len(body.customers) > settings.max_batch:
        raise RequestValidationError(
            [
                _error(
                    ("body", "customers"),
                    f"{len(body.customers):,} customers exceed the limit of {settings.max_batch:,} per "
                    "request (CLVCHURN_MAX_BATCH); split the batch",
                    "too_long",
                )
            ]
        )
    for position, customer in enumerate(body.customers):
        check_event_count(customer, settings, ("body", "customers", position))
        check_transaction_ids(customer, ("body", "customers", position))
    outcomes = await run_in_threadpool(predict_isolated, engine, body.customers, lang)
    predictions = answered_alone(outcomes)
    _observe(predictions, request, telemetry, log)
    response = BatchPredictResponse.model_construct(predictions=predictions)
    return Response(response.model_dump_json(), media_type="application/json")


def check_event_count(body: PredictRequest, settings: Settings, loc: tuple[str | int, ...]) -> None:
    """422 when one customer carries more events than `max_events_per_customer`."""
    events = len(body.transactions) + len(body.interactions)
    if events > settings.max_events_per_customer:
        raise RequestValidationError(
            [
                _error(
                    (*loc, "transactions"),
                    f"{events:,} events (transactions plus interactions) exceed the limit of "
                    f"{settings.max_events_per_customer:,} per customer (CLVCHURN_MAX_EVENTS_PER_CUSTOMER)",
                    "too_long",
                )
            ]
        )


def check_transaction_ids(body: PredictRequest, loc: tuple[str | int, ...]) -> None:
    """422 naming the first transaction whose id repeats an earlier one of the same history."""
    seen: dict[str, int] = {}
    for position, transaction in enumerate(body.transactions):
        if transaction.transaction_id is None:
            continue
        first = seen.setdefault(transaction.transaction_id, position)
        if first != position:
            raise RequestValidationError(
                [
                    _error(
                        (*loc, "transactions", position, "transaction_id"),
                        f"transaction_id {transaction.transaction_id!r} repeats transaction {first}; "
                        "each transaction of a history needs its own id (or none)",
                        "duplicate",
                    )
                ]
            )


def answered_alone(outcomes: Sequence[Prediction | Exception]) -> list[Prediction]:
    """The batch's predictions; if some customers could not be scored, the error names each of them.

    A customer whose history cannot be scored is a 422 at `body.customers.<position>`; anything else
    (a bug) is raised for the usual 500.
    """
    failed = [(position, error) for position, error in enumerate(outcomes) if isinstance(error, Exception)]
    unexpected = [error for _, error in failed if not isinstance(error, PredictionInputError)]
    if unexpected:
        raise unexpected[0]
    if failed:
        raise RequestValidationError(
            [_error(("body", "customers", position), str(error), "unscorable") for position, error in failed]
        )
    return [outcome for outcome in outcomes if not isinstance(outcome, Exception)]


def _observe(
    predictions: Sequence[Prediction], request: Request, telemetry: TelemetryDep, log: PredictionLogDep
) -> None:
    """Count what was predicted and append it to the prediction log."""
    telemetry.observe_predictions(predictions)
    log.record(predictions, request_id_of(request))


def _error(loc: tuple[str | int, ...], message: str, kind: str) -> dict[str, object]:
    return {"type": kind, "loc": loc, "msg": message}
