"""The one interface LLM rerankers talk to, whichever model answers: free text, or the first answer token's
log-probabilities over a few labels (what FIRST and pairwise prompting read instead of generating)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Protocol

Message = dict[str, str]


class ChatLLM(Protocol):
    """A chat model. ``name`` says which model and revision answer (it keys the service's result cache);
    ``special_tokens`` are strings that prompt text must not contain (the chat format's own markers)."""

    name: str
    special_tokens: tuple[str, ...]

    def complete(self, messages: list[Message], *, max_tokens: int) -> str:
        """The greedy answer to ``messages``."""
        ...

    def label_logprobs(self, messages: list[Message], labels: Sequence[str]) -> list[float]:
        """Log-probability of each label being the first token of the answer; ``-inf`` for a label the backend
        cannot see (outside an endpoint's top log-probs)."""
        ...


def label_of(token: str) -> str:
    """What a first-token string names: ``" A"``, ``"[A"``, ``"A]"`` and ``"A"`` all name label ``A``."""
    return token.strip().strip("[]()").strip()


def logsumexp(values: Iterable[float]) -> float:
    values = [v for v in values if v != -math.inf]
    if not values:
        return -math.inf
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
