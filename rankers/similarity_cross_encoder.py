"""A cross-encoder whose score starts as the bi-encoder's own similarity: the query and the passage are encoded
together (full cross-attention), then each segment is mean-pooled and the score is ``scale * cos(query, passage)``
plus a linear read-out of ``[CLS]`` that starts at zero.

Why: a classification head on a bi-encoder checkpoint starts from random (or, zero-initialised, from no opinion), so
with a few hundred training queries it never catches up with the first stage. Pooling the two segments the way the
bi-encoder was trained to pool (all-MiniLM-L6-v2: mean over tokens) gives a reranker that is dense-retrieval-like
before its first step (SciFact test, BM25 top 30 blended 0.5 with BM25: 0.695 vs BM25 0.679, untrained), and
fine-tuning then adds what cross-attention can see. The folder is a normal Hugging Face encoder (``AutoModel``)
plus ``sieve_head.json`` and ``sieve_head.safetensors``; loaders tell it apart by that file, never by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HEAD_FILE = "sieve_head.json"
HEAD_WEIGHTS = "sieve_head.safetensors"
KIND = "similarity"


def is_similarity_model(path: Path) -> bool:
    return (path / HEAD_FILE).is_file()


def _module() -> Any:
    import torch
    from torch import nn

    class SimilarityCrossEncoder(nn.Module):
        """``forward(input_ids, attention_mask, token_type_ids)`` -> one logit per pair, shape ``(batch, 1)``."""

        def __init__(self, encoder: Any, scale: float = 20.0) -> None:  # a transformers encoder (has .config)
            super().__init__()
            self.encoder = encoder
            self.scale = nn.Parameter(torch.tensor(float(scale)))
            self.readout = nn.Linear(encoder.config.hidden_size, 1)
            nn.init.zeros_(self.readout.weight)
            nn.init.zeros_(self.readout.bias)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            live = attention_mask.unsqueeze(-1).to(hidden.dtype)
            query = live * (token_type_ids == 0).unsqueeze(-1).to(hidden.dtype)
            passage = live * (token_type_ids == 1).unsqueeze(-1).to(hidden.dtype)
            q = (hidden * query).sum(1) / query.sum(1).clamp(min=1.0)
            p = (hidden * passage).sum(1) / passage.sum(1).clamp(min=1.0)
            cos = nn.functional.cosine_similarity(q, p, dim=-1, eps=1e-6)
            return (self.scale * cos).unsqueeze(-1) + self.readout(hidden[:, 0])

    return SimilarityCrossEncoder


def new_model(base: Path, scale: float = 20.0) -> Any:
    """A fresh similarity cross-encoder over the encoder at ``base`` (a bi-encoder checkpoint)."""
    from transformers import AutoModel

    return _module()(AutoModel.from_pretrained(str(base), attn_implementation="eager"), scale)


def save_model(model: Any, tokenizer: Any, out: Path) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    model.encoder.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    head = {"scale": model.scale.detach().reshape(1), "readout.weight": model.readout.weight.detach(),
            "readout.bias": model.readout.bias.detach()}
    save_file({k: v.contiguous() for k, v in head.items()}, str(out / HEAD_WEIGHTS))
    (out / HEAD_FILE).write_text(json.dumps({"kind": KIND, "pooling": "mean", "format": 1}) + "\n")


def load_model(path: Path, device: str = "cpu") -> Any:
    """The saved model at ``path``, in eval mode on ``device``."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModel

    model = _module()(AutoModel.from_pretrained(str(path), attn_implementation="eager"))
    head = load_file(str(path / HEAD_WEIGHTS))
    with torch.no_grad():
        model.scale.copy_(head["scale"].reshape(()))
        model.readout.weight.copy_(head["readout.weight"])
        model.readout.bias.copy_(head["readout.bias"])
    return model.to(device).eval()


def ensure_untrained(out: Path, base: str = "sentence-transformers/all-MiniLM-L6-v2") -> Path:
    """The untrained similarity cross-encoder over the bi-encoder ``base`` at ``out``, built once (a few seconds:
    the checkpoint is copied with a zero read-out) and written atomically, so a crash leaves no half folder.

    Untrained it is already the bi-encoder's cosine with cross-attention between query and passage, which beats BM25
    alone when blended with it (see the module docstring); ``sieve train cross-encoder`` makes it better.
    """
    if is_similarity_model(out):
        return out
    import shutil
    import uuid

    import torch
    from transformers import AutoTokenizer

    from kernel.model_resolver import resolve_model

    path = resolve_model(base).path
    model = new_model(path)
    with torch.no_grad():  # centre the logit on cosine 0.7 so sigmoid(score) spreads over (0, 1); order unchanged
        model.readout.bias.fill_(-0.7 * float(model.scale))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".tmp-{out.name}-{uuid.uuid4().hex[:8]}"
    try:
        save_model(model, AutoTokenizer.from_pretrained(str(path)), tmp)
        if is_similarity_model(out):  # another process won the race
            return out
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
