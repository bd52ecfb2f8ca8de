"""The permutation parser on the answers LLMs really give: clean, repeated, out of range, partial, prose, none."""

from __future__ import annotations

import pytest

from rankers.permutation import parse_permutation


@pytest.mark.parametrize(("answer", "n", "order", "repairs"), [
    # (answer, n, order, (duplicates, out_of_range, missing, unparsable))
    ("[2] > [3] > [1]", 3, [1, 2, 0], (0, 0, 0, False)),
    ("[2]>[3]>[1]", 3, [1, 2, 0], (0, 0, 0, False)),
    ("[ 2 ] > [ 1 ] > [ 3 ]", 3, [1, 0, 2], (0, 0, 0, False)),
    ("[2] > [2] > [1] > [3]", 3, [1, 0, 2], (1, 0, 0, False)),          # a duplicate is ignored
    ("[4] > [1] > [9] > [2] > [3]", 4, [3, 0, 1, 2], (0, 1, 0, False)),  # 9 is past the window
    ("[0] > [2] > [1]", 2, [1, 0], (0, 1, 0, False)),                    # ids count from 1
    ("[3] > [1]", 4, [2, 0, 1, 3], (0, 0, 2, False)),                    # missing ones keep their order
    ("The ranking is [2] > [1] because passage 2, from 2019, is the top 1.", 3, [1, 0, 2], (0, 0, 1, False)),
    ("2 > 3 > 1", 3, [1, 2, 0], (0, 0, 0, False)),                       # bare numbers when nothing is bracketed
    ("1. Cats\n2. Vitamin D", 3, [0, 1, 2], (0, 0, 1, False)),           # a numbered list reads as an order
    ("I cannot rank these passages.", 3, [0, 1, 2], (0, 0, 0, True)),    # no id at all: first-stage order
    ("", 2, [0, 1], (0, 0, 0, True)),
    ("[1]", 1, [0], (0, 0, 0, False)),
    ("v2.5 and 3.14 > [1]", 2, [0, 1], (0, 0, 1, False)),                 # decimals are never ids
])
def test_parse_always_yields_a_permutation_and_counts_repairs(
        answer: str, n: int, order: list[int], repairs: tuple[int, int, int, bool]) -> None:
    parsed = parse_permutation(answer, n)
    assert parsed.order == order
    assert sorted(parsed.order) == list(range(n))
    assert (parsed.duplicates, parsed.out_of_range, parsed.missing, parsed.unparsable) == repairs
    assert parsed.repairs == sum(repairs[:3]) + int(repairs[3])


def test_no_candidates() -> None:
    parsed = parse_permutation("[1] > [2]", 0)
    assert parsed.order == [] and parsed.out_of_range == 2 and not parsed.unparsable
