"""Long documents as passages: token windows (the encoder's own tokenizer) with overlap, each vector a passage, and
passage hits folded back into document hits that carry the best passage's character offsets into the document text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from indexers.encoders import Encoder
from kernel.errors import InvalidInput
from kernel.types import Doc

PASSAGES_FILE = "passages.npy"  # (n, 2) int64: start, end character offsets into the document text, per vector


class ChunkSpec(BaseModel):
    """Split each document's text into windows of ``window`` tokens, consecutive windows sharing ``overlap`` tokens;
    the title (when there is one) is put before every passage. A search fetches ``overfetch`` passages per wanted
    document and scores a document by its best passage (``max``) or the sum of its passages found (``sum``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: int = Field(200, ge=8, le=8192, description="text tokens per passage (leave room for the title)")
    overlap: int = Field(50, ge=0, description="tokens shared by consecutive passages")
    aggregate: Literal["max", "sum"] = "max"
    overfetch: int = Field(4, ge=1, le=100, description="passages fetched per document asked for")

    @model_validator(mode="after")
    def _overlap_below_window(self) -> ChunkSpec:
        if self.overlap >= self.window:
            raise ValueError(f"overlap {self.overlap} must be smaller than window {self.window}")
        return self

    @classmethod
    def parse(cls, text: str) -> ChunkSpec:
        """``WINDOW:OVERLAP[:max|sum]`` (the CLI's ``--chunk``), e.g. ``200:50`` or ``256:64:sum``.

        Raises:
            InvalidInput: not in that form, or overlap >= window.
        """
        parts = text.split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError("expected WINDOW:OVERLAP[:max|sum]")
            agg = {"aggregate": parts[2]} if len(parts) == 3 else {}
            return cls(window=int(parts[0]), overlap=int(parts[1]), **agg)  # type: ignore[arg-type]
        except ValueError as exc:
            raise InvalidInput(f"bad --chunk {text!r}: {exc}") from None


def windows(offsets: list[tuple[int, int]], text_length: int, spec: ChunkSpec) -> list[tuple[int, int]]:
    """Character spans of the token windows over one text (one empty span for an empty text)."""
    if not offsets:
        return [(0, text_length)]
    step = spec.window - spec.overlap
    spans = []
    for first in range(0, len(offsets), step):
        last = min(first + spec.window, len(offsets)) - 1
        spans.append((offsets[first][0], offsets[last][1]))
        if last == len(offsets) - 1:
            break
    return spans


@dataclass
class Passages:
    """The passages of a corpus in vector order: owning doc id, span in the doc's text, and the text to encode."""

    ids: list[str]
    spans: list[tuple[int, int]]
    texts: list[str]

    def as_docs(self) -> Iterator[Doc]:
        return (Doc(doc_id, text) for doc_id, text in zip(self.ids, self.texts, strict=True))


def split_corpus(docs: Iterable[Doc], encoder: Encoder, spec: ChunkSpec, batch: int = 256) -> Passages:
    """Every document's passages, tokenised in batches with ``encoder``'s own tokenizer."""
    out = Passages([], [], [])
    pending: list[Doc] = []

    def flush() -> None:
        for doc, offsets in zip(pending, encoder.token_offsets([d.text for d in pending]), strict=True):
            for start, end in windows(offsets, len(doc.text), spec):
                out.ids.append(doc.id)
                out.spans.append((start, end))
                body = doc.text[start:end]
                out.texts.append(f"{doc.title} {body}".strip() if doc.title else body)
        pending.clear()

    for doc in docs:
        pending.append(doc)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return out


def aggregate(docids: list[str], spans: NDArray[np.int64], scores: NDArray, positions: NDArray, k: int,
              how: str) -> list[tuple[str, float, tuple[int, int]]]:
    """Passage hits (one query's FAISS row) -> the top ``k`` documents, each with its best passage's span."""
    best: dict[str, tuple[float, int]] = {}
    total: dict[str, float] = {}
    for score, pos in zip(scores, positions, strict=True):
        if pos < 0:
            continue
        doc_id, s = docids[pos], float(score)
        total[doc_id] = total.get(doc_id, 0.0) + s
        if doc_id not in best or s > best[doc_id][0]:
            best[doc_id] = (s, int(pos))
    value = total if how == "sum" else {d: s for d, (s, _) in best.items()}
    order = sorted(value, key=lambda d: -value[d])[:k]
    return [(d, value[d], (int(spans[best[d][1]][0]), int(spans[best[d][1]][1]))) for d in order]
