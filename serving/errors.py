"""How the API answers errors: every error family of `domain.errors` mapped to a status code, in one place.

Every error is JSON `{"detail": ..., "request_id": ...}`. Malformed input is a 422 naming the field;
a model that cannot serve (none registered, or one whose features no longer match the feature
definitions) is a 503 with the model's own message, which says what to do; a missing snapshot is a 503;
only an error nobody foresaw is a 500, logged with the request id and never shown to the client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    ClvchurnError,
    DataError,
    ModelContractError,
    ModelNotReadyError,
    PlaybookError,
    PredictionInputError,
    ServingError,
    SnapshotFormatError,
    SnapshotMissingError,
    UnsupportedLanguageError,
)
from serving.middleware import REQUEST_ID_HEADER, request_id_of

logger = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of decides its status.
STATUS_BY_ERROR: tuple[tuple[type[ClvchurnError], int], ...] = (
    (PredictionInputError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (UnsupportedLanguageError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (DataError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (ModelNotReadyError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (ModelContractError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (SnapshotMissingError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (SnapshotFormatError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (PlaybookError, status.HTTP_503_SERVICE_UNAVAILABLE),
    (ServingError, status.HTTP_503_SERVICE_UNAVAILABLE),
)
RETRY_AFTER_S = "5"


def status_for(error: ClvchurnError) -> int:
    """The status code of an error of the tree (500 for a family without a mapping)."""
    return next(
        (code for kind, code in STATUS_BY_ERROR if isinstance(error, kind)),
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def install_error_handlers(app: FastAPI) -> None:
    """JSON errors with the request id for validation, HTTP, clvchurn and unexpected errors."""

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        details = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type", "")}
            for item in error.errors()
        ]
        return error_response(request, status.HTTP_422_UNPROCESSABLE_CONTENT, details)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return error_response(request, error.status_code, error.detail, dict(error.headers or {}))

    async def clvchurn_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ClvchurnError)
        code = status_for(error)
        if code == status.HTTP_422_UNPROCESSABLE_CONTENT:
            detail: Any = [{"loc": ["body"], "msg": str(error), "type": "unscorable"}]
            return error_response(request, code, detail)
        logger.warning("%s on %s %s: %s", type(error).__name__, request.method, request.url.path, error)
        headers = {"Retry-After": RETRY_AFTER_S} if code == status.HTTP_503_SERVICE_UNAVAILABLE else None
        return error_response(request, code, str(error), headers)

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
        return error_response(
            request, status.HTTP_500_INTERNAL_SERVER_ERROR, detail, {REQUEST_ID_HEADER: request_id}
        )

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ClvchurnError, clvchurn_error)
    app.add_exception_handler(Exception, unexpected)


def error_response(
    request: Request, status_code: int, detail: Any, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status_code,
        content={"detail": detail, "request_id": request_id_of(request)},
        headers=headers,
    )
