"""Alternative query encoders registered on a dense index: query-side models tuned against the index's stored
document vectors (``sieve train query-encoder``), so the documents are never re-encoded.

Each lives in ``<collection>/query_encoders/<name>/``: its model folder (``model-<random>/``, new at every
registration, so a replaced query encoder is never served from a cache keyed by the old path) and
``query_encoder.json``, its manifest, which names the dense index and the index version it was trained against. A
query encoder serves only that version: once the index is rebuilt (a live change, new early-exit maps, ...) its
vectors may differ, and ``resolve`` refuses it with an error that says so.

A mapped query encoder (``sieve index upgrade``) is another model B plus ``query_map.npz`` (``query_map.py``) into
the index's space: its manifest's ``map`` records the fit and the index's encoder it maps into, and it serves any
version of the index still built with that encoder (the map targets the model's space, not one set of vectors).
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from indexers.dense.query_map import QueryMap
from indexers.encoders import EncoderSpec
from indexers.manifest import IndexManifest, atomic_folder
from kernel.errors import InvalidInput, NotFound

FOLDER = "query_encoders"
MANIFEST_FILE = "query_encoder.json"
MODEL_DIR = "model"


class MapRecord(BaseModel):
    """How a mapped query encoder's ``query_map.npz`` was fitted, and the index encoder whose space it maps into."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    lam: float
    source_dim: int  # B's query vectors
    target_dim: int  # the index's
    calibration: int  # documents paired (B's encoding of the text, the index's stored vector)
    index_encoder: dict[str, Any]  # the index's EncoderSpec (A) at fitting time


class QueryEncoderManifest(BaseModel):
    """What a registered query encoder is and what it may be used with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    index: str  # the dense index's name in its collection
    trained_against: str  # that index's manifest version at training time
    base_model: str
    encoder: dict[str, Any]  # the index's EncoderSpec, whose model this one replaces for queries
    documents_reencoded: int = 0
    training: dict[str, Any] = {}
    created_at: str = ""
    map: MapRecord | None = None  # set for a mapped query encoder (model B + query_map.npz)
    model_dir: str = MODEL_DIR  # its model folder, new per registration: no cache keyed by path serves a replaced one

    @classmethod
    def trained(cls, name: str, index: str, against: IndexManifest, training: dict[str, Any]) -> QueryEncoderManifest:
        """The manifest of a query encoder trained on dense index ``index`` (manifest ``against``), documents
        untouched."""
        return cls(name=name, index=index, trained_against=against.version, base_model=str(against.model),
                   encoder=against.build["encoder"], documents_reencoded=0, training=training)


def _check_name(name: str) -> str:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise InvalidInput(f"query encoder name {name!r}: use letters, digits, '-', '_' and '.'")
    return name


def register(collection_folder: Path, manifest: QueryEncoderManifest, model_dir: Path,
             query_map: QueryMap | None = None) -> Path:
    """Move the trained ``model_dir`` into the collection as ``manifest.name`` (atomically; replaces one of the same
    name) and write its manifest (and ``query_map``, a mapped one's map). Returns the folder."""
    final = collection_folder / FOLDER / _check_name(manifest.name)
    with atomic_folder(final) as tmp:
        folder = f"{MODEL_DIR}-{secrets.token_hex(6)}"
        shutil.copytree(model_dir, tmp / folder)
        if query_map is not None:
            query_map.save(tmp)
        stamped = manifest.model_copy(update={"created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                              "model_dir": folder})
        (tmp / MANIFEST_FILE).write_text(stamped.model_dump_json(indent=2) + "\n")
    return final


def read(collection_folder: Path, name: str) -> QueryEncoderManifest:
    """The manifest of query encoder ``name`` (NotFound, listing the registered ones, when there is none)."""
    path = collection_folder / FOLDER / _check_name(name) / MANIFEST_FILE
    if not path.is_file():
        known = sorted(p.parent.name for p in (collection_folder / FOLDER).glob(f"*/{MANIFEST_FILE}"))
        raise NotFound(f"collection {collection_folder.name!r} has no query encoder {name!r}; registered: {known}")
    return QueryEncoderManifest.model_validate(json.loads(path.read_text()))


def resolve(collection_folder: Path, index_name: str, index_version: str, name: str,
            index_encoder: dict[str, Any] | None = None) -> EncoderSpec:
    """The encoder spec that loads query encoder ``name`` for dense index ``index_name`` at ``index_version``
    (``index_encoder``: the index's EncoderSpec, which a mapped query encoder must map into).

    Raises:
        NotFound: no such query encoder.
        InvalidInput: it was trained for another index, or for another version of this one.
    """
    manifest = read(collection_folder, name)
    if manifest.index != index_name:
        raise InvalidInput(f"query encoder {name!r} was trained for dense index {manifest.index!r}, not "
                           f"{index_name!r}")
    if manifest.map is not None and index_encoder is not None:
        if manifest.map.index_encoder != index_encoder:
            raise InvalidInput(f"query encoder {name!r} maps into the space of "
                               f"{manifest.map.index_encoder.get('model')}; dense index {index_name!r} is now built "
                               f"with {index_encoder.get('model')}")
    elif manifest.trained_against != index_version:
        raise InvalidInput(f"query encoder {name!r} was trained against version {manifest.trained_against} of dense "
                           f"index {index_name!r}, which is now at version {index_version}; its document vectors "
                           "may have changed: retrain it (`sieve train query-encoder`)")
    return model_spec(collection_folder, manifest)


def model_spec(collection_folder: Path, manifest: QueryEncoderManifest) -> EncoderSpec:
    """The spec that loads the registered query encoder's own model files (no check against the index)."""
    model = collection_folder / FOLDER / manifest.name / manifest.model_dir
    return EncoderSpec.model_validate({**manifest.encoder, "model": str(model)})


def query_map(collection_folder: Path, name: str) -> QueryMap | None:
    """The map of query encoder ``name`` into its index's space; None for a query encoder served unmapped."""
    if read(collection_folder, name).map is None:
        return None
    return QueryMap.load(collection_folder / FOLDER / name)


def drop_mapped(collection_folder: Path, indexes: set[str]) -> None:
    """Remove the mapped query encoders of ``indexes`` (their index no longer holds the space they map into)."""
    for path in sorted((collection_folder / FOLDER).glob(f"*/{MANIFEST_FILE}")):
        manifest = QueryEncoderManifest.model_validate(json.loads(path.read_text()))
        if manifest.map is not None and manifest.index in indexes:
            shutil.rmtree(path.parent)
