"""``sieve eval beir``: build the collection if needed, run each named pipeline over a split, score and save."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from evaluation.harness import run_in_process, run_over_http, summarize
from evaluation.rerank_eval import PairMemo, evaluate_reranked, split_name
from indexers.collection import BuildPlan, build_collection, list_collections, open_collection
from indexers.corpus import BeirDataset
from indexers.learned_sparse import KIND as LEARNED_SPARSE
from indexers.learned_sparse_backends import LearnedSparseSpec
from indexers.manifest import MANIFEST, IndexManifest
from indexers.matryoshka import FunnelOptions, FunnelSpec
from rankers.fusion import FusionSpec
from rankers.registry import RerankerPool
from rankers.specs import AnySpec
from service.config import Settings
from service.encoders import EncoderCache
from service.pipeline import Pipeline
from service.specs import PipelineSpec

log = logging.getLogger(__name__)


def load_pipeline(folder: Path, workers: int = 2) -> Pipeline:
    """One collection's pipeline, outside any server (what the harness and the BEIR adapter use)."""
    return Pipeline(open_collection(folder), EncoderCache(), ThreadPoolExecutor(max_workers=workers))


def _dense_label(index: str | None, dims: int | None, funnel: FunnelSpec | None) -> str:
    """Run-file suffix naming the dense variant: ``@dense-onnx``, ``@d64``, ``@funnel-64-sq8-200``."""
    parts = [index] if index else []
    parts += [f"d{dims}"] if dims else []
    parts += [f"funnel-{funnel.dims}-{funnel.code}-{funnel.shortlist}"] if funnel else []
    return "@" + "@".join(parts) if parts else ""


def _fusion_label(fusion: FusionSpec | None) -> str:
    """Run-file suffix naming a fusion override: ``@convex-0.2-0.3-0.5``, ``@rrf``."""
    if fusion is None:
        return ""
    weights = "-".join(f"{w:g}" for w in fusion.weights) if fusion.weights else ""
    return f"@{fusion.method}" + (f"-{weights}" if weights else "") + (f"-k{fusion.rrf_k}" if fusion.rrf_k != 60
                                                                        else "")


def _ensure_built(data: Path, collection: str, settings: Settings, specs: list[PipelineSpec],
                  learned_sparse: LearnedSparseSpec | None) -> None:
    """Build the collection if it is missing, and a learned sparse index if a pipeline needs one it lacks."""
    folder = settings.index_root / collection
    needs = learned_sparse is not None and any("splade" in s.route() for s in specs)
    has = any(IndexManifest.read(m.parent).kind == LEARNED_SPARSE for m in (folder / "indexes").glob(f"*/{MANIFEST}"))
    if folder in list_collections(settings.index_root) and (has or not needs):
        return
    log.info("collection %s: building it from %s (learned sparse: %s)", collection, data, needs)
    extra = (learned_sparse,) if needs and learned_sparse is not None else ()
    build_collection(BuildPlan(name=collection, source=data, learned_sparse=extra), settings.index_root)


def evaluate_pipelines(
    *,
    data: Path,
    pipelines: list[str],
    split: str,
    k: int,
    collection: str,
    url: str | None,
    out: Path | None,
    dense_index: str | None,
    build: bool,
    settings: Settings,
    dims: int | None = None,
    funnel: FunnelSpec | None = None,
    rerankers: dict[str, AnySpec] | None = None,
    rerank_depth: int = 100,
    blends: tuple[float, ...] = (0.0,),
    max_queries: int | None = None,
    only_qids: set[str] | None = None,
    splade_index: str | None = None,
    fusion: FusionSpec | None = None,
    learned_sparse: LearnedSparseSpec | None = None,
    layers: int | None = None,
    query_encoder: str | None = None,
) -> list[dict[str, Any]]:
    """Evaluate each pipeline name on ``data``'s ``split``; returns one summary per pipeline.

    A name ending in ``+SUFFIX`` (``bm25+ce``, ``hybrid+listwise``, ``bm25+first``, ``bm25+pairwise``) reranks
    that pipeline's top ``rerank_depth`` with ``rerankers[SUFFIX]`` and reports the first stage at that depth, then
    the reranked run at each ``blends`` weight (in-process only). ``fusion`` replaces every fused pipeline's fusion
    (its weights follow the pipeline's retriever order); ``learned_sparse`` is built when a pipeline routes through
    SPLADE and the collection has no learned sparse index.
    """
    dataset = BeirDataset.open(data)
    qrels = dataset.qrels(split)
    queries = dataset.queries(split)
    if only_qids is not None:  # e.g. the train queries a model held out (its sieve_training.json's dev_qids)
        queries = {q: t for q, t in queries.items() if q in only_qids}
        qrels = {q: qrels[q] for q in queries if q in qrels}
    if max_queries is not None:  # a fixed subset (first ids in file order), for quick comparisons on slow machines
        queries = dict(list(queries.items())[:max_queries])
        qrels = {q: qrels[q] for q in queries if q in qrels}
    funnel_opts = FunnelOptions(**funnel.model_dump()) if funnel else None
    specs = {name: PipelineSpec.named(split_name(name)[0]).override(
        dense_index=dense_index, dimensions=dims, funnel=funnel_opts, splade_index=splade_index,
        layers=layers, query_encoder=query_encoder,
        fusion=fusion if fusion is not None and len(PipelineSpec.named(split_name(name)[0]).route()) > 1 else None)
        for name in pipelines}
    folder = settings.index_root / collection
    if url is None and build:
        _ensure_built(data, collection, settings, list(specs.values()), learned_sparse)
    pipeline = load_pipeline(folder) if url is None else None
    summaries = []
    memo: PairMemo = {}  # cross-encoder pair scores, shared by this run's +ce pipelines
    pool = RerankerPool()  # and their rerankers' models, loaded once
    for name, spec in specs.items():
        suffix = split_name(name)[1]
        if suffix is not None:
            reranker = (rerankers or {}).get(suffix)
            if reranker is None or pipeline is None:
                raise ValueError(f"pipeline {name!r} needs a {suffix} reranker (see --reranker, --llm) and runs "
                                 "in-process only")
            summaries += evaluate_reranked(name=name, pipeline=pipeline, queries=queries, qrels=qrels,
                                           dataset=dataset.name, split=split, spec=spec, reranker=reranker,
                                           depth=rerank_depth, blends=blends, out=out, memo=memo,
                                           pool=pool)
            continue
        if pipeline is not None:
            result = asyncio.run(run_in_process(pipeline, queries, spec, k))
        else:
            assert url is not None
            result = asyncio.run(run_over_http(url, collection, queries, spec, k))
        label = name + (_dense_label(dense_index, dims, funnel) if "dense" in spec.route() else "")
        label += (f"@L{layers}" if layers else "") + (f"@qe-{query_encoder}" if query_encoder else "")
        label += _fusion_label(fusion) if len(spec.route()) > 1 else ""
        summaries.append(summarize(label, dataset.name, split, qrels, result, out))
    return summaries
