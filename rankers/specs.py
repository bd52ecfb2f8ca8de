"""Reranker specs: frozen, so they key the model cache, and shared by the CLI, the settings and the API.

``RerankerSpec`` is the union of every kind (``cross-encoder``, ``listwise``, ``pairwise``), told apart by ``kind``;
a spec without ``kind`` is a cross-encoder, so ``{"model": PATH}`` stays a valid spec.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from rankers.fusion import Normalization

DEFAULT_LLM = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"


class RerankCall(BaseModel):
    """How one call uses a reranker's scores: how many candidates it rescores and how they meet the first stage's.
    Per call, not per reranker: one live reranker answers calls with any options.

    ``blend`` is the first stage's weight in ``(1 - blend) * norm(reranker) + blend * norm(first stage)``, both
    normalised over the candidate list; 0 trusts the reranker alone, so a reranker that does not fit a domain can be
    held back from hurting it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    top_n: int | None = Field(None, ge=1)  # rescore only the first n candidates; the rest follow in their order
    blend: float = Field(0.0, ge=0.0, le=1.0)
    normalization: Normalization = "minmax"

    def override(self, **changes: object) -> RerankCall:
        """This call with the given options changed (``None`` keeps the current value)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return self.model_validate(self.model_dump() | given) if given else self


class _Spec(BaseModel):
    """What every reranker spec shares: the ``RerankCall`` options its calls use when they send none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    top_n: int | None = Field(None, ge=1)
    blend: float = Field(0.0, ge=0.0, le=1.0)
    normalization: Normalization = "minmax"

    def call(self) -> RerankCall:
        """The spec's own call options."""
        return RerankCall(top_n=self.top_n, blend=self.blend, normalization=self.normalization)

    def model_part(self) -> Self:
        """The spec without its call options: what a live reranker is built (and shared) from."""
        return self.model_copy(update=RerankCall().model_dump())


class CrossEncoderSpec(_Spec):
    """A one-logit sequence-classification model scoring each (query, passage) pair.

    ``truncation`` says what happens to a pair over ``max_length`` tokens: ``truncate`` cuts the longer side (the
    passage) and counts the pair, ``error`` refuses the request. ``backend`` ``onnx`` runs the same model through
    ONNX Runtime (exported once next to the model), ``quantize="int8"`` with dynamically quantised weights.
    """

    kind: Literal["cross-encoder"] = "cross-encoder"
    model: str
    backend: Literal["torch", "onnx"] = "torch"
    quantize: Literal["none", "int8"] = "none"
    max_length: int = Field(512, ge=16, le=8192)
    batch_size: int = Field(32, ge=1, le=4096)
    truncation: Literal["truncate", "error"] = "truncate"
    device: str | None = None  # None: cuda when available, else cpu


class LLMSpec(BaseModel):
    """A chat LLM: a local causal LM through transformers (a Hugging Face id, a folder, or a ``.gguf`` file), or any
    OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, OpenAI).

    ``api_key_env`` names the environment variable holding the endpoint's key, so specs (which are logged and key
    caches) never hold secrets. ``timeout_s`` bounds one call; ``max_retries`` retries connection errors, 408/409/429
    and 5xx with backoff (the ``openai`` client's policy).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Literal["transformers", "openai"] = "transformers"
    model: str = DEFAULT_LLM
    base_url: str | None = None  # openai: http://host:port/v1
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    max_new_tokens: int = Field(160, ge=1, le=4096)
    device: str | None = None  # transformers: None = cuda when available, else cpu


class ListwiseSpec(_Spec):
    """RankGPT-style listwise reranking with an LLM over sliding windows (bottom to top).

    ``mode`` ``generate`` asks for a permutation (``[2] > [1] > ...``) and parses it (always valid, repairs
    counted); ``first`` ranks each window by the logits of the first generated token over the passage labels
    (FIRST: Reddy et al., "FIRST: Faster Improved Listwise Reranking with Single Token Decoding", 2024), one
    forward step per window.
    """

    kind: Literal["listwise"] = "listwise"
    llm: LLMSpec = LLMSpec()
    mode: Literal["generate", "first"] = "generate"
    window: int = Field(20, ge=2, le=100)
    stride: int = Field(10, ge=1, le=100)
    max_passage_words: int = Field(100, ge=8, le=2000)


class PairwiseSpec(_Spec):
    """Pairwise ranking prompting (Qin et al., "Large Language Models are Effective Text Rankers with Pairwise
    Ranking Prompting", 2023): each comparison asks the LLM both orders of the pair and reads the A/B logits.

    ``allpairs`` scores each candidate by its wins over every other (n(n-1) prompts); ``sliding`` runs ``passes``
    bottom-to-top bubble passes, which settles the top ``passes`` candidates with about ``2 * passes * n`` prompts.
    """

    kind: Literal["pairwise"] = "pairwise"
    llm: LLMSpec = LLMSpec()
    strategy: Literal["allpairs", "sliding"] = "sliding"
    passes: int = Field(10, ge=1, le=100)
    max_passage_words: int = Field(100, ge=8, le=2000)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "cross-encoder"))
    return str(getattr(value, "kind", "cross-encoder"))


RerankerSpec = Annotated[
    Annotated[CrossEncoderSpec, Tag("cross-encoder")]
    | Annotated[ListwiseSpec, Tag("listwise")]
    | Annotated[PairwiseSpec, Tag("pairwise")],
    Discriminator(_kind),
]
AnySpec = CrossEncoderSpec | ListwiseSpec | PairwiseSpec
