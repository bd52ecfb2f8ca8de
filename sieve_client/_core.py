"""What the sync and async clients share: settings, retry timing, request bodies and response decoding (no I/O)."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from sieve_client.errors import (
    SieveAPIError,
    SieveConnectionError,
    SieveInputError,
    SieveResponseError,
    SieveTimeoutError,
)

log = logging.getLogger("sieve_client")

__version__ = "0.1.0"
DEFAULT_URL = "http://127.0.0.1:8000"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """When and how long to wait before sending a call again.

    Args:
        max_retries: retries after the first attempt (0 disables retrying).
        backoff: first wait in seconds; doubles on each retry (exponential backoff).
        max_backoff: longest single wait, also the cap on a server's ``Retry-After``.
        jitter: up to this fraction is added at random to each wait, so clients do not retry in lockstep.
        statuses: HTTP statuses that mean "try again later" (429 overloaded, 503 unavailable).
        connect_errors: also retry when the connection is refused (nothing was sent, so it is always safe).
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: float = 0.1
    statuses: frozenset[int] = frozenset({429, 503})
    connect_errors: bool = True

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.backoff < 0 or self.max_backoff < 0 or self.jitter < 0:
            raise SieveInputError(f"retry settings must be >= 0, got {self}")

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based); a ``Retry-After`` header wins when present."""
        after = _retry_after(response) if response is not None else None
        if after is not None:
            return min(after, self.max_backoff)
        base = min(self.backoff * (2.0**attempt), self.max_backoff)  # float power: int ** int is typed Any
        return base * (1 + random.uniform(0, self.jitter))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """Everything a client needs to reach a server; both clients take one, so a sync one can spawn an async twin.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer <key>`` when given.
        timeout: seconds for each of connect, read, write and pool.
        retry: the retry policy for 429/503 and refused connections.
        headers: extra headers sent with every call.
    """

    base_url: str = DEFAULT_URL
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise SieveInputError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if self.timeout <= 0:
            raise SieveInputError(f"timeout must be > 0 seconds, got {self.timeout}")

    def all_headers(self) -> dict[str, str]:
        out = {"accept": "application/json", "user-agent": f"sieve-client/{__version__}", **self.headers}
        if self.api_key:
            out["authorization"] = f"Bearer {self.api_key}"
        return out


class SearchOptions(TypedDict, total=False):
    """Optional ``POST /v1/search`` fields; left out, the server's default pipeline decides.

    A copy of the server's request fields (``tests/sieve_client/test_search_fields.py`` keeps it in step).
    """

    depth: int
    fusion: Mapping[str, Any]
    bm25: Mapping[str, Any]
    sparse_index: str
    dense_index: str
    ef_search: int
    include_text: bool
    dimensions: int
    retrievers: Sequence[str]
    splade_index: str
    splade: Mapping[str, Any]
    splade_min_weight: float
    explain: bool
    funnel: Mapping[str, Any]
    layers: int
    query_encoder: str
    rerank: bool | Mapping[str, Any]
    timeout_ms: int
    filter: Mapping[str, Any]  # e.g. {"field": "year", "gte": 2020} or {"and": [...]}: see the server's grammar


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SieveInputError(f"{name} must be a non-empty string, got {value!r}")
    return value


def check_search_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` as a dict, refusing keys ``POST /v1/search`` does not take (the error lists the valid ones)."""
    unknown = set(options) - set(SearchOptions.__annotations__)
    if unknown:
        valid = sorted(SearchOptions.__annotations__)
        raise SieveInputError(f"unknown search option(s) {sorted(unknown)}; valid: {valid}")
    return dict(options)


