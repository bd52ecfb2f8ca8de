"""Early exit for sentence-transformers models: the first ``L`` transformer layers, then the model's own pooling.

``truncated`` gives a model that shares every weight with the full one but runs only its first ``L`` encoder layers
(BERT-style ``encoder.layer`` stacks: MiniLM, BERT, RoBERTa, ...); its embeddings are the full model's hidden state
after layer ``L`` pooled the way the full model pools. ``all_depths`` gives every depth's embedding in one forward
pass (``output_hidden_states``), for fitting the compatibility maps (``indexers/dense/early_exit.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from indexers.encoders.base import l2_normalize
from kernel.errors import InvalidInput


def layer_stack(model: Any) -> Any:
    """The ``nn.ModuleList`` of transformer layers inside a SentenceTransformer (raises InvalidInput if none)."""
    auto = getattr(model[0], "auto_model", None)
    encoder = getattr(auto, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise InvalidInput(f"early exit needs a BERT-style encoder (encoder.layer); {type(auto).__name__} has none")
    return layers


def _shallow(module: Any) -> Any:
    """A copy of ``module`` sharing its parameters but with its own child table (so a child can be swapped)."""
    clone = copy.copy(module)
    clone._modules = clone._modules.copy()
    return clone


def truncated(model: Any, layers: int) -> Any:
    """A SentenceTransformer running ``model``'s first ``layers`` transformer layers (weights shared, not copied)."""
    import torch
    from sentence_transformers import SentenceTransformer

    stack = layer_stack(model)
    if not 1 <= layers <= len(stack):
        raise InvalidInput(f"layers must be 1..{len(stack)}, got {layers}")
    transformer = _shallow(model[0])
    # sentence-transformers 5+ holds the Hugging Face model as ``model`` (``auto_model`` a read-only alias); older ones
    # as ``auto_model``
    slot = "model" if "model" in transformer._modules else "auto_model"
    auto = _shallow(transformer._modules[slot])
    encoder = _shallow(auto.encoder)
    encoder.layer = torch.nn.ModuleList(list(stack)[:layers])
    auto.encoder = encoder
    transformer._modules[slot] = auto
    modules = [transformer, *[model[i] for i in range(1, len(model))]]
    short = SentenceTransformer(modules=modules, device=str(model.device))
    short.max_seq_length = model.max_seq_length
    return short


def all_depths(model: Any, texts: Sequence[str], *, batch_size: int = 64,
               max_length: int | None = None) -> NDArray[np.float32]:
    """``[layers, len(texts), dim]``: each text's unit embedding after every transformer layer (1..L), pooled by the
    model's own pooling module, from one forward pass per batch."""
    import torch

    depth = len(layer_stack(model))
    pooling = model[1]
    out: list[NDArray[np.float32]] = []
    saved = model.max_seq_length
    if max_length is not None:
        model.max_seq_length = max_length
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                features = model.preprocess(list(texts[start:start + batch_size]))
                features = {k: v.to(model.device) for k, v in features.items() if hasattr(v, "to")}
                hidden = model[0].auto_model(**{k: v for k, v in features.items()
                                                if k in ("input_ids", "attention_mask", "token_type_ids")},
                                             output_hidden_states=True).hidden_states
                rows = [pooling({"token_embeddings": hidden[i], "attention_mask": features["attention_mask"]})
                        ["sentence_embedding"].float().cpu().numpy() for i in range(1, depth + 1)]
                out.append(np.stack(rows))
    finally:
        model.max_seq_length = saved
    stacked = np.concatenate(out, axis=1)
    return np.stack([l2_normalize(layer) for layer in stacked])
