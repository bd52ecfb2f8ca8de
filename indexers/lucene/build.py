"""Build a Lucene index with Pyserini's in-process indexer (default analyzer: Porter stemming, stopwords)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from indexers.durable import fault_point
from indexers.lucene.jvm import ensure_jvm
from indexers.manifest import IndexManifest, atomic_folder
from kernel.types import Doc

log = logging.getLogger(__name__)


class LuceneIndexSpec(BaseModel):
    """A BM25 index. Positions and doc vectors are stored so RM3 feedback works."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "bm25"
    backend: Literal["lucene"] = "lucene"
    threads: int = Field(2, ge=1)
    batch_size: int = Field(1000, ge=1)


def build_lucene_index(docs: Iterable[Doc], count: int, out_dir: Path, spec: LuceneIndexSpec, *,
                       docstore_version: str | None = None) -> IndexManifest:
    """Index ``docs`` (title and text as one ``contents`` field, as BEIR's flat Anserini indexes do).

    ``docstore_version``: the version of the doc store ``docs`` come from, recorded in the manifest.
    """
    ensure_jvm()
    from pyserini.index.lucene import LuceneIndexer

    started = time.perf_counter()
    with atomic_folder(out_dir) as tmp:
        args = ["-index", str(tmp), "-storePositions", "-storeDocvectors", "-storeRaw"]
        indexer = LuceneIndexer(args=args, threads=spec.threads)
        batch: list[dict[str, str]] = []
        n = 0
        for doc in tqdm(docs, total=count, desc="lucene index", unit="doc"):
            batch.append({"id": doc.id, "contents": doc.contents})
            if len(batch) >= spec.batch_size:
                indexer.add_batch_dict(batch)
                n += len(batch)
                batch = []
        if batch:
            indexer.add_batch_dict(batch)
            n += len(batch)
        fault_point("lucene.mid-index", spec.name)  # documents added, the Lucene writer not yet committed
        indexer.close()
        seconds = time.perf_counter() - started
        manifest = IndexManifest(
            kind="sparse",
            name=spec.name,
            doc_count=n,
            metric="bm25",
            build={**spec.model_dump(mode="json"), "analyzer": "pyserini-default (porter, stopwords)",
                   "docs_per_second": round(n / max(seconds, 1e-9), 1)},
            build_seconds=round(seconds, 2),
            docstore_version=docstore_version,
        )
        manifest.write(tmp)
    log.info("lucene index %s: %d docs in %.1fs", out_dir, n, seconds)
    return manifest
