"""Open endpoints for orchestrators: liveness, readiness and Prometheus metrics (no API key).

They are unauthenticated, so they say nothing about configuration: no URL, no path, no error text
(which could quote a tracking URI with its password); the reasons are in the service's log.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from serving.database import is_reachable
from serving.routes.deps import DatabaseDep, EngineHolderDep, TelemetryDep
from serving.schemas import Health, Readiness
from serving.telemetry import METRICS_CONTENT_TYPE

router = APIRouter(tags=["operations"])

LOAD_FAILED = "Loading the champion models failed; the service log says why."
DATABASE_DOWN = "The database is unreachable, so predictions cannot be logged and are refused (503)."


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: models loaded, database reachable",
    description="200 once the champion models are in service and the database answers; 503 while they "
    "load, if loading failed, or while the database is unreachable.",
    responses={503: {"model": Readiness, "description": "Models loading or failed, or database down."}},
)
async def readyz(holder: EngineHolderDep, database: DatabaseDep) -> Readiness | JSONResponse:
    if not holder.is_ready:
        failed = holder.load_error is not None
        body = Readiness(status="failed" if failed else "loading", detail=LOAD_FAILED if failed else None)
        return JSONResponse(status_code=503, content=body.model_dump(mode="json"))
    if not await run_in_threadpool(is_reachable, database):
        body = Readiness(status="failed", model_versions=holder.get().model_versions, detail=DATABASE_DOWN)
        return JSONResponse(status_code=503, content=body.model_dump(mode="json"))
    return Readiness(status="ready", model_versions=holder.get().model_versions)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(telemetry: TelemetryDep) -> Response:
    return Response(content=telemetry.render(), media_type=METRICS_CONTENT_TYPE)
