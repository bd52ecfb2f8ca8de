"""What Matryoshka structure an index gets, the funnel's settings (built default) and a search's funnel options."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kernel.options import partial_model

Code = Literal["fp32", "sq8", "binary"]
CODES: tuple[str, ...] = ("fp32", "sq8", "binary")


class FunnelSpec(BaseModel):
    """Shortlist ``shortlist`` candidates with the ``dims``-dim ``code`` index, rescore them at full dimension."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dims: int = Field(64, ge=8, description="prefix dimension of the shortlist index")
    code: Code = Field("sq8", description="code of the shortlist index: fp32, sq8 (int8) or binary")
    shortlist: int = Field(200, ge=1, le=10_000, description="candidates rescored at full dimension")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# FunnelSpec's fields, each optional (one definition of each, with its bounds).
class FunnelOptions(partial_model(FunnelSpec, base=_Frozen)):  # type: ignore[misc]
    """Per-request funnel settings; a field left out takes the index's built default."""

    def over(self, default: FunnelSpec) -> FunnelSpec:
        """``default`` with the fields set here replacing its own."""
        return default.model_copy(update=self.model_dump(exclude_none=True))


class MatryoshkaSpec(BaseModel):
    """Prefix dims to serve, the transform that orders information into prefixes, and which codes to keep.

    ``transform``: ``none`` (plain truncation: for Matryoshka-trained models), ``pca`` (an orthogonal rotation fitted
    on the corpus; full-dimension scores unchanged) or ``adaptor`` (PCA followed by a learned residual map).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    transform: Literal["none", "pca", "adaptor"] = "pca"
    dims: tuple[int, ...] = (256, 128, 64, 32)
    codes: tuple[Code, ...] = ("fp32", "sq8", "binary")
    funnel: FunnelSpec = FunnelSpec()
    adaptor_steps: int = Field(300, ge=1)
    adaptor_seed: int = 0

    @field_validator("dims")
    @classmethod
    def _dims_valid(cls, dims: tuple[int, ...]) -> tuple[int, ...]:
        if not dims or any(d < 8 or d % 8 for d in dims):
            raise ValueError("dims must be non-empty multiples of 8 (binary codes pack 8 dims a byte)")
        return tuple(sorted(set(dims), reverse=True))
