"""IR metrics as BEIR computes them: pytrec_eval, with a doc whose id equals the query id dropped."""

from __future__ import annotations

import pytrec_eval

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


def drop_identical_ids(run: Run) -> Run:
    """BEIR's ``ignore_identical_ids``: a query never retrieves itself (matters for corpora holding queries)."""
    return {qid: {d: s for d, s in docs.items() if d != qid} for qid, docs in run.items()}


def top(run: Run, k: int) -> Run:
    """Each query's ``k`` best-scored docs (ties broken by id, descending, as trec_eval does)."""
    return {
        qid: dict(sorted(docs.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:k])
        for qid, docs in run.items()
    }


def evaluate(qrels: Qrels, run: Run, *, ignore_identical_ids: bool = True) -> dict[str, float]:
    """Mean nDCG@10, Recall@100, MRR@10 and MAP@100 over the queries that have both judgements and results."""
    if ignore_identical_ids:
        run = drop_identical_ids(run)
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "map_cut.100"}).evaluate(run)
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top(run, 10))
    n = len(per_query)
    if n == 0:
        return {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0, "map@100": 0.0, "queries": 0}
    return {
        "ndcg@10": sum(q["ndcg_cut_10"] for q in per_query.values()) / n,
        "recall@100": sum(q["recall_100"] for q in per_query.values()) / n,
        "mrr@10": sum(q["recip_rank"] for q in rr.values()) / len(rr),
        "map@100": sum(q["map_cut_100"] for q in per_query.values()) / n,
        "queries": n,
    }
