"""Cross-encoder pair models behind one small interface, one loader per backend.

A ``PairModel`` turns (query, passage) pairs into one raw logit each; ``CrossEncoderReranker`` does the rest
(truncation policy, blending, ordering) the same way whichever backend scores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from kernel.model_resolver import resolve_model
from rankers.specs import CrossEncoderSpec

log = logging.getLogger(__name__)

Pair = tuple[str, str]


class PairModel(Protocol):
    """Raw relevance logits for (query, passage) pairs; ``tokenizer`` is the model's own (for length checks)."""

    tokenizer: Any
    revision: str
    max_length: int

    def predict(self, pairs: Sequence[Pair], batch_size: int) -> NDArray[np.float32]: ...


def device_for(requested: str | None) -> str:
    if requested:
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TorchPairModel:
    """sentence-transformers ``CrossEncoder`` with raw logits out (a sigmoid would squash strong scores together;
    callers map them as their API needs)."""

    def __init__(self, path: str, revision: str, max_length: int, device: str) -> None:
        import torch
        from sentence_transformers.cross_encoder import CrossEncoder

        self.model = CrossEncoder(path, num_labels=1, max_length=max_length, device=device,
                                  activation_fn=torch.nn.Identity())
        self.tokenizer = self.model.tokenizer
        self.revision = revision
        self.max_length = max_length

    def predict(self, pairs: Sequence[Pair], batch_size: int) -> NDArray[np.float32]:
        raw = self.model.predict(list(pairs), batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(raw, dtype=np.float32).reshape(-1)


class SimilarityPairModel:
    """A ``rankers.similarity_cross_encoder`` model (segment-pooled cosine plus a [CLS] read-out) in torch."""

    def __init__(self, path: str, revision: str, max_length: int, device: str) -> None:
        from transformers import AutoTokenizer

        from rankers.similarity_cross_encoder import load_model

        self.model = load_model(Path(path), device)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.revision = revision
        self.max_length = max_length
        self.device = device

    def predict(self, pairs: Sequence[Pair], batch_size: int) -> NDArray[np.float32]:
        import torch

        out: list[NDArray[np.float32]] = []
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            enc = self.tokenizer([q for q, _ in chunk], [p for _, p in chunk], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                logits = self.model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
            out.append(logits.float().reshape(-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _torch(path: str, revision: str, max_length: int, device: str, _quantize: str) -> PairModel:
    from rankers.similarity_cross_encoder import is_similarity_model

    if is_similarity_model(Path(path)):  # told apart by its head file, never by name
        return SimilarityPairModel(path, revision, max_length, device)
    return TorchPairModel(path, revision, max_length, device)


def _onnx(path: str, revision: str, max_length: int, device: str, quantize: str) -> PairModel:
    from rankers.onnx_pair_model import OnnxPairModel

    return OnnxPairModel(path, revision, max_length, device, quantize)


_LOADERS: dict[str, Callable[[str, str, int, str, str], PairModel]] = {
    "torch": _torch,
    "onnx": _onnx,
}


def load_pair_model(spec: CrossEncoderSpec) -> PairModel:
    """A newly loaded pair model for ``spec`` (model path or HF id, backend, quantisation, length, device); a
    ``RerankerPool`` loads each one once and shares it.

    Raises:
        ModelUnavailable: the model is not a path, a packaged copy or in the Hugging Face cache.
    """
    resolved = resolve_model(spec.model)
    device = device_for(spec.device)
    quantize = spec.quantize if spec.backend == "onnx" else "none"
    log.info("loading cross-encoder %s (%s) with %s%s on %s", spec.model, resolved.revision, spec.backend,
             f"/{quantize}" if quantize != "none" else "", device)
    return _LOADERS[spec.backend](str(resolved.path), resolved.revision, spec.max_length, device, quantize)


def model_key(spec: CrossEncoderSpec) -> tuple[str, ...]:
    """What tells loaded pair models apart: specs with equal keys can share one."""
    quantize = spec.quantize if spec.backend == "onnx" else "none"
    return (spec.model, str(spec.max_length), spec.device or "", spec.backend, quantize)
