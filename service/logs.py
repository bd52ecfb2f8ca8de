"""Structured logs and the per-request context: a request id (``X-Request-ID`` in and out) on every log line,
one JSON access line per request, request metrics, the tracing root span, and a plain 500 for unknown errors.

(Named ``logs`` rather than ``logging`` so that ``import logging`` inside ``service/`` is never ambiguous.)
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_body
from service.metrics import Metrics
from service.tracing import Tracing

log = logging.getLogger(__name__)
access_log = logging.getLogger("sieve.access")

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request's id (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, any ``extra=`` fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Root logging for a server process: JSON lines (or text) on stderr, each with its request id."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("faiss.loader", "httpx", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []  # through the root handler, as JSON
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # ``sieve.access`` logs each request with its id


class RequestContext:
    """Outermost ASGI middleware. Per request: adopt a valid incoming ``X-Request-ID`` or make one, echo it, log
    one access line, count and time the request per route, open the tracing span, and turn an unhandled exception
    into a logged, plain 500 that still carries the request id."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: frozenset[str], tracing: Tracing | None) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started, status = True, message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        start = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            if self.tracing is None:
                await self._call(scope, receive, send_with_id, lambda: started)
            else:
                attrs = {"http.method": scope["method"], "http.target": scope["path"], "sieve.request_id": rid}
                with self.tracing.request_span(f"{scope['method']} {scope['path']}", attrs) as span:
                    await self._call(scope, receive, send_with_id, lambda: started)
                    span.set_attribute("http.status_code", status)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, rid, status, time.perf_counter() - start)
            request_id_var.reset(token)

    async def _call(self, scope: Scope, receive: Receive, send: Send, started: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started():
                raise
            await error_body(500, "InternalError", "internal error; see the server log")(scope, receive, send)

    def _record(self, scope: Scope, rid: str, status: int, seconds: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", None) or (scope["path"] if scope["path"] in self.routes else "unmatched")
        self.metrics.requests.labels(scope["method"], path, str(status)).inc()
        self.metrics.request_seconds.labels(scope["method"], path).observe(seconds)
        who = scope.get("state", {}).get("principal")
        access_log.info("%s %s %d", scope["method"], scope["path"], status,
                        extra={"request_id": rid, "method": scope["method"], "path": scope["path"], "status": status,
                               "duration_ms": round(seconds * 1000, 2), "caller": getattr(who, "name", None)})
