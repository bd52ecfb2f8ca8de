"""Framework filter conventions translated into Sieve's filter grammar (``{"field", "eq"|"in"|"gt"|...}``,
``{"and"|"or": [...]}``, ``{"not": {...}}``); no framework import needed.

- LangChain vector stores take a dict: ``{"year": 2020}``, ``{"year": {"$gte": 2015}, "tag": {"$in": ["a"]}}``,
  ``{"$or": [{...}, {...}]}`` (Chroma / Pinecone / PGVector style): ``from_dict``. A dict already in Sieve's
  grammar passes through unchanged.
- LlamaIndex takes ``MetadataFilters(filters=[MetadataFilter(key, value, operator)], condition=and|or|not)``, nested:
  ``from_llamaindex``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sieve_client.errors import SieveInputError

_COMPARE = {"$eq": "eq", "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte", "$in": "in"}
_SIEVE_TESTS = {"eq", "in", "gt", "gte", "lt", "lte", "exists"}


def _is_sieve(spec: Mapping[str, Any]) -> bool:
    """Already Sieve's grammar: a condition (``field`` + tests) or one of and / or / not."""
    keys = set(spec)
    return ("field" in keys and len(keys) > 1 and keys - {"field"} <= _SIEVE_TESTS) or (
        len(keys) == 1 and keys <= {"and", "or", "not"})


def _condition(key: str, op: str, value: Any) -> dict[str, Any]:
    if op in _COMPARE:
        return {"field": key, _COMPARE[op]: list(value) if op == "$in" else value}
    if op == "$ne":
        return {"not": {"field": key, "eq": value}}
    if op == "$nin":
        return {"not": {"field": key, "in": list(value)}}
    if op == "$exists":
        return {"field": key, "exists": bool(value)}
    raise SieveInputError(f"filter operator {op!r} on {key!r} is not supported; use one of "
                          f"{sorted([*_COMPARE, '$ne', '$nin', '$exists'])}")


def from_dict(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A LangChain-style (Mongo-like) filter dict as Sieve's grammar; Sieve's own grammar passes through."""
    if not isinstance(spec, Mapping) or not spec:
        raise SieveInputError(f"a filter is a non-empty dict, got {spec!r}")
    if _is_sieve(spec):
        return dict(spec)
    parts: list[dict[str, Any]] = []
    for key, value in spec.items():
        if key in ("$and", "$or"):
            parts.append({key[1:]: [from_dict(v) for v in value]})
        elif key == "$not":
            parts.append({"not": from_dict(value)})
        elif key.startswith("$"):
            raise SieveInputError(f"filter operator {key!r} is not supported at the top level; use $and, $or, $not")
        elif isinstance(value, Mapping):
            parts.extend(_condition(key, op, v) for op, v in value.items())
        else:
            parts.append({"field": key, "eq": value})
    return parts[0] if len(parts) == 1 else {"and": parts}


_LLAMA = {"==": "eq", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "in": "in", "any": "in", "contains": "eq"}


def _llama_filter(node: Any) -> dict[str, Any]:
    op = str(getattr(node.operator, "value", node.operator))
    key, value = node.key, node.value
    if op in _LLAMA:
        return {"field": key, _LLAMA[op]: list(value) if op in ("in", "any") else value}
    if op == "!=":
        return {"not": {"field": key, "eq": value}}
    if op == "nin":
        return {"not": {"field": key, "in": list(value)}}
    if op == "all":
        return {"and": [{"field": key, "eq": v} for v in value]}
    if op == "is_empty":
        return {"field": key, "exists": False}
    raise SieveInputError(f"LlamaIndex filter operator {op!r} on {key!r} has no Sieve equivalent (text matching is "
                          "not a metadata filter); supported: ==, !=, >, >=, <, <=, in, nin, any, all, contains, "
                          "is_empty")


def from_llamaindex(filters: Any) -> dict[str, Any]:
    """LlamaIndex ``MetadataFilters`` (nested ones too) as Sieve's grammar."""
    parts = [from_llamaindex(f) if hasattr(f, "filters") else _llama_filter(f) for f in filters.filters]
    if not parts:
        raise SieveInputError("MetadataFilters with no filter in it")
    condition = str(getattr(filters.condition, "value", filters.condition) or "and").lower()
    if condition == "not":  # LlamaIndex: none of the filters match
        return {"not": parts[0] if len(parts) == 1 else {"or": parts}}
    if condition not in ("and", "or"):
        raise SieveInputError(f"MetadataFilters condition {condition!r} is not one of and, or, not")
    return parts[0] if len(parts) == 1 else {condition: parts}
