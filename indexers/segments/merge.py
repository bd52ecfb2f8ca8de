"""Merge (compaction): fold the write-ahead log into a new base with the copy-on-write rebuild of
``indexers/updates.py``, then truncate the log up to the folded sequence number.

The rebuild reuses stored vectors: the base's for unchanged docs, the log's for the delta's docs (``StoredEncoder``
answers ``encode_docs`` from them and loads the real encoder only for a text it lacks), so a merge encodes nothing new
(a passage index still re-splits its whole corpus: its base passages are re-encoded as before). The new base's
``collection.json`` records ``wal_seq``, the last change folded in, so replaying the log over it skips what it holds
(idempotent even when a crash comes between the swap and the truncation). Runs under the collection's file lock, like
every base change; writers only append to the log and never wait for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from indexers.docstore import FILENAME as DOCSTORE_FILE
from indexers.docstore import DocStore
from indexers.durable import fault_point
from indexers.encoders import Encoder, EncoderSpec
from indexers.locks import collection_lock
from indexers.recovery import recover_collection
from indexers.segments.codec import Change, ChangeReport
from indexers.segments.encode import EncoderFor, SparseEncoderFor, current_indexes, dense_spec, learned_sparse_spec
from indexers.segments.wal import WriteAheadLog, folded_seq
from indexers.sparse_encoders import SparseEncoder, SparseEncoderSpec, SparseVectors, build_sparse_encoder
from indexers.updates import rebuild_with
from kernel.errors import InvalidInput, NotFound
from kernel.types import Doc


class StoredEncoder:
    """``encode_docs`` from vectors the log holds (by text); anything else goes to the real encoder, loaded lazily."""

    def __init__(self, table: dict[str, Any], load: Callable[[], Any], *, sparse: bool = False) -> None:
        self._table, self._load, self._sparse, self._real_one = table, load, sparse, None

    def _real(self) -> Any:
        if self._real_one is None:
            self._real_one = self._load()
        return self._real_one

    def encode_docs(self, texts: Sequence[str], *, show_progress: bool = False) -> Any:
        missing = list(dict.fromkeys(t for t in texts if t not in self._table))
        if self._sparse:
            if missing:
                vecs = self._real().encode_docs(missing)
                fresh = {t: vecs.take([i]) for i, t in enumerate(missing)}
            rows = [self._table[t] if t in self._table else fresh[t] for t in texts]
            return SparseVectors.concat(rows, rows[0].dim) if rows else None
        fresh = dict(zip(missing, self._real().encode_docs(missing), strict=True)) if missing else {}
        return np.stack([self._table[t] if t in self._table else fresh[t] for t in texts]).astype(np.float32)

    def __getattr__(self, name: str) -> Any:  # model_id, dim, token_offsets, ...: the real encoder's
        return getattr(self._real(), name)


def net_changes(changes: Sequence[Change]) -> tuple[list[Doc], list[str]]:
    """The net effect of ``changes`` in order: the last version of each upserted id, ids deleted last."""
    state: dict[str, Doc | None] = {}
    for change in changes:
        for doc_id in change.deletes:
            state[doc_id] = None
        for doc in change.upserts:
            state[doc.id] = doc
    return [d for d in state.values() if d is not None], [i for i, d in state.items() if d is None]


def _tables(folder: Path, version: str | None, changes: Sequence[Change]
            ) -> tuple[dict[EncoderSpec, dict[str, Any]], dict[SparseEncoderSpec, dict[str, Any]]]:
    """text -> logged vector, per encoder spec (indexes with one encoder share its vectors)."""
    dense: dict[EncoderSpec, dict[str, Any]] = {}
    sparse: dict[SparseEncoderSpec, dict[str, Any]] = {}
    manifests = {p.name: m for p, m in current_indexes(folder, version)}
    for change in changes:
        for name, rows in change.dense.items():
            if name in manifests:
                spec = dense_spec(manifests[name])
                table = dense.setdefault(spec.encoder, {})
                for vec, owner, i in zip(rows.vectors, rows.owners.tolist(), range(len(rows.owners)), strict=True):
                    doc = change.upserts[owner]
                    if rows.spans is None:
                        table[doc.contents] = vec
                    else:
                        body = doc.text[int(rows.spans[i][0]):int(rows.spans[i][1])]
                        table[f"{doc.title} {body}".strip() if doc.title else body] = vec
        for name, vecs in change.sparse.items():
            if name in manifests:
                table = sparse.setdefault(learned_sparse_spec(manifests[name]).sparse.encoder, {})
                for i, doc in enumerate(change.upserts):
                    table[doc.contents] = vecs.take([i])
    return dense, sparse


def apply_changes(root: Path, name: str, *, encoder_for: EncoderFor, sparse_encoder_for: SparseEncoderFor | None = None,
                  upserts: Sequence[Doc] = (), deletes: Sequence[str] = (),
                  respec: Mapping[str, EncoderSpec] | None = None) -> ChangeReport:
    """The full compaction: fold the log, then upsert ``upserts`` (new ids added, existing ids replaced) and delete
    ``deletes``, rebuilding every index copy-on-write (``indexers/updates.py`` ``rebuild_with``); truncate the log up
    to the last change folded. With nothing to fold, the collection is rebuilt as it is (``rebuild``).

    Raises NotFound for an unknown collection. ``sparse_encoder_for`` loads the learned sparse indexes' document
    encoders (default: a fresh load each). ``respec``: dense indexes rebuilt with another encoder (``rebuild_with``;
    the log's vectors, from their old encoder, are not reused for them). Live writes go through the log instead
    (``indexers/segments/live.py``: no rebuild per write).
    """
    sparse_for = sparse_encoder_for or build_sparse_encoder
    if len({d.id for d in upserts}) != len(upserts):
        raise InvalidInput("duplicate ids among the documents to upsert")
    with collection_lock(root, name):
        recover_collection(root, name)
        folder = root / name
        if not (folder / DOCSTORE_FILE).is_file():
            raise NotFound(f"unknown collection {name!r}")
        log = WriteAheadLog.open_existing(root, name)
        try:
            base = folded_seq(folder)
            changes = log.read(after=base) if log is not None else []
            last = changes[-1].seq if changes else base
            explicit = [Change(tuple(upserts), tuple(deletes))] if upserts or deletes else []
            ups, dels = net_changes([*changes, *explicit])
            dense, sparse = _tables(folder, DocStore(folder / DOCSTORE_FILE).version, changes)

            def stored(spec: EncoderSpec) -> Encoder:
                enc: Any = StoredEncoder(dense.get(spec, {}), lambda: encoder_for(spec))
                return enc  # type: ignore[no-any-return]

            def stored_sparse(spec: SparseEncoderSpec) -> SparseEncoder:
                enc: Any = StoredEncoder(sparse.get(spec, {}), lambda: sparse_for(spec), sparse=True)
                return enc  # type: ignore[no-any-return]

            report = replace(rebuild_with(root, name, stored, ups, dels, stored_sparse, folded_seq=last,
                                          respec=respec), seq=last)
            fault_point("merge.before-truncate", name)
            if log is not None:
                log.truncate(last)
        finally:
            if log is not None:
                log.close()
    return report
