"""Sliding windows for listwise reranking: which slices of a candidate list one LLM call ranks, and in what order.

Windows run from the bottom of the list to the top (Sun et al., "Is ChatGPT Good at Search? Investigating Large
Language Models as Re-Ranking Agents", EMNLP 2023): each window's winners move up into the next window, so a relevant
passage found deep in the list can climb to the top in one sweep, as in a bubble sort with a wide comparator.
"""

from __future__ import annotations


def sliding_windows(n: int, window: int, stride: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` half-open slices over ``n`` candidates, bottom window first.

    The last (top) window is ``[0, min(n, window))``: as wide as the others, so the winners carried up are ranked
    against each other and the head of the list together. Every candidate is in at least one window; with
    ``n <= window`` there is one window over everything.

    Raises:
        ValueError: ``window`` or ``stride`` is not positive, or ``stride > window`` (a candidate between two
            windows would never be ranked).
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window ({window}) and stride ({stride}) must be positive")
    if stride > window:
        raise ValueError(f"stride {stride} > window {window} would skip candidates between windows")
    if n <= 0:
        return []
    slices = []
    end = n
    while True:
        if end - window <= 0:
            slices.append((0, min(n, window)))
            return slices
        slices.append((end - window, end))
        end -= stride


def apply_permutation(items: list[int], start: int, end: int, order: list[int]) -> None:
    """Reorder ``items[start:end]`` in place so that position ``i`` of the slice holds old position ``order[i]``."""
    block = items[start:end]
    if sorted(order) != list(range(len(block))):
        raise ValueError(f"{order} is not a permutation of {len(block)} positions")
    items[start:end] = [block[i] for i in order]
