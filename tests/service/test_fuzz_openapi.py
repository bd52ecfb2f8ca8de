"""Schemathesis fuzzes every operation in the app's own OpenAPI schema over real HTTP: no input may cause a 5xx,
except the one a request asks for: a 504 ``DeadlineExceeded`` when its own ``timeout_ms`` is too small for the work.

Bounded: ``MAX_EXAMPLES`` generated requests per operation (a minute or two in all on two cores). The collection
admin routes are left out: fuzzing them would create, rewrite and drop the collections every other test reads.
(Schemathesis's own pytest plugin, ``from_fixture``, does not run under pytest 9, so the operations are
parametrized here and each one drives a Hypothesis test built from Schemathesis's strategy for it.)
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from service.config import Settings
from service.main import create_app

MAX_EXAMPLES = 25

SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi()).exclude(tag="admin")
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def test_the_schema_has_the_public_operations() -> None:
    labels = {op.label for op in OPERATIONS}
    assert {"POST /v1/search", "POST /v1/embeddings", "GET /v1/collections", "GET /readyz"} <= labels
    assert not any("/v1/collections/" in label for label in labels)  # admin left out


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_input_causes_a_server_error(operation: Any, request: pytest.FixtureRequest) -> None:
    # the rerank routes need a cross-encoder to exist: the server that has the tiny one trained in-session
    server = "rerank_server" if "rerank" in (operation.tags or []) else "live_server"
    base_url = request.getfixturevalue(server)

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def fuzz(case: Any) -> None:
        response = case.call(base_url=base_url, timeout=60)
        asked_for = isinstance(case.body, dict) and case.body.get("timeout_ms") is not None
        if asked_for and response.status_code == 504:
            assert response.json()["error"]["type"] == "DeadlineExceeded"
            return
        assert response.status_code < 500, (f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                            f"{response.text[:500]}\n{case.as_curl_command()}")
        if response.status_code >= 400:
            assert "error" in response.json()  # every refusal has the JSON error shape

    fuzz()
