"""The HTTP service: `create_app` builds it, `run` serves it with uvicorn.

Everything a request needs (settings, the engine holder, key verifier, snapshot store, prediction log,
metrics) is created here and kept on `app.state`, so two apps in one process (as in the tests) share
nothing. The champion models load in a background thread at start-up, so /healthz answers at once and
/readyz says 503 until they are in service; `run` loads them before opening the port, so that
`clvchurn serve` stops with a readable `ModelNotReadyError` when no champion is registered.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import Depends, FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import (
    ModelNotReadyError,
    PredictionInputError,
    ServingError,
    SnapshotFormatError,
    SnapshotMissingError,
)
from serving.engine import EngineHolder, EngineLoader, PredictionEngine, StaleEngineWatcher
from serving.microbatch import MicroBatcher
from serving.prediction_log import PredictionLog
from serving.routes import admin, customers, health, models, predict
from serving.schemas import ErrorBody
from serving.security import ApiKeyVerifier, require_api_key
from serving.settings import Settings
from serving.snapshot_store import SnapshotStore
from serving.telemetry import (
    REQUEST_ID_HEADER,
    RequestIdMiddleware,
    RequestMetricsMiddleware,
    Telemetry,
    request_id_of,
)
from serving.web.pages import install_web

logger = logging.getLogger(__name__)

OPENAPI_TAGS = [
    {"name": "predictions", "description": "Score customers from the history sent in the request."},
    {"name": "customers", "description": "Latest predictions from the snapshot written by `clvchurn score`."},
    {"name": "models", "description": "The champion models in service."},
    {"name": "admin", "description": "Operations on the running service."},
    {"name": "operations", "description": "Liveness, readiness and metrics; no API key needed."},
]


def load_champion_engine(settings: Settings) -> PredictionEngine:
    """The production loader: the registry's champion models, wrapped by `serving/predictor.py`."""
    from serving.predictor import load_engine

    gc.unfreeze()  # let a replaced engine's objects be collected again
    engine: PredictionEngine = load_engine(settings)
    # Everything loaded so far (libraries, models) lives as long as the process: moving it out of the
    # collector's reach turns the ~200 ms full collections that hit request latency into microseconds.
    gc.collect()
    gc.freeze()
    return engine


def create_app(settings: Settings | None = None, engine_loader: EngineLoader | None = None) -> FastAPI:
    """Build the service; `engine_loader(settings)` is called at start-up and on every reload."""
    settings = settings or Settings()
    telemetry = Telemetry()
    app = FastAPI(
        title="clvchurn",
        summary="Customer lifetime value, churn risk, reasons and retention actions.",
        version=_package_version(),
        openapi_tags=OPENAPI_TAGS,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine_loader = engine_loader or load_champion_engine
    app.state.engines = EngineHolder(on_swap=telemetry.observe_engine)
    app.state.telemetry = telemetry
    app.state.api_keys = ApiKeyVerifier.from_settings(settings)
    app.state.snapshots = SnapshotStore(settings.snapshot_path)
    app.state.microbatcher = MicroBatcher(app.state.engines.get)
    app.state.prediction_log = PredictionLog(settings.prediction_log_path)
    app.state.initial_load = None

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(RequestMetricsMiddleware, telemetry=telemetry)
    _install_error_handlers(app)
    install_web(app)

    app.include_router(health.router)
    for module in (predict, customers, models, admin):
        app.include_router(
            module.router,
            dependencies=[Depends(require_api_key)],
            responses={401: {"model": ErrorBody, "description": "Missing or invalid X-API-Key."}},
        )
    return app


def run(settings: Settings | None = None, engine_loader: EngineLoader | None = None) -> None:
    """Load the champions, then serve on `settings.host:settings.port` until interrupted.

    Raises `ModelNotReadyError` before the port opens when no champion is registered.
    """
    import uvicorn

    settings = settings or Settings()
    loader = engine_loader or load_champion_engine
    engine = loader(settings)
    if settings.workers > 1:
        # Worker processes build their own app (and engine) from the same CLVCHURN_* environment.
        if settings.reload_interval_s == 0:
            logger.warning(
                "%d workers without CLVCHURN_RELOAD_INTERVAL_S: /v1/admin/reload reloads only the worker "
                "that answers it",
                settings.workers,
            )
        del engine
        uvicorn.run(
            "serving.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            access_log=settings.access_log,
        )
        return
    app = create_app(settings, loader)
    app.state.engines.swap(engine)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=settings.access_log)


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
    state.prediction_log.start()
    if not state.engines.is_ready:
        state.initial_load = start_initial_load(app)
    watcher = None
    if state.settings.reload_interval_s > 0:
        watcher = StaleEngineWatcher(
            state.engines, lambda: state.engine_loader(state.settings), state.settings.reload_interval_s
        )
        watcher.start()
    try:
        yield
    finally:
        if watcher is not None:
            watcher.stop()
        state.prediction_log.close()


def _install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON with the request id; malformed input is a 4xx, never a 500."""

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        details = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type", "")}
            for item in error.errors()
        ]
        return _error(request, status.HTTP_422_UNPROCESSABLE_CONTENT, details)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return _error(request, error.status_code, error.detail, dict(error.headers or {}))

    async def not_ready(request: Request, error: Exception) -> JSONResponse:
        return _error(request, status.HTTP_503_SERVICE_UNAVAILABLE, str(error), {"Retry-After": "5"})

    async def unscorable(request: Request, error: Exception) -> JSONResponse:
        details = [{"loc": ["body"], "msg": str(error), "type": "unscorable"}]
        return _error(request, status.HTTP_422_UNPROCESSABLE_CONTENT, details)

    async def no_snapshot(request: Request, error: Exception) -> JSONResponse:
        return _error(request, status.HTTP_503_SERVICE_UNAVAILABLE, str(error))

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        request_id = request_id_of(request)
        logger.error(
            "Unhandled %s on %s %s (request %s)",
            type(error).__name__,
            request.method,
            request.url.path,
            request_id,
            exc_info=error,
        )
        detail = "Internal error; quote the request id when reporting it."
        return _error(request, status.HTTP_500_INTERNAL_SERVER_ERROR, detail, {REQUEST_ID_HEADER: request_id})

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ModelNotReadyError, not_ready)
    app.add_exception_handler(PredictionInputError, unscorable)
    app.add_exception_handler(SnapshotMissingError, no_snapshot)
    app.add_exception_handler(SnapshotFormatError, no_snapshot)
    app.add_exception_handler(Exception, unexpected)


def _error(
    request: Request, status_code: int, detail: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status_code,
        content={"detail": detail, "request_id": request_id_of(request)},
        headers=headers,
    )


class RequestBodyTooLargeError(ServingError, StarletteHTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"Request body exceeds {max_bytes:,} bytes (CLVCHURN_MAX_BODY_BYTES); "
            "send fewer customers or fewer events per request.",
        )


class BodySizeLimitMiddleware:
    """413 for bodies over `max_bytes`: at once from Content-Length, or while streaming without it.

    A streamed body is counted chunk by chunk as the endpoint reads it, so an oversized body is never
    held in memory whole. FastAPI re-raises HTTP exceptions met while reading a body, so the
    JSON error handler answers; the fallback below covers a reader that does not.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestBodyTooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except RequestBodyTooLargeError:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = RequestBodyTooLargeError(self.max_bytes)
        response = _error(Request(scope), error.status_code, error.detail, {"Connection": "close"})
        await response(scope, receive, send)


def _package_version() -> str:
    try:
        return version("clvchurn")
    except PackageNotFoundError:
        return "0+unknown"
