"""Reading an LLM's ranking out of free text, always yielding a valid permutation and counting every repair.

Models answer ``[2] > [1] > [3]``, but also repeat ids, invent ids past the window, skip some, wrap the answer in
prose or refuse. The parser never fails: it keeps the first mention of each valid id in order, then appends the ids
it never saw in their original order (as RankGPT and rank_llm do), and says what it had to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BRACKETED = re.compile(r"\[\s*(\d{1,4})\s*\]")
_BARE = re.compile(r"(?<![\w.])(\d{1,4})(?!\w|\.\d)")  # not part of a word or a decimal


@dataclass(frozen=True)
class ParsedPermutation:
    """``order[i]`` is the 0-based candidate placed at rank ``i``; the counts say how the answer was repaired."""

    order: list[int]
    duplicates: int = 0  # ids mentioned again after their first mention (ignored)
    out_of_range: int = 0  # ids outside 1..n (ignored)
    missing: int = 0  # valid ids never mentioned (appended in their original order)
    unparsable: bool = False  # no id at all in the answer: original order kept

    @property
    def repairs(self) -> int:
        """How many fixes the answer needed; 0 means the model gave a clean, complete permutation."""
        return self.duplicates + self.out_of_range + self.missing + int(self.unparsable)


def parse_permutation(text: str, n: int) -> ParsedPermutation:
    """The ranking of ``n`` candidates (labelled ``[1]``..``[n]``) that ``text`` states.

    Bracketed ids are read when the answer has any (so "in 2019" or "top 3" in prose around ``[2] > [1]`` is not
    taken for an id); otherwise bare numbers are.
    """
    found = _BRACKETED.findall(text) or _BARE.findall(text)
    seen: list[int] = []
    duplicates = out_of_range = 0
    for token in found:
        idx = int(token) - 1
        if not 0 <= idx < n:
            out_of_range += 1
        elif idx in seen:
            duplicates += 1
        else:
            seen.append(idx)
    rest = [i for i in range(n) if i not in seen]
    return ParsedPermutation(seen + rest, duplicates, out_of_range, len(rest) if seen else 0, not seen and n > 0)
