"""API keys and per-key rate limits, checked before any route runs (``AccessControl``, an ASGI middleware).

Keys come from settings (``auth.api_keys``: key -> scope ``read`` or ``admin``), sent as ``Authorization: Bearer KEY``
or ``X-API-Key: KEY``. ``read`` opens every route but admin ones; ``admin`` opens all. With no keys configured, auth
is off: every route is open and rate limits apply per client address. Paths in ``auth.public_paths`` (probes,
metrics, docs) are never checked nor limited.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from kernel.errors import SieveError
from service.config import ApiKey, AuthSettings
from service.errors import Forbidden, RateLimited, Unauthorized, error_response
from service.metrics import Metrics
from service.ratelimit import RateLimiter

log = logging.getLogger(__name__)

SCOPES = {"read": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    """Who is calling: ``name`` is safe to log (a configured name or a hash prefix, never the key)."""

    name: str
    scope: str
    rate_per_s: float | None = None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def presented_key(headers: Headers) -> str | None:
    """The key from ``Authorization: Bearer KEY`` or ``X-API-Key: KEY`` (Bearer wins when both are sent)."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return headers.get("x-api-key") or None


class KeyRing:
    """The configured keys, held as SHA-256 digests and compared in constant time."""

    def __init__(self, keys: dict[str, ApiKey]) -> None:
        self._keys = [(_digest(k), spec.name or f"key:{_digest(k).hex()[:8]}", spec) for k, spec in keys.items()]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def authenticate(self, headers: Headers) -> Principal:
        """Raises:
        Unauthorized: no key sent, or not one of the configured keys."""
        key = presented_key(headers)
        if key is None:
            raise Unauthorized("missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`")
        digest = _digest(key)
        match = None
        for known, name, spec in self._keys:  # no early exit: the time taken does not say which key was close
            if hmac.compare_digest(known, digest):
                match = Principal(name, spec.scope, spec.rate_per_s)
        if match is None:
            raise Unauthorized("unknown API key")
        return match


def principal(request: Request) -> Principal:
    """The caller ``AccessControl`` identified. With auth off it records every caller with full scope; when it
    recorded no one (a route reached around it), the caller gets the lowest scope: fail closed."""
    found = request.scope.get("state", {}).get("principal")
    return found if isinstance(found, Principal) else Principal("unidentified", "read")


async def require_admin(request: Request) -> Principal:
    """Route dependency for admin routes: ``dependencies=[Depends(require_admin)]``.

    Raises:
        Forbidden: the caller's key has the ``read`` scope only.
    """
    who = principal(request)
    if SCOPES[who.scope] < SCOPES["admin"]:
        raise Forbidden(f"{request.url.path} needs an API key with the admin scope; {who.name} has {who.scope!r}")
    return who


class AccessControl:
    """ASGI middleware: authenticate (when keys are configured), then take a token from the caller's bucket.
    Refusals are JSON errors: 401 (with ``WWW-Authenticate``), 429 (with ``Retry-After``)."""

    def __init__(self, app: ASGIApp, *, auth: AuthSettings, limiter: RateLimiter, metrics: Metrics) -> None:
        self.app = app
        self.keys = KeyRing(auth.api_keys)
        self.public = frozenset(auth.public_paths)
        self.limiter = limiter
        self.metrics = metrics
        if not self.keys.enabled:
            log.warning("no API keys configured (auth.api_keys): authentication is off, every route is open")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        try:
            who = self._identify(scope)
            self.limiter.acquire(who.name, who.rate_per_s)
        except SieveError as exc:
            reason = "rate_limited" if isinstance(exc, RateLimited) else "unauthorized"
            self.metrics.rejected.labels(reason).inc()
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = who
        await self.app(scope, receive, send)

    def _identify(self, scope: Scope) -> Principal:
        if self.keys.enabled:
            return self.keys.authenticate(Headers(scope=scope))
        client = scope.get("client")
        return Principal(f"addr:{client[0] if client else 'unknown'}", "admin")