def search_body(
    collection: str, query: str, k: int, retriever: str | None, options: Mapping[str, Any]
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/search``; options set to None are left out (the server default applies)."""
    check_search_options(options)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SieveInputError(f"k must be a positive integer, got {k!r}")
    body: dict[str, Any] = {"collection": _text("collection", collection), "query": _text("query", query), "k": k}
    if retriever is not None:
        body["retriever"] = retriever
    body.update({key: dict(v) if isinstance(v, Mapping) else v for key, v in options.items() if v is not None})
    return body


def embed_body(
    input: str | Sequence[str], model: str, dimensions: int | None, encoding_format: str, user: str | None
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/embeddings`` (OpenAI shape; ``model`` is required there too)."""
    texts = [input] if isinstance(input, str) else list(input)
    if not texts:
        raise SieveInputError("input must be a string or a non-empty list of strings")
    for i, t in enumerate(texts):
        _text(f"input[{i}]", t)
    if encoding_format not in ("float", "base64"):
        raise SieveInputError(f"encoding_format must be 'float' or 'base64', got {encoding_format!r}")
    body: dict[str, Any] = {"input": input if isinstance(input, str) else texts, "model": _text("model", model),
                            "encoding_format": encoding_format}
    extras = {"dimensions": dimensions, "user": user}
    body.update({key: v for key, v in extras.items() if v is not None})
    return body


def rerank_body(query: str, documents: Sequence[str], model: str | None, top_n: int | None) -> dict[str, Any]:
    """The JSON body of ``POST /v2/rerank`` (Cohere v2 shape, documents as plain strings)."""
    if isinstance(documents, str) or not isinstance(documents, Sequence):
        raise SieveInputError("documents must be a list of strings")
    for i, d in enumerate(documents):
        if not isinstance(d, str):
            raise SieveInputError(f"documents[{i}] must be a string, got {type(d).__name__}")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise SieveInputError(f"top_n must be a positive integer, got {top_n!r}")
    body: dict[str, Any] = {"query": _text("query", query), "documents": list(documents)}
    body.update({key: v for key, v in {"model": model, "top_n": top_n}.items() if v is not None})
    return body


def api_error(response: httpx.Response, attempts: int) -> SieveAPIError:
    """Unpack the server's ``{"error": {type, message, details}}`` body (or whatever text it sent)."""
    method, path = response.request.method, response.request.url.path
    try:
        err = response.json()["error"]
        kind, message, details = str(err["type"]), str(err["message"]), err.get("details")
    except (ValueError, KeyError, TypeError):
        kind, message, details = "HTTPError", response.text[:500] or response.reason_phrase, None
    if response.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
        message += f"; this server may not offer {method} {path} (check its version)"
    return SieveAPIError(response.status_code, kind, message, details=details, method=method, path=path,
                         attempts=attempts)


def decode(response: httpx.Response, model: type[M], attempts: int) -> M:
    """A 2xx body validated as ``model``, or the matching error."""
    if not response.is_success:
        raise api_error(response, attempts)
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        where = f"{response.request.method} {response.request.url.path}"
        raise SieveResponseError(f"{where}: the response is not a valid {model.__name__}: {exc}") from exc


def transport_error(exc: httpx.TransportError, method: str, url: str) -> Exception:
    """httpx's transport errors as the client's own types, naming the call."""
    if isinstance(exc, httpx.TimeoutException):
        return SieveTimeoutError(f"{method} {url}: no answer in time ({type(exc).__name__}: {exc})")
    return SieveConnectionError(f"{method} {url}: {type(exc).__name__}: {exc}")


def retry_wait(
    policy: RetryPolicy, attempt: int, response: httpx.Response | None, exc: Exception | None
) -> float | None:
    """Seconds to wait before sending again, or None when this outcome must not be retried."""
    if attempt >= policy.max_retries:
        return None
    if response is not None and response.status_code in policy.statuses:
        wait = policy.delay(attempt, response)
        log.warning("%s %s -> %d; retry %d/%d in %.2fs", response.request.method, response.request.url.path,
                    response.status_code, attempt + 1, policy.max_retries, wait)
        return wait
    if exc is not None and policy.connect_errors and isinstance(exc, httpx.ConnectError):
        wait = policy.delay(attempt)
        log.warning("connection failed (%s); retry %d/%d in %.2fs", exc, attempt + 1, policy.max_retries, wait)
        return wait
    return None
