"""``Once``: one value per key, made by the first caller that asks for it; later callers get the same one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Once(Generic[K, V]):
    """Values made at most once per key under one lock (model loads: two requests for a new model load it once)."""

    def __init__(self) -> None:
        self._values: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K, make: Callable[[], V]) -> V:
        with self._lock:
            if key not in self._values:
                self._values[key] = make()
            return self._values[key]

    def values(self) -> Iterator[V]:
        with self._lock:
            return iter(list(self._values.values()))
