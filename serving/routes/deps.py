"""Dependencies the routes declare: everything a request needs from the app, as `Annotated` types.

`create_app` puts each resource on `app.state` once; these functions are the only readers of it, so
routes name what they need (`EngineDep`, `TextsDep`, ...) and never reach into `request.app.state`.
All are `async def` because they only read attributes: a thread-pool hop would cost more than the work.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy import Engine

from domain.vocabulary import Language
from serving.database.fleet import Fleet
from serving.engine import EngineHolder, EngineLoader, FleetFollower, PredictionEngine
from serving.microbatch import MicroBatcher
from serving.prediction_log import PredictionLog
from serving.settings import Settings
from serving.snapshot_store import SnapshotStore
from serving.telemetry import Telemetry
from serving.text import Texts, negotiate_language

API_PREFIX = "/v1"
"""Every versioned route starts here; each router carries it so metrics see the full route template."""


async def current_engine(request: Request) -> PredictionEngine:
    """The engine in service, taken once so the whole request uses the same one (503 while loading)."""
    engine: PredictionEngine = request.app.state.engines.get()
    return engine


async def engine_holder(request: Request) -> EngineHolder:
    holder: EngineHolder = request.app.state.engines
    return holder


async def engine_loader(request: Request) -> EngineLoader:
    loader: EngineLoader = request.app.state.engine_loader
    return loader


async def current_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def texts(request: Request) -> Texts:
    loaded: Texts = request.app.state.texts
    return loaded


async def snapshots(request: Request) -> SnapshotStore:
    store: SnapshotStore = request.app.state.snapshots
    return store


async def telemetry(request: Request) -> Telemetry:
    metrics: Telemetry = request.app.state.telemetry
    return metrics


async def prediction_log(request: Request) -> PredictionLog:
    log: PredictionLog = request.app.state.prediction_log
    return log


async def database(request: Request) -> Engine:
    engine: Engine = request.app.state.database
    return engine


async def fleet(request: Request) -> Fleet:
    workers: Fleet = request.app.state.fleet
    return workers


async def follower(request: Request) -> FleetFollower:
    this_worker: FleetFollower = request.app.state.follower
    return this_worker


async def microbatcher(request: Request) -> MicroBatcher:
    batcher: MicroBatcher = request.app.state.microbatcher
    return batcher


async def response_language(
    lang: Annotated[
        str | None, Query(description="Language of explanations and actions: en or zh.", examples=["zh"])
    ] = None,
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Language:
    """`?lang=` wins, then the Accept-Language header, else English."""
    return negotiate_language(lang, accept_language)


EngineDep = Annotated[PredictionEngine, Depends(current_engine)]
EngineHolderDep = Annotated[EngineHolder, Depends(engine_holder)]
EngineLoaderDep = Annotated[EngineLoader, Depends(engine_loader)]
SettingsDep = Annotated[Settings, Depends(current_settings)]
TextsDep = Annotated[Texts, Depends(texts)]
SnapshotsDep = Annotated[SnapshotStore, Depends(snapshots)]
TelemetryDep = Annotated[Telemetry, Depends(telemetry)]
PredictionLogDep = Annotated[PredictionLog, Depends(prediction_log)]
MicroBatcherDep = Annotated[MicroBatcher, Depends(microbatcher)]
LanguageDep = Annotated[Language, Depends(response_language)]
DatabaseDep = Annotated[Engine, Depends(database)]
FleetDep = Annotated[Fleet, Depends(fleet)]
FollowerDep = Annotated[FleetFollower, Depends(follower)]
