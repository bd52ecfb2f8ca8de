"""Listwise training data for cross-encoders: per query, its positives and hard negatives mined from our own BM25
and dense indexes, each labelled with the hybrid retriever's fused score (a teacher) plus the judgement.

Queries come from a BEIR train split (``judged_queries``) or from the corpus itself when a collection has none
(``training.weak``: title -> abstract, inverse-cloze sentence -> passage).

The soft labels matter with little data: a hard negative the hybrid retriever ranks high (often an unjudged relevant
doc) is not pushed to zero, and the student starts by learning the teacher's order before the judgements sharpen it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from indexers.collection import Collection
from indexers.corpus import BeirDataset
from indexers.encoders import EncoderSpec, build_encoder
from kernel.errors import InvalidInput
from kernel.types import Doc, Hit
from training.specs import MiningSpec

Qrels = dict[str, dict[str, int]]


def fuse_minmax(runs: list[list[Hit]]) -> dict[str, float]:
    """Equal-weight convex fusion of min-max normalised runs (as ``rankers.fusion.convex``, which indexers may not
    import): a doc missing from a run gets that run's lowest value, 0."""
    fused: dict[str, float] = {}
    for run in runs:
        scores = [h.score for h in run]
        lo, span = (min(scores), max(scores) - min(scores)) if scores else (0.0, 0.0)
        for h in run:
            fused[h.id] = fused.get(h.id, 0.0) + ((h.score - lo) / span if span > 0 else 0.0) / len(runs)
    return fused


@dataclass(frozen=True)
class RankList:
    """One query with candidate texts (positives first) and a relevance label per candidate."""

    qid: str
    query: str
    doc_ids: tuple[str, ...]
    docs: tuple[str, ...]
    labels: tuple[float, ...]
    positives: frozenset[str]


@dataclass(frozen=True)
class QuerySet:
    """Queries with judgements, and how a candidate doc reads to the model (weak supervision hides a title that
    the query was made from)."""

    queries: dict[str, str]
    qrels: Qrels
    text_of: Callable[[Doc], str] = field(default=lambda d: d.contents)
    name: str = "judged"


def judged_queries(dataset: BeirDataset, split: str) -> QuerySet:
    """A BEIR split's queries and judgements."""
    return QuerySet(dataset.queries(split), dataset.qrels(split), name=f"{dataset.name}/{split}")


def _runs(queries: dict[str, str], collection: Collection, depth: int
          ) -> tuple[dict[str, list[Hit]], dict[str, list[Hit]]]:
    if not collection.sparse or not collection.dense:
        raise InvalidInput(f"collection {collection.name!r} needs a sparse and a dense index to mine from; "
                           f"it has sparse {sorted(collection.sparse)}, dense {sorted(collection.dense)}")
    bm25 = next(iter(collection.sparse.values())).batch_search(queries, depth)
    dense_index = next(iter(collection.dense.values()))
    encoder = build_encoder(EncoderSpec.model_validate(dense_index.manifest.build["encoder"]))
    ids = list(queries)
    rows = dense_index.search(encoder.encode_queries([queries[q] for q in ids]), depth)
    sparse_hits = {q: [Hit(d, s) for d, s in bm25[q]] for q in ids}
    dense_hits = {q: [Hit(d, s) for d, s in row] for q, row in zip(ids, rows, strict=True)}
    return sparse_hits, dense_hits


def mine_lists(source: QuerySet, collection: Collection, spec: MiningSpec | None = None) -> list[RankList]:
    """One ``RankList`` per query of ``source`` with a judged doc in ``collection``.

    Raises:
        InvalidInput: the collection lacks a sparse or dense index, or no judged doc is in it.
    """
    spec = spec or MiningSpec()
    rng = random.Random(spec.seed)
    queries, qrels = source.queries, source.qrels
    sparse_hits, dense_hits = _runs(queries, collection, spec.depth)
    needed = {d for q in queries for d in qrels.get(q, {})}
    needed |= {h.id for runs in (sparse_hits, dense_hits) for hits in runs.values() for h in hits}
    docs = collection.docs.get_many(sorted(needed))
    lists = []
    for qid, text in queries.items():
        positives = [d for d, g in qrels.get(qid, {}).items() if g > 0 and d in docs]
        if not positives:
            continue
        fused = fuse_minmax([sparse_hits[qid], dense_hits[qid]])
        pool = sorted((d for d in fused if d not in positives and d in docs), key=lambda d: -fused[d])
        hardest = pool[: spec.negatives // 2]
        rest = pool[len(hardest):]
        negatives = hardest + rng.sample(rest, min(len(rest), spec.negatives - len(hardest)))
        chosen = positives + negatives
        labels = tuple(spec.gold_weight * (d in positives) + spec.teacher_weight * fused.get(d, 0.0) for d in chosen)
        lists.append(RankList(qid, text, tuple(chosen), tuple(source.text_of(docs[d]) for d in chosen), labels,
                              frozenset(positives)))
    if not lists:
        raise InvalidInput(f"no judged docs of {source.name} are in collection {collection.name!r}")
    return lists


def mine_rank_lists(dataset: BeirDataset, split: str, collection: Collection, spec: MiningSpec | None = None
                    ) -> list[RankList]:
    """``mine_lists`` over a BEIR split's judged queries."""
    return mine_lists(judged_queries(dataset, split), collection, spec)


def first_stage_texts(dataset: BeirDataset, split: str, collection: Collection, depth: int) -> dict[str, list[str]]:
    """Each query's BM25 top-``depth`` texts in rank order (what a dev evaluation reranks)."""
    queries = dataset.queries(split)
    runs = next(iter(collection.sparse.values())).batch_search(queries, depth)
    docs = collection.docs.get_many(sorted({d for hits in runs.values() for d, _ in hits}))
    return {q: [docs[d].contents for d, _ in hits if d in docs] for q, hits in runs.items()}
