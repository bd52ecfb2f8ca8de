"""Query encoders, loaded once per distinct spec and shared by every dense index built with that model, and their
async face for the service: batched across requests (``service/batching.py``), query vectors cached."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

import numpy as np
from numpy.typing import NDArray

from indexers.dense import DenseIndex
from indexers.encoders import Encoder, EncoderSpec, build_encoder
from kernel.errors import IndexUnavailable, InvalidInput
from service.batching import MicroBatcher
from service.cache import Cache, cache_key
from service.config import BatchingSettings
from service.metrics import Metrics
from service.once import Once

log = logging.getLogger(__name__)


class EncoderCache:
    """``for_index`` returns the encoder a dense index was built with, checking that it still matches."""

    def __init__(self, device: str | None = None) -> None:
        self._device = device
        self._encoders: Once[EncoderSpec, Encoder] = Once()

    def get(self, spec: EncoderSpec) -> Encoder:
        return self._encoders.get(spec, lambda: build_encoder(spec))

    def for_index(self, index: DenseIndex) -> Encoder:
        spec = EncoderSpec.model_validate(index.manifest.build["encoder"])
        encoder = self.get(spec)
        if encoder.dim != index.dim or encoder.revision != index.manifest.model_revision:
            raise IndexUnavailable(
                f"dense index {index.folder} was built with {index.manifest.model} "
                f"({index.manifest.model_revision}, {index.dim} dims) but the encoder now loads "
                f"{encoder.revision} ({encoder.dim} dims); rebuild the index"
            )
        return encoder


def by_length(encode: Callable[[Sequence[str]], NDArray[np.float32]], texts: Sequence[str],
              size: int) -> list[NDArray[np.float32]]:
    """``encode(texts)`` row by row, in forward passes of at most ``size`` texts of similar length: a pass pads every
    text to its longest, so mixing a 5-token query with a 60-token one would spend most of the pass on padding."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    rows: list[NDArray[np.float32]] = [np.empty(0, dtype=np.float32)] * len(texts)
    for start in range(0, len(order), size):
        chunk = order[start:start + size]
        for i, row in zip(chunk, encode([texts[i] for i in chunk]), strict=True):
            rows[i] = row
    return rows


def with_precision(fn: Callable[[Sequence[str]], NDArray[np.float32]], spec: EncoderSpec,
                   dtype: str) -> Callable[[Sequence[str]], NDArray[np.float32]]:
    """``fn`` run under torch autocast to ``dtype`` (torch backends only; float32 is ``fn`` itself). Autocast is
    per thread, so it is entered inside the call, on whichever worker thread runs it."""
    if dtype == "float32" or spec.backend != "torch":
        return fn
    import torch

    device = "cuda" if spec.device != "cpu" and torch.cuda.is_available() else "cpu"

    def autocast(texts: Sequence[str]) -> NDArray[np.float32]:
        with torch.autocast(device_type=device, dtype=getattr(torch, dtype)):
            return fn(texts)

    return autocast


