"""The single place where exceptions become HTTP responses: ``{"error": TYPE, "message": ...}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from forgeml.errors import ForgeError, http_status

log = logging.getLogger("forgeml.api")


class ErrorBody(BaseModel):
    """Every error response's body."""

    error: str
    message: str


_MEANINGS = {400: "Bad request", 403: "Forbidden", 404: "Not found", 409: "Conflict: the resource is in use or changed"}


def declared(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route's error statuses, each with the error body."""
    return {code: {"model": ErrorBody, "description": _MEANINGS.get(code, "Error")} for code in codes}


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": kind, "message": message}, status_code=status)


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(ForgeError)
    async def _forge(_request: Request, exc: ForgeError) -> JSONResponse:
        return error_response(http_status(exc), exc.kind, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        return error_response(400, "ValidationError", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "NotFoundError", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        return error_response(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "InternalError", f"{type(exc).__name__}: {exc}")
