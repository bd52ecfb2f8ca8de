"""``POST /v1/search``: validate, merge the request's pipeline overrides into the default, run the pipeline within
the request's time budget."""

from __future__ import annotations

from fastapi import APIRouter, Request

from kernel.errors import InvalidInput
from service.deadlines import Deadline
from service.deps import RegistryDep, SettingsDep
from service.schemas import HitOut, PassageOut, SearchRequest, SearchResponse

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search", response_model=SearchResponse)
async def search(body: SearchRequest, registry: RegistryDep, settings: SettingsDep, request: Request) -> SearchResponse:
    if body.k > settings.max_k:
        raise InvalidInput(f"k={body.k} is over this server's limit of {settings.max_k}")
    if len(body.query) > settings.max_query_chars:
        raise InvalidInput(f"query is {len(body.query)} characters; the limit is {settings.max_query_chars}")
    deadline = Deadline.for_request(body.timeout_ms, settings.deadline_ms, settings.max_deadline_ms)
    pipeline = registry.pipeline(body.collection)
    options = body.rerank_options
    reranker = call = None
    if options is not None:
        reranker, call = registry.rerankers.for_request(options.model, top_n=options.top_n, blend=options.blend)
    elif body.rerank is True and registry.reranker is None:  # asked for by name: never silently skipped
        if not registry.rerankers.names:
            raise InvalidInput('"rerank": true, but this server serves no rerankers (served: none); set '
                               "SIEVE_RERANK__MODELS or SIEVE_RERANK__RANKERS, or leave rerank out")
        reranker, call = registry.rerankers.for_request(None)
    spec = settings.pipeline.override(**body.pipeline_changes())
    result = await pipeline.run(body.query, k=body.k, spec=spec, include_text=body.include_text, deadline=deadline,
                                reranker=reranker, rerank_call=call)
    tracing = request.app.state.tracing
    if tracing is not None:
        tracing.stage_spans([m for m in result.marks if m[0] != "total"])
    return SearchResponse(
        collection=body.collection,
        query=body.query,
        retriever=spec.retriever,
        retrievers=list(spec.route()),
        hits=[HitOut(id=h.id, score=h.score, title=h.title, text=h.text, stage_scores=h.stage_scores,
                     passage=PassageOut(start=h.passage[0], end=h.passage[1]) if h.passage else None,
                     metadata=dict(h.metadata) if h.metadata else None)
              for h in result.hits],
        timings_ms=result.timings_ms,
        counts=result.counts,
        degraded=result.degraded,
        warnings=result.warnings,
        cached=result.cached,
        explain=result.explain if spec.explain else None,
    )
