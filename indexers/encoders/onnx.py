"""ONNX Runtime backend: a transformer exported to ONNX (e.g. the int8 MiniLM), mean-pooled like the original."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from indexers.encoders.base import EncoderSpec, l2_normalize
from kernel.errors import ModelUnavailable
from kernel.model_resolver import resolve_model


def _onnx_files(spec: EncoderSpec) -> tuple[Path, Path, str]:
    """``(model.onnx, tokenizer.json, revision)``: a folder holding both, or the packaged int8 copy."""
    local = Path(spec.model)
    if local.is_dir() and (local / "model.onnx").is_file():
        return local / "model.onnx", local / "tokenizer.json", resolve_model(spec.model).revision
    onnx = resolve_model(spec.model, variant="onnx-int8")
    tokenizer = resolve_model(spec.model).path / "tokenizer.json"
    if not tokenizer.is_file():
        raise ModelUnavailable(f"no tokenizer.json for {spec.model!r} at {tokenizer}")
    return onnx.path, tokenizer, onnx.revision


class OnnxEncoder:
    """Tokenise with `tokenizers`, run the graph's ``last_hidden_state``, mean-pool over the mask, normalise."""

    backend = "onnx"

    def __init__(self, spec: EncoderSpec) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path, tokenizer_path, revision = _onnx_files(spec)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._untruncated = Tokenizer.from_file(str(tokenizer_path))  # for offsets and counting what is cut
        self._untruncated.no_truncation()
        self._untruncated.no_padding()
        self._max_length = spec.max_length
        self._tokenizer.enable_truncation(spec.max_length)
        self._tokenizer.enable_padding()
        self._batch_size = spec.batch_size
        self.model_id = spec.model
        self.revision = revision
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self.normalized = True

    def _batch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(list(texts))
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return l2_normalize(pooled.astype(np.float32))

    def _encode(self, texts: Sequence[str], show_progress: bool) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Length-sorted batches waste less compute on padding; results go back in input order.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        starts = range(0, len(texts), self._batch_size)
        for start in tqdm(starts, disable=not show_progress, desc="encode (onnx)", unit="batch"):
            idx = order[start : start + self._batch_size]
            out[idx] = self._batch([texts[i] for i in idx])
        return out

    def encode_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._encode(texts, show_progress=False)

    def encode_docs(self, texts: Sequence[str], *, show_progress: bool = False) -> NDArray[np.float32]:
        return self._encode(texts, show_progress)

    def count_tokens(self, texts: Sequence[str]) -> int:
        return sum(sum(e.attention_mask) for e in self._tokenizer.encode_batch(list(texts)))

    @property
    def max_tokens(self) -> int:
        return self._max_length - len(self._untruncated.encode("").ids)

    def token_offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        return [list(e.offsets) for e in self._untruncated.encode_batch(list(texts), add_special_tokens=False)]
