"""The client keeps its own copy of ``POST /v1/search``'s fields (it must not import the server); this holds the copy
to the server's request model: same names, same JSON types, same defaults for the arguments ``search`` names."""

from __future__ import annotations

import inspect
import typing
from typing import Any

import pytest
from pydantic import TypeAdapter

from service.schemas import SearchRequest
from sieve_client import AsyncSieveClient, SieveClient
from sieve_client._core import SearchOptions

SERVER = SearchRequest.model_json_schema()


def json_types(schema: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    """The JSON types a (sub)schema admits, null left out (a client sends None as "leave it out")."""
    if "$ref" in schema:
        return json_types(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        return set().union(*(json_types(s, defs) for s in schema["anyOf"]))
    if "type" in schema:
        return {schema["type"]} - {"null"}
    if "enum" in schema or "const" in schema:
        return {type(v).__name__.replace("str", "string") for v in schema.get("enum", [schema.get("const")])}
    return {"any"}


def server_types(name: str) -> set[str]:
    return json_types(SERVER["properties"][name], SERVER.get("$defs", {}))


def client_types(annotation: object) -> set[str]:
    schema = TypeAdapter(annotation).json_schema()
    return json_types(schema, schema.get("$defs", {}))


def client_fields(method: Any) -> dict[str, inspect.Parameter]:
    """``search``'s named arguments (``self`` and the ``**options`` catch-all left out)."""
    params = inspect.signature(method).parameters
    return {n: p for n, p in params.items() if n != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD}


@pytest.mark.parametrize("client", [SieveClient, AsyncSieveClient])
def test_client_names_every_request_field(client: type) -> None:
    named = client_fields(client.search)
    assert set(named).isdisjoint(SearchOptions.__annotations__)
    client_side, server_side = set(named) | set(SearchOptions.__annotations__), set(SearchRequest.model_fields)
    assert {"client lacks": server_side - client_side, "server lacks": client_side - server_side} == {
        "client lacks": set(), "server lacks": set()}


@pytest.mark.parametrize("client", [SieveClient, AsyncSieveClient])
def test_named_arguments_match_types_and_defaults(client: type) -> None:
    hints = typing.get_type_hints(client.search)
    for name, param in client_fields(client.search).items():
        assert client_types(hints[name]) == server_types(name), name
        server = SearchRequest.model_fields[name]
        if not server.is_required():
            assert param.default == server.default, name


@pytest.mark.parametrize("name", sorted(SearchOptions.__annotations__))
def test_options_match_types(name: str) -> None:
    hints = typing.get_type_hints(SearchOptions)
    assert client_types(hints[name]) == server_types(name)
