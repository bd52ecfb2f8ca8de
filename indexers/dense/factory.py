"""A bounded grammar of FAISS factory strings, for builds requested over the network (the CLI takes any string).

Accepted: ``Flat``, ``SQ8``, ``PQ{m}``, ``HNSW{M}`` / ``HNSW{M},Flat``, ``IVF{n},Flat|SQ8|PQ{m}``, with ``M <= 64``,
``m <= 64`` and ``n <= min(65536, doc count)`` (IVF trains ``n`` centroids on the documents themselves).
"""

from __future__ import annotations

import re

from kernel.errors import InvalidInput

MAX_HNSW_M = 64
MAX_PQ_M = 64
MAX_IVF_LISTS = 65536
GRAMMAR = "Flat | SQ8 | PQ{m} | HNSW{M}[,Flat] | IVF{n},Flat|SQ8|PQ{m}"
_PATTERN = re.compile(
    r"(?:(?P<flat>Flat)|(?P<sq>SQ8)|PQ(?P<pq>\d{1,4})|HNSW(?P<hnsw>\d{1,4})(?:,Flat)?"
    r"|IVF(?P<ivf>\d{1,7}),(?:Flat|SQ8|PQ(?P<ivfpq>\d{1,4})))"
)


def check_factory(factory: str, doc_count: int) -> str:
    """``factory`` if it is in the grammar and its sizes are within bounds for ``doc_count`` documents.

    Raises:
        InvalidInput: anything else, naming the grammar and the bound that was crossed.
    """
    match = _PATTERN.fullmatch(factory)
    if match is None:
        raise InvalidInput(f"factory {factory[:80]!r} is not one this server builds; use {GRAMMAR}")
    bounds = {"hnsw": (2, MAX_HNSW_M, "HNSW M"), "pq": (1, MAX_PQ_M, "PQ m"), "ivfpq": (1, MAX_PQ_M, "PQ m"),
              "ivf": (1, min(MAX_IVF_LISTS, doc_count), f"IVF lists (at most the {doc_count} documents)")}
    for group, (low, high, what) in bounds.items():
        value = match.group(group)
        if value is not None and not low <= int(value) <= high:
            raise InvalidInput(f"factory {factory!r}: {what} must be in [{low}, {high}], not {int(value)}")
    return factory
