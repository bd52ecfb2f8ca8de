"""File names inside a dense index folder, shared by the dense index, its Matryoshka prefixes and live updates."""

from __future__ import annotations

INDEX_FILE = "index.faiss"
DOCIDS_FILE = "docids.txt"
VECTORS_FILE = "vectors.npy"
