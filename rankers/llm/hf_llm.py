"""A local causal LM through transformers: a Hugging Face id, a model folder (safetensors) or a ``.gguf`` file
(de-quantised on load; transformers reads GGUF through the ``gguf`` package). Greedy decoding, and first-token
label log-probabilities from one forward step."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kernel.errors import InvalidInput
from kernel.model_resolver import resolve_model
from rankers.llm.base import Message, logsumexp
from rankers.pair_models import device_for
from rankers.specs import LLMSpec

log = logging.getLogger(__name__)


def _load(path: Path, device: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {}
    folder = path
    if path.is_file() and path.suffix == ".gguf":
        folder, kwargs["gguf_file"] = path.parent, path.name
    tokenizer = AutoTokenizer.from_pretrained(str(folder), **kwargs)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, **kwargs)
    model = model.to(device).eval()
    return tokenizer, model


class TransformersChatLLM:
    """``ChatLLM`` over a local model. Thread-safe for inference (no state between calls).

    Raises:
        ModelUnavailable: the model cannot be found offline.
    """

    def __init__(self, spec: LLMSpec) -> None:
        resolved = resolve_model(spec.model)
        self.device = device_for(spec.device)
        log.info("loading LLM %s (%s) on %s", spec.model, resolved.revision, self.device)
        self.tokenizer, self.model = _load(resolved.path, self.device)
        self.name = f"{spec.model}@{resolved.revision}"
        self.special_tokens = tuple(t for t in self.tokenizer.all_special_tokens if t)
        self.max_context = int(getattr(self.model.config, "max_position_embeddings", 2048))
        self._label_ids: dict[str, list[int]] = {}

    def _encode(self, messages: list[Message]) -> Any:
        enc = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True)
        length = int(enc["input_ids"].shape[1])
        if length >= self.max_context:
            raise InvalidInput(f"the prompt is {length} tokens; {self.name} reads at most {self.max_context}: "
                               "rerank fewer or shorter passages (window, max_passage_words)")
        return enc.to(self.device)

    def complete(self, messages: list[Message], *, max_tokens: int) -> str:
        import torch

        enc = self._encode(messages)
        with torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=max_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        return str(self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))

    def _ids(self, label: str) -> list[int]:
        """First tokens that spell ``label`` at the start of an answer, with and without a leading space."""
        if label not in self._label_ids:
            ids = {self.tokenizer.encode(v, add_special_tokens=False)[0] for v in (label, " " + label)}
            self._label_ids[label] = sorted(ids)
        return self._label_ids[label]

    def label_logprobs(self, messages: list[Message], labels: Sequence[str]) -> list[float]:
        import torch

        enc = self._encode(messages)
        with torch.inference_mode():
            logits = self.model(**enc).logits[0, -1].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        return [logsumexp(float(logprobs[i]) for i in self._ids(label)) if label else -math.inf for label in labels]
