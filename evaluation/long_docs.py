"""A long-document test corpus: documents of several thousand tokens (real SciFact abstracts end to end), some with
one "needle" sentence deep past the encoder's first window, and a query per needle that only that sentence answers.
Whole-document dense indexes see only the first window; passage indexes should find every needle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kernel.types import Doc

NEEDLES: tuple[tuple[str, str], ...] = (  # (a short paragraph, the question only it answers)
    ("The lighthouse keeper on Skellig Island kept a storm log. In 1911 he recorded 214 storm days, the most in the "
     "lighthouse's history. Gales that winter tore the lantern's copper roof away twice.",
     "How many storm days did the Skellig Island lighthouse keeper record?"),
    ("The town of Ashdown had no fire bell until 1870. Copper pots from the old Ashdown bakery were melted down to "
     "cast it. The bell still hangs above the town hall and rings at noon.",
     "What was melted down to cast the Ashdown fire bell?"),
    ("The chess club of Vilnius won its championship trophy in 1949. The club lost the trophy during a ferry crossing "
     "to Stockholm in 1952. Divers searched the harbour but the trophy was never found.",
     "Where did the Vilnius chess club lose its championship trophy?"),
    ("Beekeepers in the Atlas mountains keep their hives among cedar trees. They harvest cedar honey only after the "
     "first autumn frost. The dark honey is sold in the markets of Fez and Marrakesh.",
     "When do beekeepers in the Atlas mountains harvest cedar honey?"),
    ("The violin maker Teodor Halm worked in Cremona for fifty years. He built his violins from maple wood seasoned "
     "for forty years. Halm violins are prized by orchestra players for their warm tone.",
     "How long was the maple wood seasoned for Teodor Halm's violins?"),
    ("The municipal tram line in Lviv opened with horse-drawn cars. The line was electrified in 1894 with generators "
     "bought from Siemens. Electric trams still run on the original route through the old town.",
     "When was the Lviv tram line electrified?"),
    ("Fishermen in the Lofoten islands catch Arctic cod in winter. They dry the cod on wooden racks in the open air "
     "from February until June. The stockfish is then exported to Italy and Portugal.",
     "How do fishermen in the Lofoten islands dry their cod?"),
    ("Mount Kazbek is a dormant volcano in the Caucasus. The first ascent of its north face took the climbing party "
     "eleven days. The climbers were caught by a blizzard below the summit ridge.",
     "How long did the first ascent of the north face of Mount Kazbek take?"),
)


@dataclass(frozen=True)
class LongCorpus:
    """Documents, queries by id, the doc each query's needle is in, and each needle's text."""

    docs: list[Doc]
    queries: dict[str, str]
    answer: dict[str, str]  # query id -> doc id
    needle: dict[str, str]  # query id -> the sentence that answers it

    def write(self, folder: Path) -> Path:
        """As a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) for ``sieve index build`` / ``sieve eval``."""
        (folder / "qrels").mkdir(parents=True, exist_ok=True)
        with (folder / "corpus.jsonl").open("w") as f:
            for d in self.docs:
                f.write(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n")
        with (folder / "queries.jsonl").open("w") as f:
            for q, text in self.queries.items():
                f.write(json.dumps({"_id": q, "text": text}) + "\n")
        lines = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t1" for q, d in self.answer.items())]
        (folder / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
        return folder


def make_long_corpus(scifact_corpus: Path, *, needles: int = 4, distractors: int = 4, abstracts_per_doc: int = 12,
                     needle_at: float = 0.6) -> LongCorpus:
    """``needles`` documents with a needle ``needle_at`` of the way in, plus ``distractors`` without one; each made of
    ``abstracts_per_doc`` consecutive SciFact abstracts (about 250 tokens each)."""
    abstracts: list[str] = []
    with scifact_corpus.open() as f:
        for line in f:
            text = json.loads(line)["text"].strip()
            if len(text) > 800:
                abstracts.append(text)
            if len(abstracts) >= (needles + distractors) * abstracts_per_doc:
                break
    docs, queries, answer, needle = [], {}, {}, {}
    for i in range(needles + distractors):
        parts = abstracts[i * abstracts_per_doc:(i + 1) * abstracts_per_doc]
        doc_id = f"long-{i}"
        if i < needles:
            sentence, query = NEEDLES[i % len(NEEDLES)]
            parts.insert(int(len(parts) * needle_at), sentence)
            queries[f"q{i}"], answer[f"q{i}"], needle[f"q{i}"] = query, doc_id, sentence
        docs.append(Doc(doc_id, "\n\n".join(parts), title=f"Collected abstracts, volume {i + 1}"))
    return LongCorpus(docs, queries, answer, needle)
