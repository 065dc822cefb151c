"""GET /v1/models: which models are in service and how well they validated."""

from __future__ import annotations

from fastapi import APIRouter

from serving.routes.deps import API_PREFIX, EngineDep
from serving.schemas import ModelsInfo

router = APIRouter(prefix=API_PREFIX, tags=["models"])


@router.get(
    "/models",
    summary="Models in service",
    description="Registry versions, training dates, validation metrics and tier cut-points of the "
    "churn and value models currently answering requests.",
)
async def get_models(engine: EngineDep) -> ModelsInfo:
    return engine.model_info()
