"""The one place the core's error tree becomes HTTP answers."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from opslayer.bot.errors import (
    ConfirmationRequired,
    Conflict,
    Forbidden,
    InvalidTransition,
    LimitReached,
    NotAuthorized,
    NotFound,
    OpsError,
    StorageUnavailable,
    ValidationFailed,
)

if TYPE_CHECKING:
    from opslayer.adapters.http.ops import Metrics

_STATUS: list[tuple[type[OpsError], int]] = [
    (NotFound, 404),
    (Forbidden, 403),
    (NotAuthorized, 403),
    (InvalidTransition, 409),
    (Conflict, 409),
    (ConfirmationRequired, 409),
    (ValidationFailed, 422),
    (StorageUnavailable, 503),
    (LimitReached, 429),
]
RETRY_AFTER_S = 5  # how soon a client may try again after a 503
LIMIT_RETRY_AFTER_S = 60  # an agent at its limit: runs and approvals end in minutes, not ms


def status_for(error: OpsError) -> int:
    """The HTTP status of a core error (400 for anything unmapped, which is still the caller's)."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


def ops_error_answer(exc: OpsError, metrics: Metrics) -> JSONResponse:
    """The answer to a core error: its status, a readable `detail`, Retry-After when it helps."""
    body: dict[str, object] = {"detail": exc.message}
    if isinstance(exc, InvalidTransition):
        body["status"] = exc.status
    headers = {"Retry-After": str(RETRY_AFTER_S)} if isinstance(exc, StorageUnavailable) else None
    if isinstance(exc, LimitReached):
        headers = {"Retry-After": str(LIMIT_RETRY_AFTER_S)}
        metrics.limited.labels(exc.agent, exc.limit).inc()
    return JSONResponse(body, status_code=status_for(exc), headers=headers)


async def _ops_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OpsError)
    return ops_error_answer(exc, request.app.state.metrics)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain(value: Any) -> Any:
    """JSON-safe: Python's json reads NaN, Infinity and lone surrogates, but must not write them
    back (a surrogate cannot even be encoded, and the answer would become a 500)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def _invalid_body(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _plain(jsonable_encoder(exc.errors()))}, status_code=422)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own answer, except a 405 names every method the path takes: Starlette's Allow
    names only the first route that matched the path (GET /v1/runs and POST /v1/runs are two)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code != 405:
        return await http_exception_handler(request, exc)
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    allow = ", ".join(allowed) or (exc.headers or {}).get("Allow", "")
    return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": allow})


def internal_error_answer() -> JSONResponse:
    """A bug: say so in JSON, and close the connection (its state is unknown after a failure
    mid-request). The exception itself is logged."""
    return JSONResponse(
        {"detail": "internal error (logged on the server); try again later"},
        status_code=500,
        headers={"Connection": "close"},
    )


async def _internal(_request: Request, _exc: Exception) -> JSONResponse:
    return internal_error_answer()


def install_error_handlers(app: FastAPI) -> None:
    """Answer every OpsError with its status and a readable `detail`; 422s with pydantic's list;
    anything else with a JSON 500 that closes the connection."""
    app.add_exception_handler(OpsError, _ops_error)
    app.add_exception_handler(RequestValidationError, _invalid_body)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal)
