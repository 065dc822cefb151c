"""The HTTP service: `create_app` builds it, `run` serves it with uvicorn.

Everything a request needs (settings, the engine holder, key verifiers, snapshot store, the database
and what lives in it: prediction log, sessions, sign-in throttle, the workers' reload target;
metrics) is created here and kept on `app.state`, so two apps in one process (as in the tests) share
nothing but the database they are pointed at. The lifespan migrates the database (idempotent and
locked, so workers may start together), then the champion models load in a background thread, so
/healthz answers at once and /readyz says 503 until they are in service; `run` migrates and loads
them before opening the port, so that `clvchurn serve` stops with a readable error when the database
is unreachable or no champion is registered.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import Depends, FastAPI

from domain.errors import ModelNotReadyError
from monitoring.action_metrics import ActionEvaluationCollector
from policy.action_settings import load_action_settings
from serving.database import PredictionRecorder, open_database, upgrade
from serving.database.fleet import Fleet, worker_id
from serving.engine import EngineHolder, EngineLoader, FleetFollower, PredictionEngine, StaleEngineWatcher
from serving.errors import install_error_handlers
from serving.microbatch import MicroBatcher
from serving.middleware import (
    BodySizeLimitMiddleware,
    PredictionLogMiddleware,
    RequestIdMiddleware,
    RequestMetricsMiddleware,
)
from serving.monitoring_metrics import register_monitor_gauges
from serving.prediction_log import PredictionLog
from serving.routes import actions, admin, customers, health, models, predict
from serving.schemas import ErrorBody
from serving.security import ApiKeyVerifier, require_admin_key, require_api_key
from serving.settings import Settings
from serving.snapshot_store import SnapshotStore
from serving.telemetry import MULTIPROC_DIR_VARIABLE, Telemetry, prepare_multiprocess_dir
from serving.text import Texts
from serving.web.pages import install_web

logger = logging.getLogger(__name__)

OPENAPI_TAGS = [
    {"name": "predictions", "description": "Score customers from the history sent in the request."},
    {"name": "customers", "description": "Latest predictions from the snapshot written by `clvchurn score`."},
    {"name": "models", "description": "The champion models in service."},
    {"name": "admin", "description": "Operations on the running service."},
    {"name": "operations", "description": "Liveness, readiness and metrics; no API key needed."},
]


def load_champion_engine(settings: Settings, texts: Texts | None = None) -> PredictionEngine:
    """The production loader: the registry's champion pair, wrapped by `serving/predictor.py`."""
    from serving.predictor import load_engine

    gc.unfreeze()  # let a replaced engine's objects be collected again
    engine: PredictionEngine = load_engine(settings, texts)
    # Everything loaded so far (libraries, models) lives as long as the process: moving it out of the
    # collector's reach turns the ~200 ms full collections that hit request latency into microseconds.
    gc.collect()
    gc.freeze()
    return engine


def create_app(settings: Settings | None = None, engine_loader: EngineLoader | None = None) -> FastAPI:
    """Build the service; `engine_loader(settings)` is called at start-up and on every reload."""
    settings = settings or Settings()
    telemetry = Telemetry()
    register_monitor_gauges(telemetry.registry)
    telemetry.registry.register(ActionEvaluationCollector(load_action_settings().evaluation_path))
    app = FastAPI(
        title="clvchurn",
        summary="Customer lifetime value, churn risk, reasons and retention actions.",
        version=_package_version(),
        openapi_tags=OPENAPI_TAGS,
        lifespan=_lifespan,
    )
    texts = Texts.load(settings.playbook_path)
    app.state.settings = settings
    app.state.texts = texts
    app.state.engine_loader = engine_loader or partial(load_champion_engine, texts=texts)
    app.state.engines = EngineHolder(on_swap=telemetry.observe_engine)
    app.state.telemetry = telemetry
    app.state.api_keys = ApiKeyVerifier.from_settings(settings)
    app.state.admin_api_keys = ApiKeyVerifier.admin_from_settings(settings)
    app.state.snapshots = SnapshotStore(settings.snapshot_path)
    app.state.microbatcher = MicroBatcher(app.state.engines.get)
    database = open_database(settings.database_url.get_secret_value())
    app.state.database = database
    app.state.prediction_log = PredictionLog(
        PredictionRecorder(database), on_outcome=telemetry.observe_prediction_log
    )
    app.state.fleet = Fleet(database)
    app.state.follower = FleetFollower(
        app.state.engines,
        lambda: app.state.engine_loader(settings),
        app.state.fleet,
        worker_id(),
    )
    app.state.initial_load = None

    app.add_middleware(PredictionLogMiddleware, log=app.state.prediction_log)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(RequestMetricsMiddleware, telemetry=telemetry)
    install_error_handlers(app)
    install_web(app)

    app.include_router(health.router)
    for module in (predict, customers, models, actions):
        app.include_router(
            module.router,
            dependencies=[Depends(require_api_key)],
            responses={401: {"model": ErrorBody, "description": "Missing or invalid X-API-Key."}},
        )
    app.include_router(
        admin.router,
        dependencies=[Depends(require_admin_key)],
        responses={
            401: {"model": ErrorBody, "description": "Missing or unknown X-API-Key."},
            403: {"model": ErrorBody, "description": "A scoring key: admin needs CLVCHURN_ADMIN_API_KEYS."},
        },
    )
    return app


