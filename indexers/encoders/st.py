"""sentence-transformers backend (torch, fp32): the reference encoder."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from indexers.encoders.base import EncoderSpec, l2_normalize
from kernel.model_resolver import resolve_model


class SentenceTransformerEncoder:
    """Any sentence-transformers model, by Hugging Face id or local path."""

    backend = "torch"

    def __init__(self, spec: EncoderSpec) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        resolved = resolve_model(spec.model)
        device = spec.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model = SentenceTransformer(str(resolved.path), device=device)
        self._model.max_seq_length = spec.max_length
        self._batch_size = spec.batch_size
        self.model_id = spec.model
        self.revision = resolved.revision
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.normalized = True
        self._short: dict[int, Any] = {}  # layers -> early-exit model (weights shared with the full one)
        self._short_lock = threading.Lock()

    def _encode(self, texts: Sequence[str], show_progress: bool) -> NDArray[np.float32]:
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=show_progress,
        )
        return l2_normalize(np.asarray(vectors, dtype=np.float32))

    def encode_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._encode(texts, show_progress=False)

    def encode_docs(self, texts: Sequence[str], *, show_progress: bool = False) -> NDArray[np.float32]:
        return self._encode(texts, show_progress)

    @property
    def num_layers(self) -> int:
        """Transformer layers in the model (what ``encode_queries_at`` may stop before)."""
        from indexers.encoders.early_exit import layer_stack

        return len(layer_stack(self._model))

    def encode_queries_at(self, texts: Sequence[str], layers: int) -> NDArray[np.float32]:
        """Query vectors from the first ``layers`` transformer layers, pooled and normalised like the full model's
        (``layers`` = ``num_layers`` is ``encode_queries`` itself). Raises InvalidInput outside 1..num_layers."""
        from indexers.encoders.early_exit import truncated

        if layers == self.num_layers:
            return self.encode_queries(texts)
        with self._short_lock:
            if layers not in self._short:
                self._short[layers] = truncated(self._model, layers)
            short = self._short[layers]
        vectors = short.encode(list(texts), batch_size=self._batch_size, convert_to_numpy=True,
                               normalize_embeddings=False, show_progress_bar=False)
        return l2_normalize(np.asarray(vectors, dtype=np.float32))

    def encode_all_depths(self, texts: Sequence[str], *, max_length: int | None = None) -> NDArray[np.float32]:
        """``[num_layers, len(texts), dim]``: every depth's unit vectors in one forward pass per batch."""
        from indexers.encoders.early_exit import all_depths

        return all_depths(self._model, texts, batch_size=self._batch_size, max_length=max_length)

    def count_tokens(self, texts: Sequence[str]) -> int:
        tokenizer = self._model.tokenizer
        limit = self._model.max_seq_length
        if limit is None:
            return sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=True)["input_ids"])
        return sum(min(len(ids), limit) for ids in tokenizer(list(texts), add_special_tokens=True)["input_ids"])

    @property
    def max_tokens(self) -> int:
        # No window set on the model: sentence-transformers then truncates at the tokenizer's own limit.
        limit = self._model.max_seq_length or self._model.tokenizer.model_max_length
        return int(limit) - len(self._model.tokenizer("")["input_ids"])

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        enc = self._model.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True,
                                    truncation=False, verbose=False)
        return [[(int(a), int(b)) for a, b in row] for row in enc["offset_mapping"]]
