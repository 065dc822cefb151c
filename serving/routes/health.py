"""Open endpoints for orchestrators: liveness, readiness and Prometheus metrics (no API key)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from serving.routes.deps import EngineHolderDep, TelemetryDep
from serving.schemas import Health, Readiness
from serving.telemetry import METRICS_CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: models loaded",
    description="200 once the champion models are in service; 503 while they load or if loading failed.",
    responses={503: {"model": Readiness, "description": "Models loading or failed to load."}},
)
async def readyz(holder: EngineHolderDep) -> Readiness | JSONResponse:
    if holder.is_ready:
        return Readiness(status="ready", model_versions=holder.get().model_versions)
    failed = holder.load_error is not None
    body = Readiness(status="failed" if failed else "loading", detail=holder.load_error)
    return JSONResponse(status_code=503, content=body.model_dump(mode="json"))


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(telemetry: TelemetryDep) -> Response:
    return Response(content=telemetry.render(), media_type=METRICS_CONTENT_TYPE)
