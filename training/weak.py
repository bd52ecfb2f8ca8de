"""Weak supervision any corpus provides, for collections without training queries.

- ``title``: a document's title is the query, its body the positive (the model sees bodies only, with a leading
  copy of the title cut off, as every Cranfield body begins with one, so the title cannot be matched by copying).
  Titles of scientific abstracts read much like the claims users search with.
- ``ict``: inverse cloze (Lee et al., "Latent Retrieval for Weakly Supervised Open Domain Question Answering",
  ACL 2019): one sentence of a passage is the query, the passage without that sentence the positive.

Hard negatives for these queries are mined like judged ones (``rank_lists.mine_lists``).
"""

from __future__ import annotations

import random
import re
from typing import Literal

from indexers.collection import Collection
from kernel.errors import InvalidInput
from kernel.types import Doc
from training.rank_lists import QuerySet

WeakKind = Literal["title", "ict"]
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text) if len(s.split()) >= 5]


def _without_title(doc: Doc) -> str:
    """The body without a leading copy of the title (every Cranfield body begins with its title)."""
    title, text = doc.title.strip(), doc.text.strip()
    return text[len(title):].strip() if title and text.startswith(title) else text


def weak_queries(collection: Collection, kind: WeakKind, limit: int, *, seed: int = 0,
                 min_words: int = 4) -> QuerySet:
    """Up to ``limit`` weakly supervised queries sampled from ``collection``'s documents.

    Raises:
        InvalidInput: no document yields a query of this kind (no titles, no multi-sentence bodies).
    """
    rng = random.Random(seed)
    docs = list(collection.docs.iter_docs())
    rng.shuffle(docs)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    held_out: dict[str, str] = {}  # ict: the sentence removed from each positive
    for doc in docs:
        if len(queries) >= limit:
            break
        if kind == "title":
            if len(doc.title.split()) >= min_words and _without_title(doc):
                queries[f"weak-title:{doc.id}"] = doc.title
                qrels[f"weak-title:{doc.id}"] = {doc.id: 1}
        else:
            sentences = _sentences(doc.text)
            if len(sentences) >= 3:
                sentence = rng.choice(sentences)
                queries[f"weak-ict:{doc.id}"] = sentence
                qrels[f"weak-ict:{doc.id}"] = {doc.id: 1}
                held_out[doc.id] = sentence
    if not queries:
        raise InvalidInput(f"collection {collection.name!r} has no documents that give {kind!r} queries")

    def text_of(doc: Doc) -> str:
        if kind == "title":
            return _without_title(doc)
        return doc.text.replace(held_out[doc.id], " ").strip() if doc.id in held_out else doc.text

    return QuerySet(queries, qrels, text_of=text_of, name=f"{collection.name} weak:{kind}")
