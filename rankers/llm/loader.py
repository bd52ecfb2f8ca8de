"""LLM specs -> live chat models, one loader per backend."""

from __future__ import annotations

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


def load_llm(spec: LLMSpec) -> ChatLLM:
    """A newly loaded chat model for ``spec``; a ``RerankerPool`` loads each one once and shares it.

    Raises:
        ModelUnavailable: a local model cannot be found offline.
        InvalidInput: an openai backend without ``base_url``.
    """
    return BACKENDS[spec.backend](spec)
