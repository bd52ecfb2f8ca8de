"""sentence-transformers backend (torch, fp32): the reference encoder."""

from __future__ import annotations

from collections.abc import Sequence

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

    def count_tokens(self, texts: Sequence[str]) -> int:
        tokenizer = self._model.tokenizer
        limit = self._model.max_seq_length
        if limit is None:
            return sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=True)["input_ids"])
        return sum(min(len(ids), limit) for ids in tokenizer(list(texts), add_special_tokens=True)["input_ids"])

    @property
    def max_tokens(self) -> int:
        return int(self._model.max_seq_length) - len(self._model.tokenizer("")["input_ids"])

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        enc = self._model.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True,
                                    truncation=False, verbose=False)
        return [[(int(a), int(b)) for a, b in row] for row in enc["offset_mapping"]]
