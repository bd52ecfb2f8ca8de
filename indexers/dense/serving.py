"""A dense index's serving default query encoder (``sieve index upgrade``'s mapped model B), kept in the index's
manifest (``build["query_encoder"]``) so that setting or dropping it gives the index a new manifest version: the
collection's version, and with it every result-cache key, moves. A rebuild with the same encoder carries it over
(``carry_default``); a rebuild with another encoder (the upgrade's swap) writes a fresh manifest without it.
"""

from __future__ import annotations

from pathlib import Path

from indexers.manifest import IndexManifest, rewrite_build

DEFAULT_KEY = "query_encoder"


def default_query_encoder(manifest: IndexManifest) -> str | None:
    """The query encoder that encodes this index's queries when a request names none (None: the index's own)."""
    value = manifest.build.get(DEFAULT_KEY)
    return str(value) if value else None


def set_default(folder: Path, name: str | None, version: str | None = None) -> IndexManifest:
    """The index folder again (files hard-linked) with ``name`` as its default query encoder (None: none) and a new
    manifest version (``version`` when given: a query encoder registered against it beforehand)."""
    return rewrite_build(folder, {DEFAULT_KEY: name}, version=version)


def carry_default(old: Path, new: Path) -> IndexManifest | None:
    """Give the rebuilt index ``new`` (same encoder) the default query encoder of ``old``; None when it had none."""
    name = default_query_encoder(IndexManifest.read(old))
    return set_default(new, name) if name is not None else None
