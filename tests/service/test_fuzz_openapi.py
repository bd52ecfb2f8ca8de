"""Schemathesis fuzzes every operation in the app's own OpenAPI schema over real HTTP: no input may cause a 5xx,
except the one a request asks for: a 504 ``DeadlineExceeded`` when its own ``timeout_ms`` is too small for the work.

Bounded: ``MAX_EXAMPLES`` generated requests per operation, ``ADMIN_EXAMPLES`` per admin one (a few minutes in all
on two cores). Every route is
fuzzed, the collection admin routes too: those against a server of their own (an index root that starts empty, an
admin API key sent with every request), so the collections every other test reads stay untouched.
(Schemathesis's own pytest plugin, ``from_fixture``, does not run under pytest 9, so the operations are
parametrized here and each one drives a Hypothesis test built from Schemathesis's strategy for it.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from service.config import AuthSettings, Settings
from service.main import create_app
from tests.servers import serve_in_thread

MAX_EXAMPLES = 25
ADMIN_EXAMPLES = 10  # a create encodes its documents: fewer examples keep the run within minutes
ADMIN_KEY = "fuzz-admin-key"

SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture(scope="module")
def admin_fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own for the admin routes: empty index root, one admin key, small bodies."""
    settings = Settings(index_root=tmp_path_factory.mktemp("fuzz-admin-root"), workers=2, max_body_bytes=16 * 1024,
                        auth=AuthSettings(api_keys={ADMIN_KEY: "admin"}))
    with serve_in_thread(create_app(settings)) as url:
        yield url


def test_the_schema_has_every_operation() -> None:
    labels = {op.label for op in OPERATIONS}
    assert {"POST /v1/search", "POST /v1/embeddings", "GET /v1/collections", "GET /readyz"} <= labels
    assert {"POST /v1/collections", "POST /v1/collections/{name}/documents", "DELETE /v1/collections/{name}",
            "POST /v1/collections/{name}/documents/delete", "POST /v1/collections/{name}/rebuild"} <= labels


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_input_causes_a_server_error(operation: Any, request: pytest.FixtureRequest) -> None:
    # the rerank routes need a cross-encoder to exist: the server that has the tiny one trained in-session
    tags = operation.tags or []
    server = "admin_fuzz_server" if "admin" in tags else "rerank_server" if "rerank" in tags else "live_server"
    base_url = request.getfixturevalue(server)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"} if "admin" in tags else None

    @given(case=operation.as_strategy())
    @settings(max_examples=ADMIN_EXAMPLES if headers else MAX_EXAMPLES, deadline=None,
              suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def fuzz(case: Any) -> None:
        response = case.call(base_url=base_url, timeout=300 if headers else 120, headers=headers)
        asked_for = isinstance(case.body, dict) and case.body.get("timeout_ms") is not None
        if asked_for and response.status_code == 504:
            assert response.json()["error"]["type"] == "DeadlineExceeded"
            return
        assert response.status_code < 500, (f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                            f"{response.text[:500]}\n{case.as_curl_command()}")
        if headers is not None:  # the admin key opens the admin routes: the fuzz reaches them
            assert response.status_code not in (401, 403), response.text[:500]
        if response.status_code >= 400:
            assert "error" in response.json()  # every refusal has the JSON error shape

    fuzz()
