"""A filter inside a Lucene search: the query as Anserini builds it (bag of words over ``contents`` with the index's
analyzer) as the one scoring clause of a BooleanQuery, and the allowed documents as a FILTER clause (a
``TermInSetQuery`` on Anserini's ``id`` field; the refused ones as MUST_NOT when they are fewer), so Lucene ranks
only allowed documents and scores stay BM25's own."""

from __future__ import annotations

from typing import Any

from indexers.filters import AllowedDocs
from indexers.lucene.jvm import ensure_jvm

ID_FIELD = "id"  # Anserini's document id field (indexed as a StringField)
CONTENTS = "contents"


def id_filter(allowed: AllowedDocs) -> tuple[Any, str]:
    """``(TermInSetQuery, occur)``: the allowed ids as a FILTER clause, or, when the filter lets most documents
    through, the refused ids as a MUST_NOT clause (fewer terms to walk per query); built once per ``AllowedDocs``
    (~12 us per id through pyjnius). ``(None, "")`` when nothing is refused."""
    def make() -> tuple[Any, str]:
        ensure_jvm()
        from jnius import autoclass

        refused = allowed.refused() if len(allowed) > allowed.total // 2 else None
        ids, occur = (refused, "MUST_NOT") if refused is not None else (sorted(allowed.ids), "FILTER")
        if not ids:
            return None, ""
        bytes_ref = autoclass("org.apache.lucene.util.BytesRef")
        terms = autoclass("java.util.ArrayList")()
        for doc_id in ids:
            terms.add(bytes_ref(doc_id.encode()))
        return autoclass("org.apache.lucene.search.TermInSetQuery")(ID_FIELD, terms), occur

    return allowed.derived("lucene-id-filter", make)


def filtered_search(searcher: Any, query: str, k: int, allowed: AllowedDocs) -> list[Any]:
    """Top-``k`` hits (Anserini ``ScoredDoc``s) of ``query`` among the allowed documents, on a Pyserini searcher."""
    from jnius import autoclass

    bow = autoclass("io.anserini.search.query.BagOfWordsQueryGenerator")()
    scored = bow.buildQuery(CONTENTS, searcher.object.get_analyzer(), query)
    occur = autoclass("org.apache.lucene.search.BooleanClause$Occur")
    builder = autoclass("org.apache.lucene.search.BooleanQuery$Builder")()
    builder.add(scored, occur.MUST)
    ids, how = id_filter(allowed)
    if ids is not None:
        builder.add(ids, getattr(occur, how))
    return list(searcher.object.search(builder.build(), k))
