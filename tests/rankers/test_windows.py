"""Sliding windows, bottom to top; each case's docstring-style comment draws the windows over the candidates."""

from __future__ import annotations

import pytest

from rankers.windows import apply_permutation, sliding_windows


@pytest.mark.parametrize(("n", "window", "stride", "expected"), [
    # 100 candidates, RankGPT's 20/10: 9 windows, the last one on top
    (100, 20, 10, [(80, 100), (70, 90), (60, 80), (50, 70), (40, 60), (30, 50), (20, 40), (10, 30), (0, 20)]),
    # 0 1 2 3 4 5 6
    #       [-----]      first: the bottom 4
    #   [-----]          its top 2 (now at 3, 4) move on with 1, 2
    # [-----]            last: starts at 0, as wide as the others
    (7, 4, 2, [(3, 7), (1, 5), (0, 4)]),
    (5, 20, 10, [(0, 5)]),        # fewer candidates than a window: one window
    (20, 20, 10, [(0, 20)]),
    (21, 20, 10, [(1, 21), (0, 20)]),  # the top window: candidate 0 and the first window's top 19
    (6, 2, 2, [(4, 6), (2, 4), (0, 2)]),  # stride == window: disjoint windows that tile the list
    (1, 20, 10, [(0, 1)]),
    (0, 20, 10, []),
])
def test_windows(n: int, window: int, stride: int, expected: list[tuple[int, int]]) -> None:
    got = sliding_windows(n, window, stride)
    assert got == expected
    assert {i for s, e in got for i in range(s, e)} == set(range(n))  # every candidate is ranked


@pytest.mark.parametrize(("window", "stride"), [(0, 1), (3, 0), (2, 3)])
def test_bad_windows_are_refused(window: int, stride: int) -> None:
    with pytest.raises(ValueError):
        sliding_windows(10, window, stride)


def test_apply_permutation_reorders_one_slice() -> None:
    items = [10, 11, 12, 13, 14]
    apply_permutation(items, 1, 4, [2, 0, 1])
    assert items == [10, 13, 11, 12, 14]
    with pytest.raises(ValueError, match="not a permutation"):
        apply_permutation(items, 0, 2, [0, 0])