class AsyncEncoder:
    """What the service awaits: ``encode_queries`` / ``encode_docs`` off the event loop, grouped across concurrent
    requests by a ``MicroBatcher`` (one per direction) unless batching is off, with query vectors cached by text.

    Args:
        encoder: the loaded model. spec: what it was built from (part of every vector's cache key).
        executor: where model calls run. batching: limits; ``enabled=False`` gives one model call per request.
        cache: query-vector cache, or ``None``.
    """

    def __init__(self, encoder: Encoder, spec: EncoderSpec, executor: Executor, *, batching: BatchingSettings,
                 cache: Cache | None, metrics: Metrics, dtype: str = "float32") -> None:
        self.encoder = encoder
        self._executor = executor
        self._cache = cache
        self._metrics = metrics
        self._key = [spec.model_dump(mode="json"), encoder.model_id, encoder.revision, dtype]
        self._encode_queries = with_precision(encoder.encode_queries, spec, dtype)
        self._encode_docs = with_precision(encoder.encode_docs, spec, dtype)
        self._spec = spec
        self._dtype = dtype
        self._queries: MicroBatcher[str, NDArray[np.float32]] | None = None
        self._docs: MicroBatcher[str, NDArray[np.float32]] | None = None
        self._make: Callable[[str, Callable[[Sequence[str]], NDArray[np.float32]]],
                             MicroBatcher[str, NDArray[np.float32]]] | None = None
        self._early: dict[int, tuple[MicroBatcher[str, NDArray[np.float32]] | None,
                                     Callable[[Sequence[str]], NDArray[np.float32]]]] = {}
        if batching.enabled:
            name = f"{spec.backend}:{spec.model}"
            size = batching.pass_size

            def batcher(kind: str, encode: Callable[[Sequence[str]], NDArray[np.float32]]
                        ) -> MicroBatcher[str, NDArray[np.float32]]:
                return MicroBatcher(f"{name}:{kind}", lambda t: by_length(encode, t, size), executor,
                                    max_batch=batching.max_batch, max_wait_ms=batching.max_wait_ms,
                                    max_queue=batching.max_queue, metrics=metrics, concurrency=batching.concurrency)

            self._queries = batcher("queries", self._encode_queries)
            self._docs = batcher("docs", self._encode_docs)
            self._make = batcher

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @property
    def num_layers(self) -> int | None:
        """Transformer layers of the model when it can stop early (torch backend), else None."""
        return getattr(self.encoder, "num_layers", None)

    def _early_exit(self, layers: int) -> tuple[MicroBatcher[str, NDArray[np.float32]] | None,
                                                Callable[[Sequence[str]], NDArray[np.float32]]]:
        """The batcher and the call that encode queries with the first ``layers`` layers (made on first use)."""
        if layers not in self._early:
            at = getattr(self.encoder, "encode_queries_at", None)
            if at is None:
                raise InvalidInput(f"early exit (layers) needs a torch encoder; {self.encoder.model_id} is served "
                                   f"by {self.encoder.backend}")

            def fn(texts: Sequence[str]) -> NDArray[np.float32]:
                return at(texts, layers)  # type: ignore[no-any-return]

            direct = with_precision(fn, self._spec, self._dtype)
            self._early[layers] = (self._make(f"queries@{layers}", direct) if self._make else None, direct)
        return self._early[layers]

    async def encode_queries(self, texts: Sequence[str], layers: int | None = None) -> NDArray[np.float32]:
        """Unit vectors for ``texts``, from the cache where present; the rest through the batcher. ``layers``: from
        the model's first ``layers`` transformer layers (early exit; None: the full model)."""
        batcher, direct = (self._queries, self._encode_queries) if layers is None else self._early_exit(layers)
        key = self._key if layers is None else [*self._key, f"layers={layers}"]
        keys = [cache_key("qvec", *key, t) for t in texts] if self._cache is not None else []
        found: dict[int, NDArray[np.float32]] = {}
        if self._cache is not None:
            blobs = await asyncio.gather(*(self._cache.get(k) for k in keys))
            found = {i: np.frombuffer(b, dtype=np.float32) for i, b in enumerate(blobs) if b is not None}
            for hit in (True, False):
                n = len(found) if hit else len(texts) - len(found)
                if n:
                    self._metrics.cache.labels("vector", "hit" if hit else "miss").inc(n)
        missing = [i for i in range(len(texts)) if i not in found]
        if missing:
            fresh = await self._encode(batcher, direct, [texts[i] for i in missing])
            for i, row in zip(missing, fresh, strict=True):
                found[i] = row
            if self._cache is not None:
                await asyncio.gather(*(self._cache.set(keys[i], found[i].astype(np.float32).tobytes())
                                       for i in missing))
        return np.stack([found[i] for i in range(len(texts))]).astype(np.float32, copy=False)

    async def encode_docs(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return await self._encode(self._docs, self._encode_docs, list(texts))

    async def _encode(self, batcher: MicroBatcher[str, NDArray[np.float32]] | None,
                      direct: Callable[[Sequence[str]], NDArray[np.float32]], texts: list[str]) -> NDArray[np.float32]:
        if batcher is None:
            return await asyncio.get_running_loop().run_in_executor(self._executor, direct, texts)
        return np.stack(await batcher.submit_many(texts))

    async def close(self) -> None:
        for batcher in (self._queries, self._docs, *(b for b, _ in self._early.values())):
            if batcher is not None:
                await batcher.close()


class AsyncEncoders:
    """One ``AsyncEncoder`` per encoder spec, shared by every dense index and ``/v1/embeddings``."""

    def __init__(self, encoders: EncoderCache, executor: Executor, *, batching: BatchingSettings | None = None,
                 cache: Cache | None = None, metrics: Metrics | None = None, dtype: str = "float32") -> None:
        self.encoders = encoders
        self._dtype = dtype
        self._executor = executor
        self._batching = batching or BatchingSettings(enabled=False)
        self._cache = cache
        self._metrics = metrics or Metrics()
        self._wrapped: Once[EncoderSpec, AsyncEncoder] = Once()

    def get(self, spec: EncoderSpec) -> AsyncEncoder:
        encoder = self.encoders.get(spec)
        return self._wrap(spec, encoder)

    def for_index(self, index: DenseIndex) -> AsyncEncoder:
        encoder = self.encoders.for_index(index)
        return self._wrap(EncoderSpec.model_validate(index.manifest.build["encoder"]), encoder)

    def _wrap(self, spec: EncoderSpec, encoder: Encoder) -> AsyncEncoder:
        return self._wrapped.get(spec, lambda: AsyncEncoder(
            encoder, spec, self._executor, batching=self._batching, cache=self._cache, metrics=self._metrics,
            dtype=self._dtype))

    async def close(self) -> None:
        for wrapped in self._wrapped.values():
            await wrapped.close()
