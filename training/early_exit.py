"""Fit a dense index's early-exit compatibility maps from its own corpus (``sieve index early-exit``).

Pseudo-queries are mined from the collection's documents (``training/weak.py``: titles and inverse-cloze
sentences; random word spans fill up what those leave). Each is encoded once at every depth (one forward pass with all
hidden states, cached in a file when asked), and the map for depth ``L`` is fitted from the ``L``-layer vectors to a
target in the index's space: ``self`` (default) the pseudo-query's own full-depth vector, ``doc`` the stored vector of
the document it came from. No document is re-encoded; no test query and no judgement is read.
"""

from __future__ import annotations

import hashlib
import logging
import random
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from indexers.collection import Collection
from indexers.dense import DenseIndex
from indexers.dense.early_exit import MapKind, add_early_exit
from indexers.encoders import EncoderSpec, build_encoder
from indexers.manifest import IndexManifest
from kernel.errors import InvalidInput
from training.weak import weak_queries

log = logging.getLogger(__name__)
Target = Literal["doc", "self"]


def pseudo_queries(collection: Collection, limit: int, *, seed: int = 0) -> tuple[list[str], list[str]]:
    """Up to ``limit`` distinct (text, source doc id) pairs: up to half document titles, the rest inverse-cloze
    sentences (one per document per round, new rounds with new seeds until ``limit`` or no new sentence)."""
    seen: dict[str, str] = {}
    rounds = [("title", seed)] + [("ict", seed + r) for r in range(8)]
    for kind, round_seed in rounds:
        want = limit // 2 if kind == "title" else limit - len(seen)
        if want <= 0:
            break
        try:
            found = weak_queries(collection, kind, want, seed=round_seed)  # type: ignore[arg-type]
        except InvalidInput:
            continue
        for qid, text in found.queries.items():
            if len(seen) < limit:
                seen.setdefault(text, next(iter(found.qrels[qid])))
    _fill_with_spans(collection, seen, limit, random.Random(seed))
    if not seen:
        raise InvalidInput(f"collection {collection.name!r} gives no pseudo-queries (no titles, no text)")
    return list(seen), list(seen.values())


def _fill_with_spans(collection: Collection, seen: dict[str, str], limit: int, rng: random.Random) -> None:
    """Top ``seen`` up to ``limit`` with random 6-16 word spans of document texts (corpora without titles or
    sentence case, e.g. Cranfield's lower-cased abstracts)."""
    docs = [d for d in collection.docs.iter_docs() if len(d.text.split()) >= 6]
    for _ in range(4 * limit):
        if len(seen) >= limit or not docs:
            return
        doc = rng.choice(docs)
        words = doc.text.split()
        size = rng.randint(6, min(16, len(words)))
        start = rng.randint(0, len(words) - size)
        seen.setdefault(" ".join(words[start:start + size]), doc.id)


def depth_vectors(index: DenseIndex, texts: list[str], *, max_length: int = 64,
                  cache_dir: Path | None = None) -> NDArray[np.float32]:
    """``[num_layers, len(texts), dim]`` for the index's own encoder, from ``cache_dir`` when encoded before."""
    spec = EncoderSpec.model_validate(index.manifest.build["encoder"])
    digest = hashlib.sha256("\n".join([spec.model_dump_json(), str(max_length), *texts]).encode()).hexdigest()[:16]
    path = cache_dir / f"depths-{digest}.npy" if cache_dir else None
    if path is not None and path.is_file():
        cached: NDArray[np.float32] = np.load(path)
        return cached
    encoder = build_encoder(spec)
    encode = getattr(encoder, "encode_all_depths", None)
    if encode is None:
        raise InvalidInput(f"early exit needs a torch encoder; the index's is {spec.backend}")
    vectors: NDArray[np.float32] = encode(texts, max_length=max_length)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def targets_for(index: DenseIndex, sources: list[str], depths: NDArray[np.float32],
                target: Target) -> NDArray[np.float32]:
    """Per pseudo-query, what its mapped early-exit vector should be."""
    if target == "self":
        return np.asarray(depths[-1], dtype=np.float32)
    if index.chunking is not None:
        raise InvalidInput("target 'doc' needs one vector per document; use target 'self' on a passage index")
    row = {doc_id: i for i, doc_id in enumerate(index.docids)}
    vectors = index.vectors()
    return np.asarray(vectors[[row[s] for s in sources]], dtype=np.float32)


def fit_early_exit(collection: Collection, index_name: str, layers: list[int], *, samples: int = 4000,
                   kind: MapKind = "affine", target: Target = "self", ridge: float = 1e-3,
                   default: int | None = None, max_length: int = 64, cache_dir: Path | None = None,
                   seed: int = 0) -> IndexManifest:
    """Mine pseudo-queries, encode them at every depth, fit and write the maps (the caller holds the write lock)."""
    index = collection.dense.get(index_name)
    if index is None:
        raise InvalidInput(f"collection {collection.name!r} has no dense index {index_name!r}")
    texts, sources = pseudo_queries(collection, samples, seed=seed)
    depths = depth_vectors(index, texts, max_length=max_length, cache_dir=cache_dir)
    targets = targets_for(index, sources, depths, target)
    log.info("early exit %s/%s: %d pseudo-queries, layers %s, %s map to %s", collection.name, index_name,
             len(texts), layers, kind, target)
    info = {"pseudo_queries": len(texts), "target": target, "max_length": max_length, "seed": seed,
            "trained_on": "corpus titles + inverse-cloze sentences (no queries, no judgements)",
            "documents_reencoded": 0}
    return add_early_exit(index.folder, depths, targets, layers, kind=kind, ridge=ridge, default=default, info=info)
