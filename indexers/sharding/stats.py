"""Collection-wide BM25 statistics for sharded collections (Elasticsearch's DFS query-then-fetch, computed once).

Each shard's native BM25 index holds its own postings, lengths and local df. The statistics BM25 needs from the
whole collection (document count N, the sum of document lengths, hence avgdl, and df per term) are the sums of the
shards' own: ``collect`` reads them from the shard index folders (``vocab.json``, ``indptr.npy``, the manifest's
``doc_count`` and ``avgdl``), ``write`` stores them under ``<collection>/stats/<index>.json`` at the end of a build
(and again after any change to a shard), and every shard server applies them when it opens
(``Bm25Index.use_stats``), so each shard scores its documents exactly as one index over the collection would.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexers.bm25.build import VOCAB_FILE
from indexers.durable import write_text_durably
from indexers.manifest import IndexManifest
from kernel.errors import IndexUnavailable


@dataclass
class CorpusStats:
    """Sums over shards: documents, raw document lengths (Lucene's sumTotalTermFreq), df per term."""

    docs: int = 0
    length_sum: int = 0
    df: Counter[str] = field(default_factory=Counter)

    @property
    def avgdl(self) -> float:
        # The same expression as indexers/bm25/build.py over the whole corpus: float(sum of lengths) / N.
        return float(self.length_sum) / max(self.docs, 1)

    @classmethod
    def of_index(cls, folder: Path) -> CorpusStats:
        """One native BM25 index folder's own statistics."""
        manifest = IndexManifest.read(folder)
        if manifest.build.get("backend") != "native":
            raise IndexUnavailable(f"index {folder.name!r} is not a native BM25 index: sharded BM25 needs native "
                                   "indexes (collection-wide statistics)")
        terms = json.loads((folder / VOCAB_FILE).read_text())
        df = np.diff(np.load(folder / "indptr.npy")).tolist()
        n = manifest.doc_count
        # avgdl = sum / n was stored as a double; n * avgdl is within far less than 0.5 of the integer sum
        return cls(n, round(float(manifest.build["avgdl"]) * n), Counter(dict(zip(terms, df, strict=True))))

    def __add__(self, other: CorpusStats) -> CorpusStats:
        return CorpusStats(self.docs + other.docs, self.length_sum + other.length_sum, self.df + other.df)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"docs": self.docs, "length_sum": self.length_sum, "avgdl": self.avgdl, "df": dict(self.df)}
        write_text_durably(path, json.dumps(body, ensure_ascii=False) + "\n")

    @classmethod
    def read(cls, path: Path) -> CorpusStats:
        try:
            data = json.loads(path.read_text())
            return cls(int(data["docs"]), int(data["length_sum"]), Counter(data["df"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexUnavailable(f"collection-wide BM25 statistics {path.name!r} unreadable "
                                   f"({type(exc).__name__}); rebuild or recollect them") from exc


def collect(index_folders: list[Path]) -> CorpusStats:
    """The collection-wide statistics of one BM25 index spread over shards (one folder per shard)."""
    total = CorpusStats()
    for folder in index_folders:
        total = total + CorpusStats.of_index(folder)
    return total
