"""The search request is derived from the pipeline spec: same fields, same bounds, same refusals, and a request
turns into the spec it describes."""

from __future__ import annotations

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError

from indexers.dense import DenseSearchOptions
from indexers.matryoshka import FunnelOptions, FunnelSpec
from service.schemas import PIPELINE_FIELDS, RERANK_FIELDS, RerankOptions, SearchRequest
from service.specs import PipelineSpec

HEAD = {"collection": "sf", "query": "q"}


def test_every_spec_field_is_a_request_field_with_its_bounds() -> None:
    assert set(PipelineSpec.model_fields) == set(PIPELINE_FIELDS) | RERANK_FIELDS
    for name in PIPELINE_FIELDS:
        spec, request = PipelineSpec.model_fields[name], SearchRequest.model_fields[name]
        assert request.annotation == spec.annotation | None, name  # type: ignore[operator]
        assert request.metadata == spec.metadata, name
        assert request.default is None and request.description == spec.description, name
    # ``rerank: {depth}`` is the spec's rerank_depth on the wire.
    assert RerankOptions.model_fields["depth"].metadata == PipelineSpec.model_fields["rerank_depth"].metadata
    # The dense index's options are the spec's: one definition each.
    for name, info in DenseSearchOptions.model_fields.items():
        assert PipelineSpec.model_fields[name].metadata == info.metadata, name
    for name, info in FunnelSpec.model_fields.items():
        assert FunnelOptions.model_fields[name].metadata == info.metadata, name


def _out_of_bounds(model: type[BaseModel]) -> list[tuple[str, int]]:
    values = []
    for name, info in model.model_fields.items():
        for bound in info.metadata:
            if isinstance(bound, annotated_types.Ge):
                values.append((name, int(bound.ge) - 1))  # type: ignore[call-overload]
            elif isinstance(bound, annotated_types.Le):
                values.append((name, int(bound.le) + 1))  # type: ignore[call-overload]
    return values


@pytest.mark.parametrize(("name", "value"), _out_of_bounds(PipelineSpec))
def test_request_refuses_what_the_spec_refuses(name: str, value: int) -> None:
    with pytest.raises(ValidationError) as spec_error:
        PipelineSpec.model_validate({name: value})
    body, field = ({"rerank": {"depth": value}}, "depth") if name in RERANK_FIELDS else ({name: value}, name)
    with pytest.raises(ValidationError) as request_error:
        SearchRequest.model_validate({**HEAD, **body})
    # (``rerank`` is bool or an object: the bool branch's error comes too; keep the one about the field.)
    errors = [e["type"] for e in request_error.value.errors() if e["loc"][-1] == field]
    assert errors == [e["type"] for e in spec_error.value.errors()]


def test_out_of_bounds_cases_cover_the_dense_options() -> None:
    assert {"depth", "ef_search", "dimensions", "rerank_depth"} <= {n for n, _ in _out_of_bounds(PipelineSpec)}


def test_request_becomes_the_spec_it_describes() -> None:
    default = PipelineSpec(retriever="sparse", depth=50, ef_search=32)
    assert default.override(**SearchRequest(**HEAD).pipeline_changes()) == default
    body = {"retriever": "dense", "dense_index": "d", "sparse_index": "s", "depth": 20, "ef_search": 64,
            "dimensions": 128, "funnel": {"shortlist": 40}, "fusion": {"method": "convex"}, "bm25": {"k1": 1.2},
            "rerank": {"depth": 7}}
    spec = default.override(**SearchRequest(**HEAD, **body).pipeline_changes())
    want = {**body, "rerank": True, "rerank_depth": 7}
    assert spec == PipelineSpec.model_validate(want)
    assert spec.dense == DenseSearchOptions(ef_search=64, dimensions=128, funnel=FunnelOptions(shortlist=40))
    off = default.override(**SearchRequest(**HEAD, rerank=False).pipeline_changes())
    assert off.rerank is False and off.rerank_depth is None
