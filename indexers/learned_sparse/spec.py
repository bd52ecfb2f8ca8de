"""What every learned sparse index build shares: the encoder, document-term pruning and impact quantisation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from indexers.sparse_encoders import IMPACT_SCALE, SparseEncoderSpec

KIND = "learned_sparse"


class SparseBuildSpec(BaseModel):
    """Encoding and pruning of the document vectors, common to every learned sparse backend.

    ``doc_top_k`` keeps each document's heaviest terms (None: all); ``doc_threshold`` drops terms whose weight
    is at most the threshold. ``impact_scale`` is the factor of the integer impacts ``round(w * scale)`` that
    Lucene stores (queries are quantised with the same factor; terms that round to 0 drop out).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    encoder: SparseEncoderSpec = Field(default_factory=SparseEncoderSpec)
    doc_top_k: int | None = Field(None, ge=1)
    doc_threshold: float = Field(0.0, ge=0)
    impact_scale: float = Field(IMPACT_SCALE, gt=0)
    chunk_size: int = Field(256, ge=1)

    def pruning(self) -> dict[str, object]:
        """The part of the spec that decides which document terms are stored (compared on vector reuse)."""
        return {"model": self.encoder.model, "max_length": self.encoder.max_length, "doc_top_k": self.doc_top_k,
                "doc_threshold": self.doc_threshold}
