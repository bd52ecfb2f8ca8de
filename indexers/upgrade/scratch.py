"""Phase 2: encode every document with model B into the scratch folder, chunk by chunk, resumably.

``<root>/.upgrade/<collection>/<index>/`` holds ``job.json`` (B's encoder spec: another model's upgrade starts
afresh) and ``chunk-NNNNNN.npz`` files (doc ids, text hashes, vectors), each written to a temporary name and renamed
(atomic). A chunk whose ids and text hashes match the documents it would encode is skipped, so a killed upgrade
resumes where it stopped. The swap's encoder (``ScratchEncoder``) answers from these vectors by text hash and encodes
with B only what they lack (documents written meanwhile).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from indexers.docstore import FILENAME as DOCSTORE_FILE
from indexers.docstore import DocStore
from indexers.durable import fault_point
from indexers.encoders import Encoder
from indexers.upgrade.spec import UpgradeRequest, scratch_dir
from kernel.types import Doc

JOB_FILE = "job.json"
Progress = Callable[[int, int, int], None]  # (documents done, total, of which skipped as already encoded)


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True)
class ReencodeReport:
    """What one run of the re-encoding did: chunks encoded now, chunks found done, documents in all."""

    encoded_chunks: int
    skipped_chunks: int
    docs: int


def _chunks(store: DocStore, size: int) -> Iterator[list[Doc]]:
    chunk: list[Doc] = []
    for doc in store.iter_docs():
        chunk.append(doc)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _done(path: Path, ids: list[str], hashes: list[str]) -> bool:
    if not path.is_file():
        return False
    with np.load(path) as data:
        return bool(data["ids"].tolist() == ids and data["hashes"].tolist() == hashes)


def _write(path: Path, ids: list[str], hashes: list[str], vectors: NDArray[np.float32]) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    with tmp.open("wb") as fh:
        np.savez(fh, ids=np.asarray(ids), hashes=np.asarray(hashes), vectors=vectors.astype(np.float32))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def prepare(root: Path, name: str, request: UpgradeRequest) -> Path:
    """The scratch folder for this request: kept when it was started for the same encoder, else emptied."""
    folder = scratch_dir(root, name, request.index)
    job = request.encoder().model_dump_json()
    if folder.is_dir() and (not (folder / JOB_FILE).is_file() or (folder / JOB_FILE).read_text() != job):
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / JOB_FILE).write_text(job)
    return folder


def reencode(root: Path, name: str, request: UpgradeRequest, encoder: Encoder, *,
             progress: Progress | None = None) -> ReencodeReport:
    """Encode every document of the collection's doc store with B (``encoder``) into the scratch folder."""
    folder = prepare(root, name, request)
    store = DocStore(root / name / DOCSTORE_FILE)
    encoded = skipped = done = skipped_docs = 0
    for i, chunk in enumerate(_chunks(store, request.chunk)):
        path = folder / f"chunk-{i:06d}.npz"
        ids, hashes = [d.id for d in chunk], [text_hash(d.contents) for d in chunk]
        if _done(path, ids, hashes):
            skipped += 1
            skipped_docs += len(chunk)
        else:
            _write(path, ids, hashes, encoder.encode_docs([d.contents for d in chunk]))
            encoded += 1
            fault_point("upgrade.after-chunk", name)
        done += len(chunk)
        if progress is not None:
            progress(done, store.count, skipped_docs)
    return ReencodeReport(encoded, skipped, done)


def cached_vectors(folder: Path) -> dict[str, NDArray[np.float32]]:
    """text hash -> B's vector, from every chunk in the scratch folder."""
    table: dict[str, NDArray[np.float32]] = {}
    for path in sorted(folder.glob("chunk-*.npz")):
        with np.load(path) as data:
            table.update(zip(data["hashes"].tolist(), data["vectors"], strict=True))
    return table


class ScratchEncoder:
    """Model B for the swap's rebuild: ``encode_docs`` from the scratch vectors (by text hash); texts they lack are
    encoded with B (``load``, called once when first needed); every other attribute is B's."""

    def __init__(self, table: dict[str, NDArray[np.float32]], load: Callable[[], Encoder]) -> None:
        self._table, self._load, self._real_one = table, load, None
        self.encoded_live = 0  # texts the scratch folder lacked

    def _real(self) -> Any:
        if self._real_one is None:
            self._real_one = self._load()  # type: ignore[assignment]
        return self._real_one

    def encode_docs(self, texts: Sequence[str], *, show_progress: bool = False) -> NDArray[np.float32]:
        keys = [text_hash(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self._table))
        if missing:
            self.encoded_live += len(missing)
            self._table.update(zip((text_hash(t) for t in missing), self._real().encode_docs(missing), strict=True))
        if not texts:
            return np.zeros((0, self._real().dim), dtype=np.float32)
        return np.stack([self._table[k] for k in keys]).astype(np.float32)

    def __getattr__(self, name: str) -> Any:  # model_id, revision, dim, normalized, token_offsets: B's
        return getattr(self._real(), name)
