"""Rerank routes in the three shapes clients already speak: Cohere v2 ``POST /v2/rerank``, Jina ``POST /v1/rerank``
and Hugging Face TEI ``POST /rerank``, plus ``GET /v1/rerankers``. All score through the served rerankers'
``ascore_documents`` (``service/rerankers.py``: cross-encoders micro-batched, LLM rerankers on worker threads)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from kernel.errors import InvalidInput
from rankers.base import DocumentScores
from service.config import Settings
from service.deadlines import Deadline
from service.deps import RegistryDep, SettingsDep
from service.errors import DeadlineExceeded, request_roots
from service.redact import redact_tree

router = APIRouter(tags=["rerank"])

Query = Annotated[str, StringConstraints(min_length=1, max_length=32_768)]
TIMEOUT = Field(None, ge=1, le=600_000, description="Sieve extension: this request's time budget in ms "
                                                    "[SIEVE_DEADLINE_MS]; past it the answer is a 504")


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # SDKs send fields we do not use (Cohere's max_tokens_per_doc)


class TextDoc(BaseModel):
    text: str


class CohereRequest(_Body):
    model: str | None = Field(None, description="a served reranker (GET /v1/rerankers) [the first]")
    query: Query
    documents: list[str | TextDoc]
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False
    timeout_ms: int | None = TIMEOUT


class JinaRequest(CohereRequest):
    return_documents: bool = True


class TeiRequest(_Body):
    query: Query
    texts: list[str]
    raw_scores: bool = False
    return_text: bool = False
    truncate: bool = True
    timeout_ms: int | None = TIMEOUT


def _texts(documents: list[str | TextDoc], settings: Settings, field: str) -> list[str]:
    texts = [d if isinstance(d, str) else d.text for d in documents]
    if not texts:
        raise InvalidInput(f"{field} is empty; send at least one document")
    if len(texts) > settings.rerank.max_documents:
        raise InvalidInput(f"{len(texts)} {field}; the limit is {settings.rerank.max_documents} per request")
    if empty := [i for i, t in enumerate(texts) if not t.strip()]:
        raise InvalidInput(f"{field}{empty[:10]} are empty strings; every document needs text")
    return texts


async def _score(registry: RegistryDep, settings: Settings, model: str | None, query: str, texts: list[str],
                 timeout_ms: int | None, *, truncate: bool = True) -> DocumentScores:
    """Score ``texts`` with the served reranker ``model`` within the request's budget.

    Raises:
        NotFound: ``model`` is not served. DeadlineExceeded: no answer within the budget (the work is abandoned).
    """
    deadline = Deadline.for_request(timeout_ms, settings.deadline_ms, settings.max_deadline_ms)
    spec = registry.rerankers.spec(model, truncate=truncate)
    reranker = registry.rerankers.get(spec)
    try:
        async with asyncio.timeout(deadline.remaining()):
            return await reranker.ascore_documents(query, texts, call=spec.call())
    except TimeoutError:
        raise DeadlineExceeded(f"{reranker.name} did not score {len(texts)} documents within the "
                               f"{deadline.budget_ms:g} ms budget; send fewer documents or a larger timeout_ms"
                               ) from None


def _ranked(scores: DocumentScores, top_n: int | None) -> list[int]:
    order = sorted(range(len(scores.relevance)), key=lambda i: (-scores.relevance[i], i))
    return order[:top_n] if top_n else order


async def _index_scores(body: CohereRequest, registry: RegistryDep, settings: SettingsDep
                        ) -> tuple[DocumentScores, list[dict[str, Any]]]:
    """The shared Cohere / Jina core: score every document, rank, ``[{index, relevance_score[, document]}]``."""
    texts = _texts(body.documents, settings, "documents")
    scores = await _score(registry, settings, body.model, body.query, texts, body.timeout_ms)
    results = [{"index": i, "relevance_score": scores.relevance[i]}
               | ({"document": {"text": texts[i]}} if body.return_documents else {})
               for i in _ranked(scores, body.top_n)]
    return scores, results


@router.post("/v2/rerank")
async def cohere_rerank(body: CohereRequest, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    """Cohere v2: ``{model, query, documents, top_n}`` -> ``{id, results: [{index, relevance_score}], meta}``."""
    scores, results = await _index_scores(body, registry, settings)
    meta: dict[str, Any] = {"api_version": {"version": "2"}, "billed_units": {"search_units": 1},
                            "tokens": {"input_tokens": scores.tokens, "output_tokens": 0}}
    if scores.warnings:
        meta["warnings"] = list(scores.warnings)
    return {"id": str(uuid.uuid4()), "results": results, "meta": meta}


@router.post("/v1/rerank")
async def jina_rerank(body: JinaRequest, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    """Jina: ``{model, query, documents, top_n, return_documents}`` -> ``{model, usage, results}``."""
    scores, results = await _index_scores(body, registry, settings)
    out: dict[str, Any] = {"model": body.model or registry.rerankers.names[0], "results": results,
                           "usage": {"total_tokens": scores.tokens, "prompt_tokens": scores.tokens}}
    if scores.warnings:
        out["warnings"] = list(scores.warnings)
    return out


class TeiRank(BaseModel):
    index: int
    score: float
    text: str | None = None


@router.post("/rerank", response_model=list[TeiRank], response_model_exclude_none=True)
async def tei_rerank(body: TeiRequest, registry: RegistryDep, settings: SettingsDep) -> list[TeiRank]:
    """TEI: ``{query, texts, raw_scores, return_text, truncate}`` -> ``[{index, score, text?}]`` best first.
    ``truncate: false`` refuses texts that do not fit instead of cutting them (as TEI does)."""
    texts = _texts(list(body.texts), settings, "texts")
    scores = await _score(registry, settings, None, body.query, texts, body.timeout_ms, truncate=body.truncate)
    kind: Literal["raw", "relevance"] = "raw" if body.raw_scores else "relevance"
    values = scores.raw if kind == "raw" else scores.relevance
    return [TeiRank(index=i, score=values[i], text=texts[i] if body.return_text else None)
            for i in _ranked(scores, None)]


@router.get("/v1/rerankers")
async def list_rerankers(registry: RegistryDep, request: Request) -> dict[str, Any]:
    """Every served reranker name with its spec (the first is the default of the rerank routes); server paths and
    upstream URLs in the specs (an LLM's ``base_url``) are redacted."""
    served = registry.rerankers
    roots = request_roots(request)
    search = served.settings.search
    return {"rerankers": [{"name": name, "spec": redact_tree(served.spec(name).model_dump(mode="json"), roots)}
                          for name in served.names],
            "search": redact_tree(search.model_dump(mode="json"), roots) if search else None}
