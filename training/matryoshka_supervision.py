"""Supervision for the adaptor from a BEIR train split: encoded queries and their judged docs' index positions."""

from __future__ import annotations

from indexers.corpus import BeirDataset
from indexers.dense import DenseIndex
from indexers.encoders import Encoder
from indexers.matryoshka.adaptor import Supervision
from kernel.errors import InvalidInput


def supervision_from_beir(dataset: BeirDataset, split: str, encoder: Encoder, index: DenseIndex) -> Supervision:
    """Positive ``(query, doc)`` pairs of ``split`` whose docs are in ``index``."""
    qrels = dataset.qrels(split)
    queries = dataset.queries(split)
    position = {doc_id: i for i, doc_id in enumerate(index.docids)}
    qids = [q for q in queries if any(position.get(d) is not None for d, g in qrels[q].items() if g > 0)]
    pairs = [(row, position[d]) for row, q in enumerate(qids) for d, g in qrels[q].items() if g > 0 and d in position]
    if not pairs:
        raise InvalidInput(f"no judged docs of {dataset.name}/{split} are in index {index.folder.name}")
    vectors = encoder.encode_queries([queries[q] for q in qids])
    return Supervision(vectors, pairs, f"{dataset.name} {split} qrels ({len(qids)} queries, {len(pairs)} pairs)")
