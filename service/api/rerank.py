"""Rerank routes in the three shapes clients already speak: Cohere v2 ``POST /v2/rerank``, Jina ``POST /v1/rerank``
and Hugging Face TEI ``POST /rerank``. All three score with the same cross-encoders (``settings.rerank.models``)."""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from indexers.errors import InvalidInput, NotFound
from rankers.cross_encoder import CrossEncoderReranker, PairScores
from rankers.registry import build_reranker
from rankers.specs import RerankerSpec
from service.config import Settings
from service.deps import RegistryDep, SettingsDep
from service.retrieval import run_blocking

router = APIRouter(tags=["rerank"])

Query = Annotated[str, StringConstraints(min_length=1, max_length=32_768)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # SDKs send fields we do not use (Cohere's max_tokens_per_doc)


class TextDoc(BaseModel):
    text: str


class CohereRequest(_Body):
    model: str | None = Field(None, description="one of settings.rerank.models [the first]")
    query: Query
    documents: list[str | TextDoc]
    top_n: int | None = Field(None, ge=1)
    return_documents: bool = False


class JinaRequest(CohereRequest):
    return_documents: bool = True


class TeiRequest(_Body):
    query: Query
    texts: list[str]
    raw_scores: bool = False
    return_text: bool = False
    truncate: bool = True


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _texts(documents: list[str | TextDoc], settings: Settings, field: str) -> list[str]:
    texts = [d if isinstance(d, str) else d.text for d in documents]
    if not texts:
        raise InvalidInput(f"{field} is empty; send at least one document")
    if len(texts) > settings.rerank.max_documents:
        raise InvalidInput(f"{len(texts)} {field}; the limit is {settings.rerank.max_documents} per request")
    if empty := [i for i, t in enumerate(texts) if not t.strip()]:
        raise InvalidInput(f"{field}{empty[:10]} are empty strings; every document needs text")
    return texts


def reranker_for(model: str | None, settings: Settings, *, truncate: bool = True) -> CrossEncoderReranker:
    """The served reranker named ``model`` (the first served one when ``None``).

    Raises:
        NotFound: the model is not served (names those that are).
        ModelUnavailable: a served model's files cannot be found.
    """
    served = {m.lower(): m for m in settings.rerank.models}
    if not served:
        raise NotFound("this server serves no rerank models; set SIEVE_RERANK__MODELS")
    name = settings.rerank.models[0] if model is None else served.get(model.lower())
    if name is None:
        raise NotFound(f"unknown rerank model {model!r}; this server serves {list(settings.rerank.models)}")
    spec = RerankerSpec(model=name, max_length=settings.rerank.max_length, batch_size=settings.rerank.batch_size,
                        truncation="truncate" if truncate else "error")
    return build_reranker(spec)  # type: ignore[return-value]


async def _score(registry: Any, reranker: CrossEncoderReranker, query: str, texts: list[str]) -> PairScores:
    return await run_blocking(registry.executor, lambda: reranker.score(query, texts))


def _ranked(scores: PairScores, top_n: int | None) -> list[int]:
    order = sorted(range(len(scores.scores)), key=lambda i: (-float(scores.scores[i]), i))
    return order[:top_n] if top_n else order


def _warnings(scores: PairScores, max_length: int) -> list[str]:
    if not scores.truncated:
        return []
    return [f"{len(scores.truncated)} of {len(scores.scores)} documents were truncated to fit {max_length} tokens "
            f"with the query (indexes {list(scores.truncated[:20])}); their tails were not scored"]


async def _index_scores(
    body: CohereRequest | JinaRequest, registry: RegistryDep, settings: SettingsDep
) -> tuple[Any, PairScores, list[dict[str, Any]]]:
    """The shared Cohere / Jina core: score every document, rank, ``[{index, relevance_score[, document]}]``."""
    texts = _texts(body.documents, settings, "documents")
    reranker = reranker_for(body.model, settings)
    scores = await _score(registry, reranker, body.query, texts)
    results = [{"index": i, "relevance_score": _sigmoid(float(scores.scores[i]))}
               | ({"document": {"text": texts[i]}} if body.return_documents else {})
               for i in _ranked(scores, body.top_n)]
    return reranker, scores, results


@router.post("/v2/rerank")
async def cohere_rerank(body: CohereRequest, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    """Cohere v2: ``{model, query, documents, top_n}`` -> ``{id, results: [{index, relevance_score}], meta}``."""
    reranker, scores, results = await _index_scores(body, registry, settings)
    meta: dict[str, Any] = {"api_version": {"version": "2"}, "billed_units": {"search_units": 1},
                            "tokens": {"input_tokens": scores.tokens, "output_tokens": 0}}
    if warnings := _warnings(scores, reranker.spec.max_length):
        meta["warnings"] = warnings
    return {"id": str(uuid.uuid4()), "results": results, "meta": meta}


@router.post("/v1/rerank")
async def jina_rerank(body: JinaRequest, registry: RegistryDep, settings: SettingsDep) -> dict[str, Any]:
    """Jina: ``{model, query, documents, top_n, return_documents}`` -> ``{model, usage, results}``."""
    reranker, scores, results = await _index_scores(body, registry, settings)
    out: dict[str, Any] = {"model": body.model or settings.rerank.models[0], "results": results,
                           "usage": {"total_tokens": scores.tokens, "prompt_tokens": scores.tokens}}
    if warnings := _warnings(scores, reranker.spec.max_length):
        out["warnings"] = warnings
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
    reranker = reranker_for(None, settings, truncate=body.truncate)
    scores = await _score(registry, reranker, body.query, texts)
    score: Literal["raw", "sigmoid"] = "raw" if body.raw_scores else "sigmoid"
    return [TeiRank(index=i, score=float(scores.scores[i]) if score == "raw" else _sigmoid(float(scores.scores[i])),
                    text=texts[i] if body.return_text else None)
            for i in _ranked(scores, None)]
