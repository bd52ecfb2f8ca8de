"""Any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, OpenAI) through the ``openai`` client,
which brings the timeouts and the retry policy (connection errors, 408/409/429, 5xx; exponential backoff)."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from typing import Any

from kernel.errors import InvalidInput, UpstreamError
from rankers.llm.base import Message, label_of, logsumexp
from rankers.specs import LLMSpec

log = logging.getLogger(__name__)

TOP_LOGPROBS = 20  # the most OpenAI's API returns per position


class OpenAIChatLLM:
    """``ChatLLM`` over HTTP. ``spec.base_url`` is the endpoint's ``/v1`` root; ``spec.model`` the served name.

    Raises (from calls):
        UpstreamError: the endpoint failed, refused or timed out after ``spec.max_retries`` retries.
    """

    special_tokens: tuple[str, ...] = ()

    def __init__(self, spec: LLMSpec) -> None:
        import openai

        if not spec.base_url:
            raise InvalidInput("an openai LLM backend needs base_url (e.g. http://127.0.0.1:8080/v1)")
        self.spec = spec
        self.name = f"openai:{spec.base_url}:{spec.model}"
        # A local server takes any key; the client refuses an empty one.
        key = os.environ.get(spec.api_key_env) or "sieve-no-key"
        self.client = openai.OpenAI(base_url=spec.base_url, api_key=key, timeout=spec.timeout_s,
                                    max_retries=spec.max_retries)
        self._errors = (openai.APIError,)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def _create(self, messages: list[Message], **kwargs: Any) -> Any:
        try:
            return self.client.chat.completions.create(model=self.spec.model, messages=messages,  # type: ignore[arg-type]
                                                       temperature=0, **kwargs)
        except self._errors as exc:
            raise UpstreamError(f"LLM endpoint {self.spec.base_url} ({self.spec.model}) failed after "
                                f"{self.spec.max_retries} retries: {type(exc).__name__}: {exc}") from exc

    def complete(self, messages: list[Message], *, max_tokens: int) -> str:
        response = self._create(messages, max_tokens=max_tokens)
        return response.choices[0].message.content or "" if response.choices else ""

    def label_logprobs(self, messages: list[Message], labels: Sequence[str]) -> list[float]:
        response = self._create(messages, max_tokens=1, logprobs=True, top_logprobs=TOP_LOGPROBS)
        choice = response.choices[0] if response.choices else None
        content = choice.logprobs.content if choice is not None and choice.logprobs is not None else None
        if not content:
            raise UpstreamError(f"LLM endpoint {self.spec.base_url} returned no logprobs; it must support "
                                "`logprobs` and `top_logprobs` for single-token ranking")
        seen: dict[str, list[float]] = {}
        for top in content[0].top_logprobs or []:
            seen.setdefault(label_of(top.token), []).append(float(top.logprob))
        return [logsumexp(seen[label]) if label in seen else -math.inf for label in labels]
