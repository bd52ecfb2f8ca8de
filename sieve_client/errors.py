"""Errors the client raises: one base class, a subclass per way a call can fail (HTTP status, timeout, transport)."""

from __future__ import annotations


class SieveClientError(Exception):
    """Base class: every error the Sieve client raises on purpose."""


class SieveInputError(SieveClientError, ValueError):
    """The caller passed something the client can tell is wrong before sending it."""


class SieveAPIError(SieveClientError):
    """The server answered with an error status; its ``{"error": {type, message, details}}`` body is unpacked.

    Attributes:
        status: HTTP status code.
        type: the server's error type (``InvalidInput``, ``NotFound``, ...), or ``HTTPError`` for other bodies.
        message: the server's message.
        details: the server's details (per-field validation errors), if any.
        method: HTTP method of the failed call.
        path: path of the failed call.
        attempts: how many times the call was sent (more than 1 after retries on 429/503).
    """

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        *,
        details: object = None,
        method: str = "",
        path: str = "",
        attempts: int = 1,
    ) -> None:
        self.status = status
        self.type = type
        self.message = message
        self.details = details
        self.method = method
        self.path = path
        self.attempts = attempts
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{method} {path} -> {status} {type}: {message}{tries}")


class SieveTimeoutError(SieveClientError, TimeoutError):
    """No answer within the client's timeout (connect, read, write or pool)."""


class SieveConnectionError(SieveClientError, ConnectionError):
    """The server could not be reached (refused, reset, DNS), after any retries."""


class SieveResponseError(SieveClientError):
    """The server answered 2xx with a body that does not match the documented response shape."""
