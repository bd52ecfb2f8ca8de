"""Training triples from a BEIR split or a corpus's weak supervision: (query, judged doc, hard negative mined from
our own index)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from indexers.collection import Collection
from indexers.corpus import BeirDataset
from kernel.errors import InvalidInput
from training.rank_lists import QuerySet, judged_queries


@dataclass(frozen=True)
class Triple:
    query: str
    positive: str
    negative: str


def mine_triples(
    dataset: BeirDataset, split: str, collection: Collection, *, depth: int = 20, seed: int = 0
) -> list[Triple]:
    """One triple per judged (query, doc) of a BEIR split (``triples_for`` over its judged queries)."""
    return triples_for(judged_queries(dataset, split), collection, depth=depth, seed=seed)


def triples_for(source: QuerySet, collection: Collection, *, depth: int = 20, seed: int = 0) -> list[Triple]:
    """One triple per judged (query, doc) of ``source`` (a split, or weak queries from a corpus): the negative is a
    random top-``depth`` BM25 hit that is not judged; documents read as ``source.text_of`` shows them (a weak
    title query's documents without their titles)."""
    if not collection.sparse:
        raise InvalidInput(f"collection {collection.name!r} has no sparse index to mine hard negatives from")
    bm25 = next(iter(collection.sparse.values()))
    qrels, queries = source.qrels, source.queries
    rng = random.Random(seed)
    needed = {d for rels in qrels.values() for d in rels}
    runs = bm25.batch_search(queries, depth)
    needed |= {d for hits in runs.values() for d, _ in hits}
    docs = collection.docs.get_many(sorted(needed))
    triples = []
    for qid, text in queries.items():
        judged = qrels.get(qid, {})
        negatives = [d for d, _ in runs[qid] if d not in judged and d in docs]
        for doc_id, grade in judged.items():
            if grade > 0 and doc_id in docs and negatives:
                triples.append(Triple(text, source.text_of(docs[doc_id]),
                                      source.text_of(docs[rng.choice(negatives)])))
    if not triples:
        raise InvalidInput(f"no judged docs of {source.name} are in collection {collection.name!r}")
    return triples
