"""Pipeline names and routes: which retrievers a spec runs, in the order fusion weights follow."""

from __future__ import annotations

import pytest

from kernel.errors import InvalidInput
from rankers.fusion import FusionSpec
from service.specs import PipelineSpec


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("bm25", ("sparse",)), ("dense", ("dense",)), ("splade", ("splade",)), ("hybrid", ("sparse", "dense")),
        ("hybrid3", ("sparse", "splade", "dense")), ("fuse:bm25+splade+dense", ("sparse", "splade", "dense")),
        ("fuse:dense+splade", ("dense", "splade")), ("fuse:splade", ("splade",)),
    ],
)
def test_named_pipelines_route(name: str, route: tuple[str, ...]) -> None:
    assert PipelineSpec.named(name).route() == route


@pytest.mark.parametrize("name", ["fuse:bm25+colbert", "fuse:", "hybrid4"])
def test_unknown_pipeline_names_say_what_is_valid(name: str) -> None:
    with pytest.raises(KeyError, match="bm25|choose"):
        PipelineSpec.named(name)


def test_override_a_retriever_replaces_the_default_route() -> None:
    default = PipelineSpec(retrievers=("sparse", "splade", "dense"), fusion=FusionSpec(weights=(1, 2, 3)))
    assert default.override(retriever="dense").route() == ("dense",)
    assert default.override(depth=10).route() == ("sparse", "splade", "dense")
    assert default.override(retriever="hybrid", retrievers=("splade", "dense")).route() == ("splade", "dense")
    with pytest.raises(InvalidInput, match="distinct"):
        default.override(retrievers=("dense", "dense"))
