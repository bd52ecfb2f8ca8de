"""Text to BM25 terms as Pyserini's default English analyzer makes them, in pure Python: a UAX#29-like tokenizer
(Lucene's StandardTokenizer), lower-casing, the possessive filter, Lucene's 33 stopwords and Lucene's Porter stemmer."""

from __future__ import annotations

import re
from functools import lru_cache

from indexers.bm25.porter import porter_stem

# Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (Anserini's default stopword list).
STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of",
    "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
))
# UAX#29 word boundaries as StandardTokenizer applies them: letters joined by ' . : ("don't", "u.s", "dr.smith"),
# digits joined by , . ; ' ("1,000", "3.5"), letters and digits and underscores as one ("covid19", "x_y"); a lone
# pictographic symbol (©, ®, emoji) is a token of its own.
_CHAR = r"[^\W_\u00b2\u00b3\u00b9\u00bc-\u00be\u2070-\u209f]"  # super/subscripts and fractions split words
_WORD = rf"_*{_CHAR}(?:{_CHAR}|_|\u00ad|(?<=[^\W\d_])[.'’:·](?=[^\W\d_])|(?<=\d)[.,;'’](?=\d))*"
_PICTO = ("[\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
          "\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u2605\u2607-\u27bf\u2934\u2935\u2b05-\u2b07\u2b1b"
          "\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff]")
_TOKEN = re.compile(f"{_WORD}|{_PICTO}")


@lru_cache(maxsize=500_000)
def _term(token: str) -> str | None:
    if token.endswith(("'s", "’s")):  # EnglishPossessiveFilter, before the stopwords: "it's" goes
        token = token[:-2]
    return None if token in STOPWORDS else porter_stem(token)


def analyze(text: str) -> list[str]:
    """The terms of ``text`` in order (stopwords dropped), as indexed and as searched."""
    terms = []
    for token in _TOKEN.findall(text.lower()):
        term = _term(token)
        if term is not None:
            terms.append(term)
    return terms
