"""The single place where exceptions become HTTP responses: ``{"error": TYPE, "message": ...}``.

* A :class:`~forgeml.errors.ForgeError` answers its own status (400, 403, 404, 409, 413, ...).
* A request that does not fit the spec (a missing field, an integer out of range) is a 400
  ``ValidationError`` naming the field; so is a URL with a NUL byte in its path or query.
* A ``ValueError``, ``TypeError`` or ``OverflowError`` that escapes a handler came from the
  caller's input reaching code that refused it (a malformed number, a name the OS refuses): a
  400 ``ValidationError`` with the exception's first line, logged with its traceback.
* 405 answers carry ``Allow`` with every method the path takes.
* Anything else is a bug: a 500 ``InternalError`` that names no server detail, with
  ``Connection: close`` so a pooled client never reuses a connection in an unknown state.

:func:`errors` declares a route's error answers in the OpenAPI spec (``responses=errors(404)``);
:func:`install` also rewrites FastAPI's default 422 declaration to the 400 the server sends.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forgeml.errors import ForgeError, http_status

log = logging.getLogger("forgeml.api")


class ErrorBody(BaseModel):
    """Every error answer: the error type and a one-line message naming what and where."""

    error: str
    message: str


# what each status means here; the error types are those of forgeml.errors
STATUSES: dict[int, str] = {
    400: "Bad input: a malformed or out-of-range parameter or body (ValidationError)",
    401: "No valid API key: none sent, or an unknown, revoked or expired one, with security enabled (UnauthenticatedError)",
    403: "Not allowed: the caller's policies deny the action, or a server path, script or source the operator did not allow (ForbiddenError)",
    404: "No such resource, version or artifact (NotFoundError)",
    409: "Conflict: it exists already, is busy, or cannot change state that way (AlreadyExistsError, ConflictError, InvalidTransitionError, JobFailedError)",
    413: "The body is larger than the limit (PayloadTooLargeError)",
    415: "Content-Type not spoken by this route (UnsupportedMediaTypeError)",
    422: "The Idempotency-Key came back with another request (IdempotencyKeyReusedError)",
    424: "The model raised while predicting (ModelError)",
    429: "Too many requests from this principal (or address); Retry-After says when to come back (ThrottlingError)",
    500: "A server bug or a corrupt artifact (InternalError, CorruptArtifactError); the connection is closed",
    503: "A backend service, endpoint or worker cannot be reached (BackendUnavailableError)",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: 400 (every route validates its input) plus ``codes``.

    401, 403 (every route needs a key and a policy allowing it once security is on) and 500 are
    added to every operation by :func:`install`; a route that answers 404 for a missing
    resource lists 404 here, and so on for each status its service raises.
    """
    wanted = sorted({400, *codes})
    unknown = [c for c in wanted if c not in STATUSES]
    if unknown:
        raise ValueError(f"errors(): no description for status {unknown}; add it to STATUSES")
    return {c: {"model": ErrorBody, "description": STATUSES[c]} for c in wanted}


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": kind, "message": message}, status_code=status, headers=headers)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _allowed(request: Request, fallback: str) -> str:
    """The methods the spec's most specific operation at this path takes (Starlette names only
    the first route's), plus HEAD where GET is served; ``fallback`` for a path outside the spec."""
    table = getattr(request.app.state, "allow_table", None)
    if table is None:
        table = []
        for template, item in request.app.openapi().get("paths", {}).items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            methods = {m.upper() for m in item if m.upper() in _METHODS}
            methods |= {"HEAD"} if "GET" in methods else set()
            table.append((re.compile(f"^{pattern}$"), template.count("{"), methods))
        request.app.state.allow_table = table
    matches = [(params, methods) for rx, params, methods in table if rx.match(request.url.path)]
    if not matches:
        return fallback
    # the resource the most specific template names: /datasets/ingest, not /datasets/{name}
    fewest = min(params for params, _ in matches)
    return ", ".join(sorted(set().union(*(m for params, m in matches if params == fewest))))


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}


def install(app: FastAPI) -> None:
    """Register the exception handlers, the URL guard, the clean-500 middleware and the spec fix."""

    @app.exception_handler(ForgeError)
    async def _forge(_request: Request, exc: ForgeError) -> JSONResponse:
        from forgeml.security._limits import retry_headers

        return error_response(http_status(exc), exc.kind, exc.message, retry_headers(exc) or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        return error_response(400, "ValidationError", message)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "NotFoundError", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed(request, headers.get("Allow", ""))
        return error_response(exc.status_code, kind, str(exc.detail), headers)

    async def _bad_input(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s %s: bad input reached %s", request.method, request.url.path, type(exc).__name__, exc_info=exc)
        return error_response(400, "ValidationError", _first_line(exc))

    for cls in (ValueError, TypeError, OverflowError):
        app.add_exception_handler(cls, _bad_input)

    app.add_middleware(RejectNulInURL)
    app.add_middleware(CleanServerErrors)
    _declare_errors(app)


class CleanServerErrors:
    """A 500 ``InternalError`` for whatever no handler took, sent as a complete response with
    ``Connection: close`` (an exception re-raised to the server would drop the keep-alive
    connection with no word to the client, whose next pooled request is then reset)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def _send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, _send)
        except Exception as exc:
            if started:  # the answer is half sent: only closing the connection can tell the client
                raise
            log.error("%s %s: unhandled %s", scope.get("method"), scope.get("path"), type(exc).__name__, exc_info=exc)
            message = f"unexpected {type(exc).__name__} on the server; its log has the details"
            response = error_response(500, "InternalError", message, {"Connection": "close"})
            await response(scope, receive, send)


class RejectNulInURL:
    """A 400 for a NUL byte in the URL's path or query: no name, path or filename may hold one
    (the OS refuses it with "embedded null byte" deep inside a handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = _nul_in(scope)
            if where is not None:
                response = error_response(400, "ValidationError", f"{where}: a NUL byte (%00) is not allowed")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _nul_in(scope: Scope) -> str | None:
    if "\x00" in scope.get("path", ""):
        return "path"
    query = scope.get("query_string", b"").decode("latin-1")
    if "%00" not in query and "\x00" not in query:
        return None
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return f"query.{name.replace(chr(0), '%00')}"
    return None


def _declare_errors(app: FastAPI) -> None:
    """Make the spec say what the server sends: 400 (not FastAPI's 422), 401, 403, 429 and 500 on every operation."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                auto = responses.get("422", {})
                if "HTTPValidationError" in str(auto.get("content", "")):
                    del responses["422"]
                for code in (400, 401, 403, 429, 500):
                    responses.setdefault(str(code), {"description": STATUSES[code]})
                for code, answer in responses.items():
                    if code.isascii() and code.isdigit() and int(code) >= 400:
                        answer["content"] = body  # errors are JSON, whatever the route's own media type
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("ErrorBody", ErrorBody.model_json_schema())
        if "HTTPValidationError" not in str(schema.get("paths")):
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
