"""Phase 3 (the swap) and the three phases in order, for the CLI (under the collection's file lock) and the server
(on a background thread, swapping pipelines between phases)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from indexers.encoders import Encoder, EncoderSpec
from indexers.segments.codec import ChangeReport
from indexers.segments.encode import EncoderFor, SparseEncoderFor
from indexers.segments.merge import apply_changes
from indexers.upgrade import mapping
from indexers.upgrade.scratch import ScratchEncoder, cached_vectors, prepare, reencode
from indexers.upgrade.spec import UpgradeRequest, UpgradeStatus, mapped_name, scratch_dir

Report = Callable[[UpgradeStatus], None]  # called with every new status
Around = Callable[[Callable[[], ChangeReport]], ChangeReport]  # runs the swap (the server: under its write lock)


def swap(root: Path, name: str, request: UpgradeRequest, *, encoder_for: EncoderFor,
         sparse_encoder_for: SparseEncoderFor | None = None) -> ChangeReport:
    """The full compaction (the log folded in) with dense index ``request.index`` rebuilt on B: vectors from the
    scratch folder, B encodes live only what it lacks (the log's vectors are the old model's: not reused). The new
    index serves B natively; the mapped query encoder is dropped; the scratch folder is deleted."""
    spec = request.encoder()
    folder = prepare(root, name, request)
    scratch = ScratchEncoder(cached_vectors(folder), lambda: encoder_for(spec))

    def encoder(wanted: EncoderSpec) -> Encoder:
        chosen: Any = scratch if wanted == spec else encoder_for(wanted)
        return chosen  # type: ignore[no-any-return]

    report = apply_changes(root, name, encoder_for=encoder, sparse_encoder_for=sparse_encoder_for,
                           respec={request.index: spec})
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):  # <root>/.upgrade/<collection>, then <root>/.upgrade
        try:
            parent.rmdir()  # only when empty: another index or collection may be upgrading
        except OSError:
            break
    return report


def run_upgrade(root: Path, name: str, request: UpgradeRequest, *, encoder_for: EncoderFor,
                sparse_encoder_for: SparseEncoderFor | None = None, report: Report | None = None,
                after_map: Callable[[], None] | None = None, around_swap: Around | None = None) -> UpgradeStatus:
    """Map (B's queries served through the map once ``after_map`` has run), re-encode, swap (through
    ``around_swap``). Errors propagate; ``report`` has seen every phase up to the failing one."""
    status = UpgradeStatus(collection=name, index=request.index, model=request.model)

    def step(**changes: Any) -> UpgradeStatus:
        nonlocal status
        status = status.model_copy(update=changes)
        if report is not None:
            report(status)
        return status

    step(phase="mapping")
    mapping.dense_manifest(root / name, request.index)
    b = encoder_for(request.encoder())
    qmap, record = mapping.fit(root / name, request, b)
    mapping.install(root, name, request, qmap, record)
    step(phase="serving_mapped", map=record, query_encoder=mapped_name(request.index))
    if after_map is not None:
        after_map()
    if not request.reindex:
        return step(phase="done")
    step(phase="reencoding")

    def progress(done: int, total: int, skipped: int) -> None:
        step(done=done, total=total, skipped=skipped)

    def do_swap() -> ChangeReport:
        return swap(root, name, request, encoder_for=encoder_for, sparse_encoder_for=sparse_encoder_for)

    reencode(root, name, request, b, progress=progress)
    step(phase="swapping")
    changed = around_swap(do_swap) if around_swap is not None else do_swap()
    return step(phase="done", versions=changed.versions)


__all__ = ["run_upgrade", "scratch_dir", "swap"]
