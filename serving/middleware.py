"""ASGI middleware of the service: request ids, request metrics, the body size limit, the prediction log.

All four are pure ASGI (no per-request task). The request id (the client's `X-Request-ID` when it is
sane, else a fresh one) is echoed in the response header, in error bodies and in the prediction log,
to tie the three together.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi import Request, status
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import PredictionLogError, ServingError
from serving.prediction_log import PredictionLog
from serving.telemetry import Telemetry

logger = logging.getLogger(__name__)

UNMATCHED_ROUTE = "unmatched"
REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
RETRY_AFTER_S = "5"


class RequestMetricsMiddleware:
    """Pure ASGI middleware (no per-request task) counting and timing every HTTP request."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
            method = scope["method"]
            self.telemetry.requests.labels(method, route, str(status)).inc()
            self.telemetry.latency.labels(method, route).observe(time.perf_counter() - started)


def request_id_of(request: Request) -> str:
    """The id `RequestIdMiddleware` gave this request."""
    return str(request.scope.get("state", {}).get("request_id", "unknown"))


class RequestIdMiddleware:
    """Pure ASGI middleware giving every HTTP request an id, kept in `scope["state"]` and echoed back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestBodyTooLargeError(StarletteHTTPException, ServingError):
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
        response = JSONResponse(
            status_code=error.status_code,
            content={"detail": error.detail, "request_id": request_id_of(Request(scope))},
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class PredictionLogMiddleware:
    """Commit a request's predictions before its response starts; 503 instead when they cannot be.

    Pure ASGI, innermost of the service's middleware: the route stages its rows
    (`PredictionLog.record`), and the `http.response.start` message waits here for their commit,
    shared with every other request in flight (group commit). Only then does the status line leave,
    so a client that saw 200 has its predictions in the database, whatever happens to the process
    afterwards. If the commit fails, the route's response is dropped unsent and the client gets 503
    with Retry-After: the predictions were not served.
    """

    def __init__(self, app: ASGIApp, log: PredictionLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rows, token = PredictionLog.open_request()
        refused = False

        async def committing_send(message: Message) -> None:
            nonlocal refused
            if refused:
                return  # the route's body, replaced by the 503 already sent
            if message["type"] == "http.response.start" and rows:
                staged = rows.copy()
                rows.clear()
                if message["status"] >= 400:
                    await send(message)  # an error answer serves no prediction: nothing to log
                    return
                try:
                    await self.log.commit(staged)
                except PredictionLogError as error:
                    refused = True
                    await _not_logged(scope, receive, send, error)
                    return
            await send(message)

        try:
            await self.app(scope, receive, committing_send)
        finally:
            PredictionLog.close_request(token)


async def _not_logged(scope: Scope, receive: Receive, send: Send, error: PredictionLogError) -> None:
    logger.warning("Answering 503: %s", error)
    response = JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={
            "detail": "The predictions could not be written to the prediction log, so they were not "
            "served; retry the request with the same X-Request-ID.",
            "request_id": request_id_of(Request(scope)),
        },
        headers={"Retry-After": RETRY_AFTER_S},
    )
    await response(scope, receive, send)
