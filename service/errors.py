"""The one table from error type to HTTP status, and the handlers that render every error as JSON."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.errors import (
    CorpusError,
    IndexUnavailable,
    InvalidInput,
    MissingExtra,
    ModelUnavailable,
    NotFound,
    SieveError,
    UpstreamError,
)
from service.redact import redact, server_roots

log = logging.getLogger(__name__)


class Unauthorized(SieveError):
    """No API key, or one this server does not know."""


class Forbidden(SieveError):
    """The API key is valid but its scope does not allow this route."""


class RateLimited(SieveError):
    """The key's token bucket is empty; ``retry_after_s`` says when the next request would pass."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Overloaded(SieveError):
    """A bounded queue is full: the server is at capacity right now, not broken."""

    retry_after_s: float = 1.0


class Conflict(SieveError):
    """The change clashes with one already running (a model upgrade of the same collection)."""


class DeadlineExceeded(SieveError):
    """The request's time budget ran out before any answer existed (a stage with a fallback degrades instead)."""


STATUS: dict[type[SieveError], int] = {
    InvalidInput: 422,
    CorpusError: 422,
    NotFound: 404,
    Unauthorized: 401,
    Forbidden: 403,
    RateLimited: 429,
    Overloaded: 503,
    DeadlineExceeded: 504,
    Conflict: 409,
    IndexUnavailable: 503,
    ModelUnavailable: 503,
    MissingExtra: 501,
    UpstreamError: 502,
}


def _status(exc: SieveError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(status: int, kind: str, message: str, details: object = None,
               headers: dict[str, str] | None = None) -> JSONResponse:
    error: dict[str, object] = {"type": kind, "message": message}
    if details is not None:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def request_roots(request: Request) -> tuple[str, ...]:
    """The server folders to keep out of this app's answers (``service/redact.py``)."""
    settings = getattr(request.app.state, "settings", None)
    return server_roots(*((settings.index_root, settings.data_dir) if settings is not None else ()))


def error_response(exc: SieveError, roots: tuple[str, ...] = ()) -> JSONResponse:
    """The JSON response for ``exc``: its status from ``STATUS``, ``Retry-After`` and ``WWW-Authenticate`` headers
    where they apply; its message without server paths or URLs (the full one goes to the log). Middleware (outside
    FastAPI's handlers) renders its errors with this too."""
    message = redact(str(exc), roots or server_roots())
    if message != str(exc):
        log.warning("%s (redacted in the response): %s", type(exc).__name__, exc)
    headers = {}
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return error_body(_status(exc), type(exc).__name__, message, headers=headers or None)


def install_error_handlers(app: FastAPI) -> None:
    """Bad input always becomes a 4xx with a JSON body that says what is wrong; never a 500."""

    @app.exception_handler(SieveError)
    async def _sieve(request: Request, exc: SieveError) -> JSONResponse:
        return error_response(exc, request_roots(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        roots = request_roots(request)
        details = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": redact(e["msg"], roots)}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in details)
        return error_body(422, "InvalidInput", summary, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_body(exc.status_code, "HTTPError", redact(str(exc.detail), request_roots(request)))

    @app.exception_handler(Exception)
    async def _unknown(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_body(500, "InternalError", "internal error; see the server log")


class BodySizeLimit:
    """Refuse request bodies over ``limit`` bytes with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                # FastAPI re-raises HTTPException from body parsing, so the handler above renders the 413.
                raise HTTPException(413, f"request body over the limit of {self.limit} bytes")
            return message

        await self.app(scope, counted, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_body(413, "PayloadTooLarge", f"request body over the limit of {self.limit} bytes")
        await response(scope, receive, send)
