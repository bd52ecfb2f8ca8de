"""Fusion arithmetic, checked against values worked out by hand."""

from __future__ import annotations

import pytest

from kernel.types import Hit
from rankers.fusion import FusionSpec, convex, fuse, normalize, rrf


def run(*pairs: tuple[str, float], stage: str = "s") -> list[Hit]:
    return [Hit(d, s, stage_scores={stage: s}) for d, s in pairs]


SPARSE = run(("a", 10.0), ("b", 8.0), ("c", 2.0), stage="sparse")
DENSE = run(("c", 0.9), ("a", 0.5), ("d", 0.4), stage="dense")


def test_rrf_values_and_order() -> None:
    fused = rrf([SPARSE, DENSE], k=60)
    scores = {h.id: h.score for h in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62)
    assert scores["d"] == pytest.approx(1 / 63)
    assert [h.id for h in fused] == ["a", "c", "b", "d"]
    assert fused[0].stage_scores == {"sparse": 10.0, "dense": 0.5, "fusion": pytest.approx(1 / 61 + 1 / 62)}


def test_rrf_top_k_and_tie_break_by_id() -> None:
    fused = rrf([run(("x", 1.0)), run(("w", 1.0))], k=1, top_k=1)
    assert [h.id for h in fused] == ["w"]


@pytest.mark.parametrize(
    ("scores", "method", "expected"),
    [
        ([10.0, 8.0, 2.0], "minmax", [1.0, 0.75, 0.0]),
        ([3.0, 3.0], "minmax", [0.0, 0.0]),
        ([1.0, 2.0, 3.0], "zscore", [-1.224744871, 0.0, 1.224744871]),
        ([], "zscore", []),
    ],
)
def test_normalize(scores: list[float], method: str, expected: list[float]) -> None:
    assert list(normalize(scores, method)) == pytest.approx(expected)  # type: ignore[arg-type]


def test_convex_minmax_with_weights() -> None:
    fused = convex([SPARSE, DENSE], weights=[0.3, 0.7], normalization="minmax")
    scores = {h.id: h.score for h in fused}
    # sparse minmax: a 1, b .75, c 0; dense minmax: c 1, a .2, d 0; missing -> the run's minimum (0)
    assert scores["a"] == pytest.approx(0.3 * 1 + 0.7 * 0.2)
    assert scores["c"] == pytest.approx(0.3 * 0 + 0.7 * 1)
    assert scores["b"] == pytest.approx(0.3 * 0.75)
    assert scores["d"] == pytest.approx(0.0)
    assert [h.id for h in fused] == ["c", "a", "b", "d"]


def test_convex_rejects_wrong_weight_count() -> None:
    with pytest.raises(ValueError, match="1 fusion weights for 2 runs"):
        convex([SPARSE, DENSE], weights=[1.0])


def test_spec_validation_and_dispatch() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        FusionSpec(weights=(-1.0, 2.0))
    assert [h.id for h in fuse([SPARSE, DENSE], FusionSpec(method="convex"), top_k=2)] == ["a", "c"]
    assert [h.id for h in fuse([SPARSE, DENSE], FusionSpec(), top_k=2)] == ["a", "c"]
