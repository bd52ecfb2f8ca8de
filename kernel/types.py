"""Plain data passed between stages: documents in, hits out. Shared by indexers, rankers and the service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True, slots=True)
class Doc:
    """One corpus record; ``metadata`` is its JSON object (what filters read), None when it has none. It is left
    out of the hash (a dict is not hashable) but compared."""

    id: str
    text: str
    title: str = ""
    metadata: Mapping[str, Any] | None = field(default=None, hash=False)

    @property
    def contents(self) -> str:
        """Title and body as one string: what both BM25 and the encoders see (as BEIR/Pyserini do)."""
        return f"{self.title} {self.text}".strip() if self.title else self.text


@dataclass(frozen=True, slots=True)
class Hit:
    """A scored document id; ``stage_scores`` keeps the score each earlier stage gave it; ``passage`` is the
    ``(start, end)`` character span of its best passage in ``text`` when it came from a passage index."""

    id: str
    score: float
    title: str = ""
    text: str = ""
    stage_scores: dict[str, float] = field(default_factory=dict)
    passage: tuple[int, int] | None = None
    metadata: Mapping[str, Any] | None = None  # the document's metadata once hydrated (None: it has none)

    def with_score(self, score: float, stage: str) -> Hit:
        """A copy carrying a new score, remembering it under ``stage``."""
        return replace(self, score=score, stage_scores={**self.stage_scores, stage: score})
