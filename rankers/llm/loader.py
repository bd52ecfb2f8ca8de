"""LLM specs -> live chat models, loaded once per distinct spec (a local model's weights load once per process)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rankers.llm.base import ChatLLM
from rankers.specs import LLMSpec


def _transformers(spec: LLMSpec) -> ChatLLM:
    from rankers.llm.hf_llm import TransformersChatLLM

    return TransformersChatLLM(spec)


def _openai(spec: LLMSpec) -> ChatLLM:
    from rankers.llm.openai_llm import OpenAIChatLLM

    return OpenAIChatLLM(spec)


BACKENDS: dict[str, Callable[[LLMSpec], ChatLLM]] = {"transformers": _transformers, "openai": _openai}
_LOADED: dict[LLMSpec, ChatLLM] = {}
_LOCK = threading.Lock()


def load_llm(spec: LLMSpec) -> ChatLLM:
    """The chat model ``spec`` describes; the same object for equal specs.

    Raises:
        ModelUnavailable: a local model cannot be found offline.
        InvalidInput: an openai backend without ``base_url``.
    """
    with _LOCK:
        if spec not in _LOADED:
            _LOADED[spec] = BACKENDS[spec.backend](spec)
        return _LOADED[spec]