def run(settings: Settings | None = None, engine_loader: EngineLoader | None = None) -> None:
    """Load the champions, then serve on `settings.host:settings.port` until interrupted.

    Raises `ModelNotReadyError` before the port opens when no champion is registered.
    """
    import uvicorn

    settings = settings or Settings()
    upgrade(settings.database_url.get_secret_value())
    if settings.workers > 1:
        # Worker processes build their own app (and engine) from the same CLVCHURN_* environment;
        # loading once here stops `clvchurn serve` with a readable error before the port opens.
        (engine_loader or load_champion_engine)(settings)
        export_for_workers(settings)
        uvicorn.run(
            "serving.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            access_log=settings.access_log,
        )
        return
    app = create_app(settings, engine_loader)
    app.state.engines.swap(app.state.engine_loader(settings))
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=settings.access_log)


def export_for_workers(settings: Settings) -> None:
    """Put in the environment what the worker processes must share and would not read otherwise.

    Workers build their settings from the environment, so the command line's `--host` and `--port`
    go there too (the cookie flags depend on the host); and metrics go to one folder under the
    service state, emptied now, for prometheus-client's multiprocess mode (`serving.telemetry`).
    """
    os.environ["CLVCHURN_HOST"] = settings.host
    os.environ["CLVCHURN_PORT"] = str(settings.port)
    folder = os.environ.get(MULTIPROC_DIR_VARIABLE)
    metrics_dir = Path(folder) if folder else settings.state_dir.resolve() / "prometheus"
    prepare_multiprocess_dir(metrics_dir)
    os.environ[MULTIPROC_DIR_VARIABLE] = str(metrics_dir)


def start_initial_load(app: FastAPI) -> threading.Thread:
    """Load the engine in a background thread; /readyz turns 200 when it is swapped in."""
    state = app.state

    def load() -> None:
        try:
            state.engines.reload(lambda: state.engine_loader(state.settings))
        except ModelNotReadyError as error:
            logger.error("No model to serve: %s", error)
        except Exception:
            logger.exception("Loading the champion models failed")

    thread = threading.Thread(target=load, name="clvchurn-initial-load", daemon=True)
    thread.start()
    return thread


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    upgrade(state.database)
    state.web.sessions.revoke_keys_except(state.api_keys.hex_digests)
    if not state.engines.is_ready:
        state.initial_load = start_initial_load(app)
    watcher = None
    if state.settings.reload_interval_s > 0:
        watcher = StaleEngineWatcher(
            state.engines, lambda: state.engine_loader(state.settings), state.settings.reload_interval_s
        )
        watcher.start()
    state.follower.start()
    try:
        yield
    finally:
        state.follower.stop()
        if watcher is not None:
            watcher.stop()
        state.prediction_log.close()
        state.telemetry.close()
        state.database.dispose()


def _package_version() -> str:
    try:
        return version("clvchurn")
    except PackageNotFoundError:
        return "0+unknown"
