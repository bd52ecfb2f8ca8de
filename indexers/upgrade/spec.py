"""What an upgrade is asked to do (``UpgradeRequest``) and where it stands (``UpgradeStatus``), shared by the CLI,
the admin route and the three phases; the scratch folder the re-encoding writes to."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from indexers.dense.query_encoders import MapRecord
from indexers.dense.query_map import DEFAULT_LAMBDA, MapMethod
from indexers.encoders import EncoderSpec

SCRATCH_DIR = ".upgrade"  # <root>/.upgrade/<collection>/<index>/: outside the folder a swap replaces, like .wal
Phase = Literal["pending", "mapping", "serving_mapped", "reencoding", "swapping", "done", "failed"]


def scratch_dir(root: Path, name: str, index: str) -> Path:
    return root / SCRATCH_DIR / name / index


def mapped_name(index: str) -> str:
    """The name the upgrade registers its mapped query encoder under."""
    return f"upgrade-{index}"


class UpgradeRequest(BaseModel):
    """Upgrade dense index ``index`` to encoder ``model`` (``backend``): map ``calibration`` documents at once, then
    (``reindex``) re-encode every document ``chunk`` at a time and swap the rebuilt index in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: str = "dense"
    model: str = Field(min_length=1, max_length=1024)
    backend: Literal["torch", "onnx"] = "torch"
    calibration: int = Field(2000, ge=2, le=1_000_000)
    method: MapMethod = "orthogonal"
    lam: float = Field(DEFAULT_LAMBDA, ge=0.0)
    reindex: bool = True
    chunk: int = Field(256, ge=1, le=100_000)
    seed: int = 0

    def encoder(self) -> EncoderSpec:
        """Model B's spec: the one the rebuilt index records."""
        return EncoderSpec(model=self.model, backend=self.backend)


class UpgradeStatus(BaseModel):
    """One upgrade's progress: ``done``/``total`` documents re-encoded; ``map`` once fitted; ``error`` when failed."""

    model_config = ConfigDict(frozen=True)

    collection: str
    index: str
    model: str
    phase: Phase = "pending"
    done: int = 0
    total: int = 0
    skipped: int = 0  # documents found already encoded in the scratch folder (a resumed upgrade)
    map: MapRecord | None = None
    query_encoder: str | None = None  # the mapped query encoder serving while the documents are re-encoded
    versions: dict[str, str] = {}  # index versions after the swap
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.phase not in ("done", "failed")
