"""Model upgrades (``indexers/upgrade``) on a real 80-document collection built with the int8 ONNX MiniLM (A, 384
dims), upgraded to the packaged BERT-tiny (B, 128 dims, another architecture): the mapped query encoder serves at
once, a full upgrade gives exactly a fresh B index, a resumed one skips the chunks already encoded."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cognition
import numpy as np
import pytest

from indexers.bm25 import Bm25IndexSpec
from indexers.collection import BuildPlan, build_collection, open_collection
from indexers.dense import DenseIndex, DenseIndexSpec, build_dense_index, query_encoders
from indexers.dense.options import DenseSearchOptions
from indexers.dense.query_map import QueryMap
from indexers.docstore import DocStore
from indexers.encoders import Encoder, EncoderSpec, build_encoder
from indexers.manifest import IndexManifest
from indexers.segments.live import write_offline
from indexers.upgrade import UpgradeRequest, UpgradeStatus, run_upgrade, scratch_dir, swap
from indexers.upgrade.scratch import reencode
from kernel.types import Doc
from service.encoders import EncoderCache
from service.pipeline import Pipeline
from service.specs import PipelineSpec
from tests.indexers.conftest import ENCODER

B_MODEL = str(Path(cognition.__file__).parent / "model")
QUERY = "vitamin D deficiency and bone fractures"


@pytest.fixture(scope="module")
def encoders() -> Callable[[EncoderSpec], Encoder]:
    """``encoder_for``: each spec loaded once (A and B)."""
    loaded: dict[EncoderSpec, Encoder] = {}

    def encoder_for(spec: EncoderSpec) -> Encoder:
        if spec not in loaded:
            loaded[spec] = build_encoder(spec)
        return loaded[spec]

    return encoder_for


@pytest.fixture(scope="module")
def built(scifact_slice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("upgrade")
    build_collection(BuildPlan(name="up", source=scifact_slice, limit=80, sparse=(Bm25IndexSpec(name="bm25"),),
                               dense=(DenseIndexSpec(encoder=ENCODER, prefixes=None),)), root)
    return root


@pytest.fixture()
def root(built: Path, tmp_path: Path) -> Path:
    shutil.copytree(built, tmp_path / "r")
    return tmp_path / "r"


def _request(**extra: object) -> UpgradeRequest:
    return UpgradeRequest.model_validate({"model": B_MODEL, "calibration": 50, "chunk": 16, **extra})


def _docs(root: Path) -> list[Doc]:
    return list(DocStore(root / "up" / "docs.sqlite").iter_docs())


def test_mapped_query_encoder_serves_at_once(root: Path, encoders: Callable[[EncoderSpec], Encoder]) -> None:
    before = IndexManifest.read(root / "up" / "indexes" / "dense")
    statuses: list[UpgradeStatus] = []
    final = run_upgrade(root, "up", _request(reindex=False), encoder_for=encoders, report=statuses.append)
    assert [s.phase for s in statuses] == ["mapping", "serving_mapped", "done"] and final.map is not None
    assert final.map.calibration == 50 and (final.map.source_dim, final.map.target_dim) == (128, 384)
    after = IndexManifest.read(root / "up" / "indexes" / "dense")
    assert after.version != before.version and after.build["query_encoder"] == "upgrade-dense"
    assert after.model == before.model  # the documents are still A's
    qe = query_encoders.read(root / "up", "upgrade-dense")
    assert qe.trained_against == after.version and qe.map is not None and qe.map.method == "orthogonal"

    collection = open_collection(root / "up")
    with ThreadPoolExecutor(2) as pool:
        pipeline = Pipeline(collection, EncoderCache(), pool)
        result = asyncio.run(pipeline.run(QUERY, k=5, spec=PipelineSpec(retriever="dense"), include_text=False))
    assert result.counts["dense.query_encoder.upgrade-dense"] == 1
    qmap = QueryMap.load(root / "up" / query_encoders.FOLDER / "upgrade-dense")
    direct = qmap.apply(encoders(EncoderSpec(model=B_MODEL)).encode_queries([QUERY]))
    expected = DenseIndex(root / "up" / "indexes" / "dense").search(direct, 5, DenseSearchOptions())[0]
    assert [h.id for h in result.hits] == [r[0] for r in expected]
    np.testing.assert_allclose([h.score for h in result.hits], [r[1] for r in expected], rtol=1e-4, atol=1e-5)


def test_full_upgrade_equals_a_fresh_b_index(root: Path, tmp_path: Path,
                                             encoders: Callable[[EncoderSpec], Encoder]) -> None:
    statuses: list[UpgradeStatus] = []
    final = run_upgrade(root, "up", _request(), encoder_for=encoders, report=statuses.append)
    assert final.phase == "done" and final.done == final.total == 80
    assert {s.phase for s in statuses} >= {"mapping", "serving_mapped", "reencoding", "swapping", "done"}
    index_dir = root / "up" / "indexes" / "dense"
    manifest = IndexManifest.read(index_dir)
    assert manifest.model == B_MODEL and manifest.dims == 128 and "query_encoder" not in manifest.build
    assert not (root / "up" / query_encoders.FOLDER / "upgrade-dense").exists()
    assert not scratch_dir(root, "up", "dense").parent.exists()  # nor the collection's empty scratch folder
    b = encoders(EncoderSpec(model=B_MODEL))
    docs = _docs(root)
    np.testing.assert_allclose(np.load(index_dir / "vectors.npy"), b.encode_docs([d.contents for d in docs]),
                               atol=1e-5)
    fresh = build_dense_index(iter(docs), len(docs), b, tmp_path / "fresh", DenseIndexSpec(
        encoder=EncoderSpec(model=B_MODEL), prefixes=None))
    assert fresh.dims == 128
    query = b.encode_queries([QUERY])
    got = DenseIndex(index_dir).search(query, 10, DenseSearchOptions())[0]
    want = DenseIndex(tmp_path / "fresh").search(query, 10, DenseSearchOptions())[0]
    assert [r[0] for r in got] == [r[0] for r in want]
    np.testing.assert_allclose([r[1] for r in got], [r[1] for r in want], rtol=1e-5, atol=1e-6)


class Interrupted(Exception):
    pass


def test_resume_skips_done_chunks_and_takes_new_writes(root: Path, encoders: Callable[[EncoderSpec], Encoder]
                                                       ) -> None:
    request = _request()
    b = encoders(request.encoder())

    def stop_after_two(done: int, total: int, skipped: int) -> None:
        if done >= 2 * request.chunk:
            raise Interrupted

    with pytest.raises(Interrupted):
        reencode(root, "up", request, b, progress=stop_after_two)
    assert len(list(scratch_dir(root, "up", "dense").glob("chunk-*.npz"))) == 2
    resumed = reencode(root, "up", request, b)
    assert (resumed.skipped_chunks, resumed.encoded_chunks, resumed.docs) == (2, 3, 80)
    assert reencode(root, "up", request, b).encoded_chunks == 0  # all done: nothing encoded again
    new = Doc("new-1", "Calcitriol supplements reduced hip fractures in elderly women.", "Vitamin D trial")
    write_offline(root, "up", upserts=[new], encoder_for=encoders)  # logged with A's vector: not reused for B
    swap(root, "up", request, encoder_for=encoders)
    index_dir = root / "up" / "indexes" / "dense"
    ids = (index_dir / "docids.txt").read_text().splitlines()
    vectors = np.load(index_dir / "vectors.npy")
    docs = {d.id: d for d in _docs(root)}
    assert len(ids) == 81 and set(ids) == set(docs)
    want = b.encode_docs([docs[i].contents for i in ids])
    np.testing.assert_allclose(vectors, want, atol=1e-5)
    assert not scratch_dir(root, "up", "dense").exists()
