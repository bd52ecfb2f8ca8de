"""A new collection from documents (the admin API's create): written as a JSONL corpus and built like any other."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from indexers.collection import BuildPlan, build_collection
from indexers.corpus import Fields
from indexers.dense import DenseIndexSpec
from indexers.docstore import FILENAME as DOCSTORE_FILE
from indexers.locks import collection_lock
from indexers.manifest import IndexManifest
from indexers.recovery import recover_collection
from indexers.segments.codec import ChangeReport
from kernel.errors import InvalidInput
from kernel.types import Doc


def create_collection(root: Path, name: str, docs: Sequence[Doc], dense: Sequence[DenseIndexSpec]) -> ChangeReport:
    """A new collection from ``docs`` with a BM25 index and the ``dense`` indexes."""
    if not docs:
        raise InvalidInput("a new collection needs at least one document")
    started = time.perf_counter()
    with collection_lock(root, name), tempfile.TemporaryDirectory() as tmp:
        recover_collection(root, name)
        if (root / name / DOCSTORE_FILE).exists():
            raise InvalidInput(f"collection {name!r} already exists; add documents to it instead")
        source = Path(tmp) / "docs.jsonl"
        source.write_text("".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text, "metadata": d.metadata})
                                  + "\n" for d in docs))
        built = build_collection(BuildPlan(name=name, source=source, fields=Fields(), dense=tuple(dense)), root)
    count = IndexManifest.read(root / name / "indexes" / next(iter(built))).doc_count if built else len(docs)
    return ChangeReport(name, count, added=count, seconds=round(time.perf_counter() - started, 2),
                        versions={n: m.version for n, m in built.items()})
