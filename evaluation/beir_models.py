"""Sieve's encoders as a BEIR dense model, so BEIR's own ``DenseRetrievalExactSearch`` scores them in-process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from indexers.encoders import Encoder, EncoderSpec, build_encoder
from kernel.errors import InvalidInput
from kernel.types import Doc

CorpusBatch = Sequence[Mapping[str, str]] | Mapping[str, Sequence[str]] | Sequence[str]


def corpus_texts(corpus: CorpusBatch) -> list[str]:
    """What BEIR hands ``encode_corpus`` as the strings Sieve indexes: "title text" (``Doc.contents``).

    BEIR passes a list of ``{"title", "text"}`` dicts, a dict of columns, or plain strings; all three are accepted.

    Raises:
        InvalidInput: a record without ``text``.
    """
    if isinstance(corpus, Mapping):
        texts, titles = corpus.get("text"), corpus.get("title")
        if texts is None:
            raise InvalidInput("a column-style corpus batch needs a 'text' column")
        titles = titles if titles is not None else [""] * len(texts)
        if len(titles) != len(texts):
            raise InvalidInput(f"corpus batch has {len(titles)} titles for {len(texts)} texts")
        return [Doc(id="", text=x, title=t or "").contents for t, x in zip(titles, texts, strict=True)]
    out = []
    for i, record in enumerate(corpus):
        if isinstance(record, str):
            out.append(record)
            continue
        if not isinstance(record, Mapping) or "text" not in record:
            raise InvalidInput(f"corpus record {i} has no 'text' field: {str(record)[:80]!r}")
        out.append(Doc(id="", text=record["text"] or "", title=record.get("title") or "").contents)
    return out


class SieveBeirModel:
    """A BEIR model (``encode_queries`` / ``encode_corpus``) over a Sieve ``Encoder``.

    Vectors come back exactly as Sieve's dense indexes store them (unit length for cosine models), so
    ``DenseRetrievalExactSearch(SieveBeirModel(...))`` with ``score_function="cos_sim"`` ranks like Sieve's ``Flat``
    dense index over the same corpus.

    Args:
        spec: which encoder to load (``EncoderSpec()``: MiniLM-L6 through sentence-transformers).
        encoder: an already loaded encoder instead of ``spec``.

    Example:
        >>> search = DenseRetrievalExactSearch(SieveBeirModel(EncoderSpec(backend="onnx")), batch_size=64)
        >>> results = EvaluateRetrieval(search, score_function="cos_sim").retrieve(corpus, queries)
    """

    def __init__(self, spec: EncoderSpec | None = None, *, encoder: Encoder | None = None) -> None:
        if spec is not None and encoder is not None:
            raise InvalidInput("give SieveBeirModel either an EncoderSpec or a loaded encoder, not both")
        self.encoder = encoder if encoder is not None else build_encoder(spec or EncoderSpec())

    def encode_queries(self, queries: Sequence[str], batch_size: int = 32, **kwargs: Any) -> Any:
        """Query vectors, ``batch_size`` queries per encoder call; ``convert_to_tensor=True`` gives a torch tensor."""
        vectors = self._batched(list(queries), batch_size, self.encoder.encode_queries)
        return _output(vectors, kwargs.get("convert_to_tensor", False))

    def encode_corpus(self, corpus: CorpusBatch, batch_size: int = 32, **kwargs: Any) -> Any:
        """Document vectors of "title text", ``batch_size`` documents per encoder call."""
        vectors = self._batched(corpus_texts(corpus), batch_size, self.encoder.encode_docs)
        return _output(vectors, kwargs.get("convert_to_tensor", False))

    def _batched(self, texts: list[str], batch_size: int, encode: Any) -> NDArray[np.float32]:
        if batch_size < 1:
            raise InvalidInput(f"batch_size must be >= 1, got {batch_size}")
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        parts = [encode(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate(parts).astype(np.float32, copy=False)


def _output(vectors: NDArray[np.float32], as_tensor: bool) -> Any:
    if not as_tensor:
        return vectors
    import torch

    return torch.from_numpy(np.ascontiguousarray(vectors))
