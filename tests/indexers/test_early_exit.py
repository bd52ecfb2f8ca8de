"""Early-exit query encoding on the real MiniLM and the SciFact slice: truncated models, compatibility maps fitted
from the corpus (``sieve index early-exit``'s code), and the ``layers`` search option through the service."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from indexers.collection import open_collection
from indexers.corpus import BeirDataset
from indexers.dense import DenseIndex, DenseSearchOptions
from indexers.dense.early_exit import set_default
from indexers.encoders import EncoderSpec, build_encoder
from indexers.encoders.st import SentenceTransformerEncoder
from indexers.manifest import IndexManifest
from indexers.segments.merge import apply_changes
from kernel.errors import InvalidInput
from kernel.types import Doc
from service.config import Settings
from tests.conftest import asgi_client, link_dense_copy
from training.early_exit import fit_early_exit

TEXTS = ["Vitamin D deficiency increases cancer risk", "stem cells regenerate heart tissue after infarction",
         "antibiotic resistance"]


@pytest.fixture(scope="module")
def encoder() -> SentenceTransformerEncoder:
    enc = build_encoder(EncoderSpec())
    assert isinstance(enc, SentenceTransformerEncoder)
    return enc


@pytest.fixture(scope="module")
def root(index_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the slice's doc store and dense index (hard links), with early-exit maps for layers 1-3."""
    dst_root = tmp_path_factory.mktemp("early-exit")
    col = open_collection(link_dense_copy(index_root, dst_root))
    try:
        fit_early_exit(col, "dense", [1, 2, 3], samples=800, target="self")
    finally:
        col.close()
    return dst_root


def test_full_depth_is_the_full_model_exactly(encoder: SentenceTransformerEncoder) -> None:
    assert encoder.num_layers == 6
    np.testing.assert_array_equal(encoder.encode_queries_at(TEXTS, 6), encoder.encode_queries(TEXTS))
    depths = encoder.encode_all_depths(TEXTS)
    assert depths.shape == (6, 3, 384)
    np.testing.assert_allclose(depths[5], encoder.encode_queries(TEXTS), atol=1e-5)
    for layers in (1, 3):
        early = encoder.encode_queries_at(TEXTS, layers)
        np.testing.assert_allclose(early, depths[layers - 1], atol=1e-5)  # one pass with hidden states = truncation
        assert np.all(np.sum(early * depths[5], axis=1) < 0.9)  # really another (earlier) representation
    full_again = encoder.encode_queries(TEXTS)  # the full model is left as it was (weights shared, not truncated)
    np.testing.assert_allclose(full_again, depths[5], atol=1e-5)
    with pytest.raises(InvalidInput):
        encoder.encode_queries_at(TEXTS, 7)


def _agreement(index: DenseIndex, vectors: np.ndarray, reference: list[list[str]], **options: object) -> float:
    rows = index.search(vectors, 10, DenseSearchOptions(**options))
    return float(np.mean([len({d for d, _ in row} & set(ref)) / 10 for row, ref in zip(rows, reference, strict=True)]))


def test_map_brings_early_exit_rankings_closer_to_full_depth(root: Path, scifact_slice: Path,
                                                            encoder: SentenceTransformerEncoder) -> None:
    index = DenseIndex(root / "sf" / "indexes" / "dense")
    record = index.manifest.build["early_exit"]
    assert record["layers"] == [1, 2, 3] and record["documents_reencoded"] == 0 and record["default"] is None
    queries = list(BeirDataset.open(scifact_slice).queries("test").values())
    reference = [[d for d, _ in row] for row in index.search(encoder.encode_queries(queries), 10)]
    for layers in (1, 2):
        early = encoder.encode_queries_at(queries, layers)
        raw = _agreement(index, early, reference)
        mapped = _agreement(index, early, reference, layers=layers)
        assert mapped > raw + 0.1, (layers, raw, mapped)
    with pytest.raises(InvalidInput, match="layers \\[1, 2, 3\\].*not 4"):
        index.search(encoder.encode_queries_at(queries, 4), 10, DenseSearchOptions(layers=4))
    assert index.query_layers(None, 6) is None and index.query_layers(6, 6) is None
    with pytest.raises(InvalidInput, match="has 6"):
        index.query_layers(7, 6)


async def test_layers_through_the_service_and_the_index_default(root: Path, encoder: SentenceTransformerEncoder
                                                                ) -> None:
    query = {"collection": "sf", "query": "vitamin D and cancer risk", "retriever": "dense", "k": 10,
             "include_text": False}
    folder = root / "sf" / "indexes" / "dense"
    async with asgi_client(Settings(index_root=root, workers=2)) as client:
        full = (await client.post("/v1/search", json=query)).json()["hits"]
        two = (await client.post("/v1/search", json={**query, "layers": 2})).json()["hits"]
        six = (await client.post("/v1/search", json={**query, "layers": 6})).json()["hits"]
        bad = await client.post("/v1/search", json={**query, "layers": 4})
        assert bad.status_code == 422 and "sieve index early-exit" in bad.json()["error"]["message"]
        assert (await client.post("/v1/search", json={**query, "layers": 0})).status_code == 422
    assert [h["id"] for h in six] == [h["id"] for h in full]
    index = DenseIndex(folder)
    expected = index.search(encoder.encode_queries_at([query["query"]], 2), 10, DenseSearchOptions(layers=2))[0]
    assert [h["id"] for h in two] == [d for d, _ in expected] != [h["id"] for h in full]
    before = IndexManifest.read(folder).version
    assert set_default(folder, 2).version != before  # a new version: cached answers do not outlive the default
    async with asgi_client(Settings(index_root=root, workers=2)) as client:
        default = (await client.post("/v1/search", json=query)).json()["hits"]
        override = (await client.post("/v1/search", json={**query, "layers": 6})).json()["hits"]
    assert [h["id"] for h in default] == [h["id"] for h in two]
    assert [h["id"] for h in override] == [h["id"] for h in full]


def test_a_live_update_keeps_the_maps(root: Path, encoder: SentenceTransformerEncoder) -> None:
    folder = root / "sf" / "indexes" / "dense"
    before = IndexManifest.read(folder)
    maps = dict(np.load(folder / "early_exit.npz"))
    apply_changes(root, "sf", encoder_for=lambda spec: encoder,
                  upserts=[Doc(id="zebrafish-1", title="Zebrafish", text="Zebrafish regenerate their fins.")])
    after = IndexManifest.read(folder)
    assert after.version != before.version and after.doc_count == before.doc_count + 1
    assert after.build["early_exit"] == before.build["early_exit"]
    carried = np.load(folder / "early_exit.npz")
    assert all(np.array_equal(carried[name], maps[name]) for name in maps)
    index = DenseIndex(folder)
    vector = encoder.encode_queries_at(["Zebrafish regenerate their fins."], 2)
    assert index.search(vector, 1, DenseSearchOptions(layers=2))[0][0][0] == "zebrafish-1"
