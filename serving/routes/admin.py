"""POST /v1/admin/reload: put the registry's current champions in service without a restart."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Request, status

from serving.engine import EngineHolder
from serving.routes.deps import API_PREFIX
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
def reload_models(request: Request) -> ReloadResult:
    state = request.app.state
    holder: EngineHolder = state.engines
    try:
        previous, current = holder.reload(lambda: state.engine_loader(state.settings))
    except Exception as error:
        state.telemetry.reloads.labels("failed").inc()
        logger.exception("Reload failed; the models in service stay")
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"Reload failed, the models in service stay: {error}",
        ) from error
    state.telemetry.reloads.labels("succeeded").inc()
    return ReloadResult(
        previous=previous.model_versions if previous is not None else None,
        current=current.model_versions,
    )
