"""File names shared across modules: a collection's info file, and inside a dense index folder the files the dense
index, its Matryoshka prefixes and live updates all read."""

from __future__ import annotations

INDEX_FILE = "index.faiss"
DOCIDS_FILE = "docids.txt"
VECTORS_FILE = "vectors.npy"
INFO_FILE = "collection.json"  # <root>/<name>/collection.json: source, counts, doc store version
