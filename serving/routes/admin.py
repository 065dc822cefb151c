"""POST /v1/admin/reload: put the registry's current champions in service on every worker, without a restart."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, status

from serving.routes.deps import (
    API_PREFIX,
    EngineHolderDep,
    EngineLoaderDep,
    FleetDep,
    FollowerDep,
    SettingsDep,
    TelemetryDep,
)
from serving.schemas import ErrorBody, ReloadResult

logger = logging.getLogger(__name__)

router = APIRouter(prefix=f"{API_PREFIX}/admin", tags=["admin"])

FLEET_WAIT_S = 60.0
"""Longest the reload waits for the other workers to load the new pair (loading takes seconds)."""


@router.post(
    "/reload",
    summary="Reload the champion models",
    description="Loads the champions fully, then swaps them in with one reference assignment: requests "
    "in flight finish with the models they started with, none fails. If loading fails the models in "
    "service stay. With several workers, the answer comes once every live worker serves the new pair. "
    "Needs a key of CLVCHURN_ADMIN_API_KEYS.",
    responses={503: {"model": ErrorBody, "description": "Loading failed; previous models kept."}},
)
def reload_models(
    holder: EngineHolderDep,
    load: EngineLoaderDep,
    settings: SettingsDep,
    telemetry: TelemetryDep,
    fleet: FleetDep,
    follower: FollowerDep,
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
    target = fleet.request_reload(current.model_versions.pair)
    follower.acted_on(target.token)
    behind = fleet.wait_until_followed(target, FLEET_WAIT_S)
    if behind:
        logger.warning(
            "Reload to pair %s: %d worker(s) still behind after %g s: %s",
            target.pair,
            len(behind),
            FLEET_WAIT_S,
            ", ".join(behind),
        )
    return ReloadResult(
        previous=previous.model_versions if previous is not None else None,
        current=current.model_versions,
    )
