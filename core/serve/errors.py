"""HTTP errors of the server in the Jina API's body shapes, and their handlers.

- ``{"detail": "..."}`` for 400, 401, 413, 429, 503 (and 500, which only a server fault gives);
- ``{"detail": [{"message": ..., "field": ...}]}`` for 422 (malformed JSON or schema).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import BackendError

__all__ = ["ServeError", "field_error", "install_handlers"]

log = logging.getLogger("clipbridge.serve")


class ServeError(Exception):
    """An answer other than 200: status, ``detail`` (a message or field errors), headers."""

    def __init__(
        self, status: int, detail: str | list[dict[str, str]], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail if isinstance(detail, str) else str(detail))
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def field_error(field: str, message: str) -> ServeError:
    """A 422 naming one request field."""
    return ServeError(422, [{"message": message, "field": field}])


def _field(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def _serve_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServeError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = []
    for error in exc.errors():
        message, field = error.get("msg", "invalid"), _field(tuple(error.get("loc", ())))
        if error.get("type") == "json_invalid":
            position = error.get("loc", ("", "?"))[-1]
            reason = error.get("ctx", {}).get("error", message)
            message, field = f"malformed JSON at character {position}: {reason}", "body"
        detail.append({"message": message, "field": field})
    return JSONResponse({"detail": detail}, status_code=422)


async def _backend_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BackendError)
    log.error("backend failed: %s", exc.message)
    return JSONResponse({"detail": f"the model backend failed: {exc.message}"}, status_code=502)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected server error", exc_info=exc)
    return JSONResponse(
        {"detail": f"internal server error ({type(exc).__name__})"}, status_code=500
    )


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServeError, _serve_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BackendError, _backend_error)
    app.add_exception_handler(Exception, _unexpected)
