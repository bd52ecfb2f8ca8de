"""Search results as bytes and back (what the result cache stores): the kernel's ``Hit`` lists with their counts and
what else an answer shows. JSON (orjson), so a Redis shared by replicas of different builds stays readable."""

from __future__ import annotations

import orjson

from kernel.types import Hit


def pack_hits(hits: list[Hit], counts: dict[str, int], extra: dict[str, object] | None = None) -> bytes:
    """A result as bytes; ``extra`` carries what else the answer shows (warnings, explain), read by ``unpack_extra``."""
    rows = [[h.id, h.score, h.title, h.text, h.stage_scores, h.passage, h.metadata] for h in hits]
    return orjson.dumps({"hits": rows, "counts": counts, **({"extra": extra} if extra else {})})


def unpack_hits(blob: bytes) -> tuple[list[Hit], dict[str, int]]:
    data = orjson.loads(blob)
    # Rows cached before hits carried passages (metadata) have five (six) fields; they stay readable until they expire.
    return [Hit(row[0], row[1], row[2], row[3], row[4], passage=tuple(row[5]) if len(row) > 5 and row[5] else None,
                metadata=row[6] if len(row) > 6 else None)
            for row in data["hits"]], data["counts"]


def unpack_extra(blob: bytes) -> dict[str, object]:
    """The ``extra`` a result was packed with (empty if none)."""
    extra: dict[str, object] = orjson.loads(blob).get("extra", {})
    return extra
