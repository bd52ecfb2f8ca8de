"""``sieve eval beir``: score pipelines, rerankers included, on a BEIR split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rankers.specs import DEFAULT_LLM
from sieve.cli_common import IndexRoot, parse_funnel, parse_fusion, parse_learned_sparse, settings_for, setup_logging

eval_app = typer.Typer(help="Evaluate pipelines.", no_args_is_help=True)


def read_qids(path: Path) -> set[str]:
    """Query ids from a text file (one per line) or a JSON file with ``dev_qids`` (what training held out)."""
    import json

    text = path.read_text()
    if path.suffix == ".json":
        return set(json.loads(text)["dev_qids"])
    return {line.strip() for line in text.splitlines() if line.strip()}


@eval_app.command("beir")
def eval_beir(
    data: Annotated[Path, typer.Option(help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")],
    pipeline: Annotated[list[str], typer.Option(
        help="bm25 | dense | splade | hybrid | hybrid-convex | hybrid3 | fuse:R1+R2[+R3] (R: bm25, splade, dense; "
             "fused in that order), each optionally +ce | +listwise | +first | +pairwise; repeatable")] = ["bm25"],  # noqa: B006
    split: str = "test",
    k: Annotated[int, typer.Option(help="hits per query (Recall@100 needs >= 100)")] = 100,
    collection: Annotated[str | None, typer.Option(help="default: the folder's name")] = None,
    url: Annotated[str | None, typer.Option(help="evaluate a running server instead of in-process")] = None,
    out: Annotated[Path, typer.Option(help="run files and JSON summaries go here")] = Path("runs"),
    dense_index: Annotated[str | None, typer.Option(help="which dense index (default: the first)")] = None,
    splade_index: Annotated[str | None, typer.Option(help="which learned sparse index (default: the first)")] = None,
    learned_sparse: Annotated[str, typer.Option(
        help="the learned sparse index to build when a splade pipeline needs one (NAME:BACKEND[:MODEL])")
    ] = "splade:lucene_impact",
    fusion: Annotated[str | None, typer.Option(help="rrf | convex for every fused pipeline [its own]")] = None,
    weights: Annotated[str | None, typer.Option(help="fusion weights, one per fused retriever in order "
                                                     "(e.g. 0.2,0.3,0.5 for fuse:bm25+splade+dense)")] = None,
    rrf_k: Annotated[int | None, typer.Option(help="RRF's k [60]")] = None,
    dims: Annotated[int | None, typer.Option(help="Matryoshka: dense search at this prefix dimension")] = None,
    funnel: Annotated[str | None, typer.Option(help="Matryoshka funnel DIMS:CODE:SHORTLIST")] = None,
    layers: Annotated[int | None, typer.Option(help="dense: early-exit query encoding with the first L layers (the "
                                                   "index's compatibility map)")] = None,
    query_encoder: Annotated[str | None, typer.Option(help="dense: a query encoder registered on the index "
                                                           "(sieve train query-encoder)")] = None,
    build: Annotated[bool, typer.Option(help="build the collection first if it is missing")] = True,
    reranker: Annotated[str | None, typer.Option(help="cross-encoder (path or HF id) for NAME+ce pipelines")] = None,
    reranker_backend: Annotated[str, typer.Option(help="+ce: torch | onnx")] = "torch",
    quantize: Annotated[str, typer.Option(help="+ce with onnx: none | int8")] = "none",
    rerank_depth: Annotated[int, typer.Option(help="first-stage candidates the reranker rescores")] = 100,
    rerank_max_length: Annotated[int, typer.Option(help="tokens per (query, passage) pair")] = 512,
    llm: Annotated[str, typer.Option(help="+listwise/+first/+pairwise: local model (HF id, folder, .gguf) or the "
                                          "endpoint's model name")] = DEFAULT_LLM,
    llm_url: Annotated[str | None, typer.Option(help="an OpenAI-compatible endpoint (http://host:port/v1) "
                                                     "instead of a local model")] = None,
    window: Annotated[int, typer.Option(help="listwise window")] = 20,
    stride: Annotated[int, typer.Option(help="listwise stride")] = 10,
    pairwise_strategy: Annotated[str, typer.Option(help="+pairwise: sliding | allpairs")] = "sliding",
    passes: Annotated[int, typer.Option(help="+pairwise sliding: bubble passes (top candidates settled)")] = 10,
    blend: Annotated[list[float], typer.Option(help="first-stage weight(s) to blend in; repeatable")] = [0.0],  # noqa: B006
    max_queries: Annotated[int | None, typer.Option(help="only the split's first N queries")] = None,
    only_qids: Annotated[Path | None, typer.Option(help="only these query ids: a file with one per line, or a "
                                                        "model's sieve_training.json (its held-out dev_qids)")] = None,
    index_root: IndexRoot = None,
) -> None:
    """Score pipelines on a BEIR split with pytrec_eval (nDCG@10, Recall@100, MRR@10) like BEIR does.

    ``--pipeline bm25+ce --reranker PATH`` also reports the first stage at ``--rerank-depth`` and the reranked run
    (one row per ``--blend``) with rerank latency per query; ``+listwise`` (RankGPT windows), ``+first``
    (single-token listwise) and ``+pairwise`` (PRP) rerank with ``--llm`` (local, or at ``--llm-url``)."""
    from evaluation.beir_eval import evaluate_pipelines
    from rankers.specs import AnySpec, CrossEncoderSpec, ListwiseSpec, LLMSpec, PairwiseSpec

    chat = LLMSpec(backend="openai" if llm_url else "transformers", model=llm, base_url=llm_url)
    rerankers: dict[str, AnySpec] = {
        "listwise": ListwiseSpec(llm=chat, window=window, stride=stride),
        "first": ListwiseSpec(llm=chat, mode="first", window=window, stride=stride),
        "pairwise": PairwiseSpec(llm=chat, strategy=pairwise_strategy, passes=passes),
    }
    if reranker:
        rerankers["ce"] = CrossEncoderSpec(model=reranker, max_length=rerank_max_length,
                                           backend=reranker_backend, quantize=quantize)

    setup_logging()
    settings = settings_for(index_root)
    summaries = evaluate_pipelines(
        data=data, pipelines=pipeline, split=split, k=k, collection=collection or data.name, url=url, out=out,
        dense_index=dense_index, build=build, settings=settings, dims=dims, splade_index=splade_index,
        fusion=parse_fusion(fusion, weights, rrf_k), learned_sparse=parse_learned_sparse(learned_sparse),
        funnel=parse_funnel(funnel) if funnel else None,
        rerankers=rerankers,
        rerank_depth=rerank_depth, blends=tuple(blend), max_queries=max_queries,
        only_qids=read_qids(only_qids) if only_qids else None, layers=layers, query_encoder=query_encoder,
    )
    width = max([24, *(len(str(s["pipeline"])) + 2 for s in summaries)])
    typer.echo(f"{'pipeline':<{width}}{'nDCG@10':>9}{'R@100':>9}{'MRR@10':>9}{'p50 ms':>9}")
    for s in summaries:
        m, lat = s["metrics"], s["latency_ms"]
        stage = f"  ({s['latency_stage']} only)" if "latency_stage" in s else ""
        typer.echo(f"{s['pipeline']:<{width}}{m['ndcg@10']:>9.4f}{m['recall@100']:>9.4f}{m['mrr@10']:>9.4f}"
                   f"{lat['p50']:>9.1f}{stage}")
