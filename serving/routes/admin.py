"""POST /v1/admin/reload: put the registry's current champions in service without a restart."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, status

from serving.routes.deps import API_PREFIX, EngineHolderDep, EngineLoaderDep, SettingsDep, TelemetryDep
from serving.schemas import ErrorBody, ReloadResult

logger = logging.getLogger(__name__)

router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"])


@router.post(
    "/reload",
    summary="Reload the champion models",
    description="Loads the champions fully, then swaps them in with one reference assignment: requests "
    "in flight finish with the models they started with, none fails. If loading fails the models in "
    "service stay.",
    responses={503: {"model": ErrorBody, "description": "Loading failed; previous models kept."}},
)
def reload_models(
    holder: EngineHolderDep, load: EngineLoaderDep, settings: SettingsDep, telemetry: TelemetryDep
) -> ReloadResult:
    try:
        previous, current = holder.reload(lambda: load(settings))
    except Exception as error:
        telemetry.reloads.labels("failed").inc()
        logger.exception("Reload failed; the models in service stay")
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"Reload failed, the models in service stay: {error}",
        ) from error
    telemetry.reloads.labels("succeeded").inc()
    return ReloadResult(
        previous=previous.model_versions if previous is not None else None,
        current=current.model_versions,
    )
