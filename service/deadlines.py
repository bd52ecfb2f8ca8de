"""A request's time budget. Stages ask how much is left; one that would overrun is cut short or skipped, and the
response lists it under ``degraded`` instead of the whole request timing out."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kernel.errors import InvalidInput


@dataclass(frozen=True)
class Deadline:
    """An absolute point on the monotonic clock, made from a budget in milliseconds."""

    at: float
    budget_ms: float

    @classmethod
    def after(cls, budget_ms: float) -> Deadline:
        return cls(time.monotonic() + budget_ms / 1000, budget_ms)

    @classmethod
    def for_request(cls, timeout_ms: float | None, default_ms: float, max_ms: float) -> Deadline:
        """The budget a request asked for (``timeout_ms``), else the route's default.

        Raises:
            InvalidInput: ``timeout_ms`` is over the server's ``max_ms``.
        """
        if timeout_ms is not None and timeout_ms > max_ms:
            raise InvalidInput(f"timeout_ms={timeout_ms:g} is over this server's limit of {max_ms:g}")
        return cls.after(timeout_ms or default_ms)

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at


NO_DEADLINE = Deadline(float("inf"), float("inf"))
