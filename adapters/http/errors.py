"""The one place the core's error tree becomes HTTP answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bot.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotAuthorized,
    NotFound,
    OpsError,
    ValidationFailed,
)

_STATUS: list[tuple[type[OpsError], int]] = [
    (NotFound, 404),
    (Forbidden, 403),
    (NotAuthorized, 403),
    (InvalidTransition, 409),
    (Conflict, 409),
    (ValidationFailed, 422),
]


def status_for(error: OpsError) -> int:
    """The HTTP status of a core error (400 for anything unmapped, which is still the caller's)."""
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


async def _ops_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OpsError)
    body: dict[str, object] = {"detail": exc.message}
    if isinstance(exc, InvalidTransition):
        body["status"] = exc.status
    return JSONResponse(body, status_code=status_for(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Answer every OpsError with its status and a readable `detail`."""
    app.add_exception_handler(OpsError, _ops_error)
