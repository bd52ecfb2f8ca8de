"""LLM stand-ins for tests of the ranking algorithms themselves (window order, bubble passes), where the answer
must be known in advance: a perfect ranker cannot exist on these machines (the packaged SmolLM2 is far too small to
rank reliably), so ``OracleLLM`` reads a hidden grade out of each passage and answers as a perfect model would.
``RecordingLLM`` wraps the real model and keeps every prompt it was sent."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from rankers.llm.base import ChatLLM, Message

_PASSAGE = re.compile(r"^\[(\w+)\] .*?grade (\d+)", re.MULTILINE)
_PAIR = re.compile(r'Passage ([AB]): ".*?grade (\d+)', re.DOTALL)


class OracleLLM:
    """Answers listwise prompts with the passages sorted by ``grade N`` (in their text), pairwise prompts with the
    higher grade; records each listwise window's labels-to-grades in ``windows``."""

    name = "oracle"
    special_tokens: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.windows: list[list[int]] = []
        self.calls = 0

    def _listwise(self, messages: list[Message]) -> list[tuple[str, int]]:
        found = [(label, int(grade)) for label, grade in _PASSAGE.findall(messages[-1]["content"])]
        self.windows.append([g for _, g in found])
        return sorted(found, key=lambda lg: -lg[1])

    def complete(self, messages: list[Message], *, max_tokens: int) -> str:
        self.calls += 1
        return " > ".join(f"[{label}]" for label, _ in self._listwise(messages))

    def label_logprobs(self, messages: list[Message], labels: Sequence[str]) -> list[float]:
        self.calls += 1
        content = messages[-1]["content"]
        if "Passage A:" in content:
            grades = dict(_PAIR.findall(content))
            best = "A" if int(grades["A"]) > int(grades["B"]) else "B"
            return [0.0 if label == best else -5.0 for label in labels]
        ranked = [label for label, _ in self._listwise(messages)]
        return [-float(ranked.index(label)) if label in ranked else -math.inf for label in labels]


class RecordingLLM:
    """The real model, with every prompt kept in ``prompts``."""

    def __init__(self, inner: ChatLLM) -> None:
        self.inner = inner
        self.name = inner.name
        self.special_tokens = inner.special_tokens
        self.prompts: list[list[Message]] = []
        self.answers: list[str] = []

    def complete(self, messages: list[Message], *, max_tokens: int) -> str:
        self.prompts.append(messages)
        answer = self.inner.complete(messages, max_tokens=max_tokens)
        self.answers.append(answer)
        return answer

    def label_logprobs(self, messages: list[Message], labels: Sequence[str]) -> list[float]:
        self.prompts.append(messages)
        return self.inner.label_logprobs(messages, labels)
