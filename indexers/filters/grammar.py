"""The metadata filter grammar: one frozen model, bounded in depth and size, that ``/v1/search`` takes as ``filter``.

    {"field": "year", "eq": 2020}                    equality (string, number or boolean)
    {"field": "tag", "in": ["a", "b"]}               any of the values
    {"field": "year", "gte": 2015, "lt": 2020}       a range over numbers, or over ISO dates ("2020-01-31",
                                                     "2020-01-31T12:00:00Z"); both bounds of one kind
    {"field": "exists_me", "exists": true}           the field is present (false: absent)
    {"and": [...]}, {"or": [...]}, {"not": {...}}    combinations

``field`` is a key of the document's ``metadata`` object; a dotted path reads nested objects (``"venue.name"``).
A field holding a list matches when any of its elements does (as Elasticsearch and Qdrant do). A document without
the field matches no condition on it, so it matches ``not`` of one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

MAX_DEPTH = 8  # nesting levels of and / or / not
MAX_NODES = 64  # conditions and combinations in one filter
MAX_VALUES = 1024  # values in one ``in``

Scalar = StrictBool | StrictInt | StrictFloat | Annotated[StrictStr, Field(max_length=1024)]
Bound = StrictInt | StrictFloat | Annotated[StrictStr, Field(max_length=64)]
RANGES = ("gt", "gte", "lt", "lte")


def parse_time(value: str) -> float | None:
    """An ISO date or date-time as POSIX seconds (naive times are UTC); None when ``value`` is not one."""
    if len(value) < 10 or not value[:4].isdigit() or value[4] != "-":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError:
            return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class Filter(BaseModel):
    """One node: a condition on ``field`` (``eq`` | ``in`` | a range | ``exists``) or one of ``and``/``or``/``not``."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    field: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[^.\s][^\s]*$",
                              description="metadata key (a dotted path reads nested objects)")
    eq: Scalar | None = Field(None, description="equal to this string, number or boolean")
    in_: tuple[Scalar, ...] | None = Field(None, alias="in", min_length=1, max_length=MAX_VALUES,
                                           description="equal to any of these")
    gt: Bound | None = Field(None, description="greater than (a number or an ISO date)")
    gte: Bound | None = Field(None, description="at least (a number or an ISO date)")
    lt: Bound | None = Field(None, description="less than (a number or an ISO date)")
    lte: Bound | None = Field(None, description="at most (a number or an ISO date)")
    exists: StrictBool | None = Field(None, description="true: the field is present; false: it is absent")
    and_: tuple[Filter, ...] | None = Field(None, alias="and", min_length=1, max_length=MAX_NODES,
                                            description="every one of these matches")
    or_: tuple[Filter, ...] | None = Field(None, alias="or", min_length=1, max_length=MAX_NODES,
                                           description="at least one of these matches")
    not_: Filter | None = Field(None, alias="not", description="this does not match")

    @property
    def children(self) -> tuple[Filter, ...]:
        return self.and_ or self.or_ or ((self.not_,) if self.not_ is not None else ())

    @property
    def depth(self) -> int:
        return 1 + max((c.depth for c in self.children), default=0)

    @property
    def nodes(self) -> int:
        return 1 + sum(c.nodes for c in self.children)

    def key(self) -> str:
        """Canonical JSON (wire names, unset fields left out): what caches key on."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @model_validator(mode="after")
    def _one_shape(self) -> Filter:
        combos = [name for name in ("and_", "or_", "not_") if getattr(self, name) is not None]
        tests = [name for name in ("eq", "in_", *RANGES, "exists") if getattr(self, name) is not None]
        wire = {"and_": "and", "or_": "or", "not_": "not", "in_": "in"}
        if combos and (tests or self.field is not None or len(combos) > 1):
            raise ValueError(f"a filter node is one of a condition, and, or, not; this one has "
                             f"{[wire.get(n, n) for n in [*combos, *tests]] + (['field'] if self.field else [])}")
        if not combos:
            if self.field is None or not tests:
                raise ValueError("a condition needs field and one of eq, in, gt, gte, lt, lte, exists "
                                 '(e.g. {"field": "year", "eq": 2020}); or use and / or / not')
            ranges = [n for n in tests if n in RANGES]
            if len(tests) > len(ranges) and len(tests) > 1:
                raise ValueError(f"field {self.field!r}: eq, in and exists stand alone; got {tests}".replace("in_",
                                                                                                           "in"))
            if ("gt" in ranges and "gte" in ranges) or ("lt" in ranges and "lte" in ranges):
                raise ValueError(f"field {self.field!r}: give at most one lower (gt/gte) and one upper (lt/lte) bound")
            self._check_bounds([getattr(self, n) for n in ranges])
        if self.depth > MAX_DEPTH:
            raise ValueError(f"filter nests deeper than {MAX_DEPTH} levels")
        if self.nodes > MAX_NODES:
            raise ValueError(f"filter has more than {MAX_NODES} conditions and combinations")
        return self

    def _check_bounds(self, bounds: list[int | float | str]) -> None:
        texts = [b for b in bounds if isinstance(b, str)]
        if texts and len(texts) != len(bounds):
            raise ValueError(f"field {self.field!r}: range bounds are all numbers or all ISO dates, got {bounds}")
        for text in texts:
            if parse_time(text) is None:
                raise ValueError(f"field {self.field!r}: range bound {text!r} is neither a number nor an ISO date "
                                 "(YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[+HH:MM|Z])")
