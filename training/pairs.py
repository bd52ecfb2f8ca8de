"""Training triples from a BEIR split: (query, judged doc, hard negative mined from our own index)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from indexers.collection import Collection
from indexers.corpus import BeirDataset
from kernel.errors import InvalidInput


@dataclass(frozen=True)
class Triple:
    query: str
    positive: str
    negative: str


def mine_triples(
    dataset: BeirDataset, split: str, collection: Collection, *, depth: int = 20, seed: int = 0
) -> list[Triple]:
    """One triple per judged (query, doc): the negative is a random top-``depth`` BM25 hit that is not judged."""
    if not collection.sparse:
        raise InvalidInput(f"collection {collection.name!r} has no sparse index to mine hard negatives from")
    bm25 = next(iter(collection.sparse.values()))
    qrels, queries = dataset.qrels(split), dataset.queries(split)
    rng = random.Random(seed)
    needed = {d for rels in qrels.values() for d in rels}
    runs = bm25.batch_search(queries, depth)
    needed |= {d for hits in runs.values() for d, _ in hits}
    docs = collection.docs.get_many(sorted(needed))
    triples = []
    for qid, text in queries.items():
        negatives = [d for d, _ in runs[qid] if d not in qrels[qid] and d in docs]
        for doc_id, grade in qrels[qid].items():
            if grade > 0 and doc_id in docs and negatives:
                triples.append(Triple(text, docs[doc_id].contents, docs[rng.choice(negatives)].contents))
    if not triples:
        raise InvalidInput(f"no judged docs of {dataset.name}/{split} are in collection {collection.name!r}")
    return triples
