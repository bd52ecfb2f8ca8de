"""TREC run files: ``qid Q0 docid rank score tag``, the format every IR toolkit reads."""

from __future__ import annotations

from pathlib import Path

from evaluation.metrics import Run


def write_trec_run(run: Run, path: Path, tag: str = "sieve") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for qid in sorted(run):
            ranked = sorted(run[qid].items(), key=lambda kv: (-kv[1], kv[0]))
            for rank, (docid, score) in enumerate(ranked, start=1):
                fh.write(f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n")


def read_trec_run(path: Path) -> Run:
    run: Run = {}
    with path.open() as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 6:
                run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
    return run
