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


SPLADE = run(("b", 30.0), ("d", 20.0), ("a", 10.0), stage="splade")


# Three runs, k=1, so a doc at rank r adds w / (1 + r):  sparse a b c | splade b d a | dense c a d.
@pytest.mark.parametrize(
    ("weights", "expected", "order"),
    [
        (None, {"a": 1 / 2 + 1 / 4 + 1 / 3, "b": 1 / 3 + 1 / 2, "c": 1 / 4 + 1 / 2, "d": 1 / 3 + 1 / 4},
         ["a", "b", "c", "d"]),
        ((0.0, 1.0, 0.0), {"a": 1 / 4, "b": 1 / 2, "c": 0.0, "d": 1 / 3}, ["b", "d", "a", "c"]),
        ((1.0, 2.0, 1.0), {"a": 1 / 2 + 2 / 4 + 1 / 3, "b": 1 / 3 + 2 / 2, "c": 1 / 4 + 1 / 2, "d": 2 / 3 + 1 / 4},
         ["a", "b", "d", "c"]),  # a and b tie at 4/3: by id
        ((0.2, 0.3, 0.5), {"a": 0.1 + 0.075 + 0.5 / 3, "b": 0.2 / 3 + 0.15, "c": 0.05 + 0.25, "d": 0.1 + 0.125},
         ["a", "c", "d", "b"]),
    ],
)
def test_weighted_rrf_over_three_runs(weights: tuple[float, ...] | None, expected: dict[str, float],
                                      order: list[str]) -> None:
    fused = fuse([SPARSE, SPLADE, DENSE], FusionSpec(rrf_k=1, weights=weights))
    assert {h.id: h.score for h in fused} == pytest.approx(expected)
    assert [h.id for h in fused] == order


# minmax per run: sparse a 1, b .75, c 0 | splade b 1, d .5, a 0 | dense c 1, a .2, d 0; missing -> 0.
@pytest.mark.parametrize(
    ("weights", "expected", "order"),
    [
        (None, {"a": 1.2 / 3, "b": 1.75 / 3, "c": 1 / 3, "d": 0.5 / 3}, ["b", "a", "c", "d"]),
        ((0.2, 0.3, 0.5), {"a": 0.2 + 0.1, "b": 0.15 + 0.3, "c": 0.5, "d": 0.15}, ["c", "b", "a", "d"]),
        ((1.0, 0.0, 0.0), {"a": 1.0, "b": 0.75, "c": 0.0, "d": 0.0}, ["a", "b", "c", "d"]),
        ((0.0, 1.0, 1.0), {"a": 0.2, "b": 1.0, "c": 1.0, "d": 0.5}, ["b", "c", "d", "a"]),
    ],
)
def test_convex_over_three_runs(weights: tuple[float, ...] | None, expected: dict[str, float],
                                order: list[str]) -> None:
    fused = fuse([SPARSE, SPLADE, DENSE], FusionSpec(method="convex", weights=weights))
    assert {h.id: h.score for h in fused} == pytest.approx(expected)
    assert [h.id for h in fused] == order


def test_three_run_fusion_keeps_every_stage_score_and_checks_weight_count() -> None:
    a = {h.id: h for h in rrf([SPARSE, SPLADE, DENSE])}["a"]
    assert a.stage_scores == {"sparse": 10.0, "splade": 10.0, "dense": 0.5, "fusion": pytest.approx(a.score)}
    with pytest.raises(ValueError, match="2 fusion weights for 3 runs"):
        rrf([SPARSE, SPLADE, DENSE], weights=[1.0, 1.0])
