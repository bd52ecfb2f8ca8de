"""The ``sieve`` command line on a real plain-JSONL corpus: build, query, upsert, delete, rebuild."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from sieve.cli import app

runner = CliRunner()
DOCS = [
    {"pid": "p1", "body": "Aerodynamic heating of swept wings at supersonic speed"},
    {"pid": "p2", "body": "Boundary layer transition on a flat plate"},
    {"pid": "p3", "body": "Buckling of thin cylindrical shells under axial load"},
    {"pid": "bad"},
]


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout  # logs go to stderr


def test_build_query_and_change_a_plain_jsonl_collection(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    root = str(tmp_path / "root")
    out = _run("index", "build", "--collection", "aero", "--source", str(source), "--id-field", "pid",
               "--text-field", "body", "--title-field", "", "--dense", "dense:onnx:Flat", "--index-root", root)
    assert "aero/bm25: sparse, 3 docs" in out and "aero/dense: dense, 3 docs" in out
    assert "aero/bm25-lucene: sparse, 3 docs" in out  # native "bm25" by default, Lucene beside it
    manifest = json.loads((tmp_path / "root" / "aero" / "indexes" / "bm25" / "manifest.json").read_text())
    assert manifest["build"]["backend"] == "native"
    info = json.loads((tmp_path / "root" / "aero" / "collection.json").read_text())
    assert info["skipped"] == [{"line": 4, "reason": "empty text (fields 'body'/None)"}]

    hits = json.loads(_run("query", "boundary layer", "--collection", "aero", "--retriever", "hybrid",
                           "--index-root", root))["hits"]
    assert hits[0]["id"] == "p2"

    extra = tmp_path / "extra.jsonl"
    extra.write_text(json.dumps({"pid": "p4", "body": "Flutter of aircraft panels"}) + "\n")
    report = json.loads(_run("index", "upsert", "--collection", "aero", "--source", str(extra), "--id-field", "pid",
                             "--text-field", "body", "--title-field", "", "--index-root", root))
    assert report["added"] == 1 and report["doc_count"] == 4
    report = json.loads(_run("index", "delete", "--collection", "aero", "--ids", "p1,zz", "--index-root", root))
    assert report["deleted"] == 1 and report["not_found"] == ["zz"] and report["doc_count"] == 3
    hits = json.loads(_run("query", "panel flutter", "--collection", "aero", "--retriever", "dense",
                           "--index-root", root))["hits"]
    assert hits[0]["id"] == "p4" and "p1" not in {h["id"] for h in hits}
    assert json.loads(_run("index", "rebuild", "--collection", "aero", "--index-root", root))["doc_count"] == 3


def test_bad_dense_spec_and_missing_source_fail_clearly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["index", "build", "--collection", "x", "--source", str(tmp_path / "none.jsonl"),
                                 "--index-root", str(tmp_path)])
    assert result.exit_code != 0 and "corpus not found" in str(result.exception)
    result = runner.invoke(app, ["index", "build", "--collection", "x", "--dense", "oops", "--index-root",
                                 str(tmp_path)])
    assert result.exit_code != 0 and "NAME:BACKEND:FACTORY" in result.output
    result = runner.invoke(app, ["index", "build", "--collection", "x", "--sparse", "bm25:elastic", "--index-root",
                                 str(tmp_path)])
    assert result.exit_code != 0 and "'lucene', 'native'" in result.output


def test_train_embedder_refuses_nothing_to_train_on(tmp_path: Path) -> None:
    out = ["train", "embedder", "--out", str(tmp_path / "m"), "--index-root", str(tmp_path)]
    result = runner.invoke(app, out)
    assert result.exit_code == 2 and "nothing to train on" in result.output
    result = runner.invoke(app, [*out, "--weak", "abstract"])
    assert result.exit_code == 2 and "choose title or ict" in result.output
    result = runner.invoke(app, [*out, "--weak-collection", "x"])
    assert result.exit_code == 2 and "needs --weak" in result.output
    result = runner.invoke(app, [*out, "--weak", "title", "--weak-collection", "x", "--weak-queries", "0"])
    assert result.exit_code == 2 and "weak-queries" in result.output
    assert not (tmp_path / "m").exists()


def test_url_writes_send_the_api_key(tmp_path: Path) -> None:
    from service.config import Settings
    from service.main import create_app
    from tests.servers import serve_in_thread

    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in DOCS[:3]))
    root = tmp_path / "root"
    _run("index", "build", "--collection", "aero", "--source", str(source), "--id-field", "pid", "--text-field",
         "body", "--title-field", "", "--no-dense", "--index-root", str(root))
    keys = {"admin-key": "admin", "read-key": "read"}
    with serve_in_thread(create_app(Settings(index_root=root, workers=1, auth={"api_keys": keys}))) as url:
        delete = ["index", "delete", "--collection", "aero", "--ids", "p1", "--url", url]
        for extra, kind in (([], "Unauthorized"), (["--api-key", "read-key"], "Forbidden")):
            refused = runner.invoke(app, delete + extra, env={"SIEVE_API_KEY": ""})
            assert refused.exit_code == 1 and json.loads(refused.stdout)["error"]["type"] == kind, refused.output
        report = json.loads(_run(*delete, "--api-key", "admin-key"))
        assert report["deleted"] == 1 and report["doc_count"] == 2
        rebuilt = runner.invoke(app, ["index", "rebuild", "--collection", "aero", "--url", url],
                                env={"SIEVE_API_KEY": "admin-key"})
        assert rebuilt.exit_code == 0 and json.loads(rebuilt.stdout)["doc_count"] == 2, rebuilt.output


def test_build_with_passages_reports_truncation_and_prefixes(tmp_path: Path) -> None:
    """``--chunk``: passages counted and reported; without it the documents cut at the encoder's window are counted."""
    long_text = " ".join(f"Sentence {i} about turbulent boundary layers on swept wings." for i in range(60))
    source = tmp_path / "docs.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in [{"_id": "long", "text": long_text},
                                                              {"_id": "short", "text": "Flutter of panels"}]))
    common = ["index", "build", "--collection", "c", "--source", str(source), "--dense", "dense:onnx:Flat",
              "--index-root", str(tmp_path / "root"), "--no-sparse"]
    out = _run(*common)
    assert "c/dense: dense, 2 docs, built" in out
    assert "truncation: 1 of 2 documents are longer than the encoder's 254 tokens and were cut" in out
    assert "matryoshka prefixes: dims [256, 128, 64, 32]" in out
    out = _run(*common, "--chunk", "64:16:sum", "--no-prefixes")
    assert "c/dense: dense, 2 docs (" in out and "passages)" in out
    assert "truncation: 0 of" in out and "passages are longer" in out and "matryoshka" not in out
    hits = json.loads(_run("query", "sentence 42 turbulent", "--collection", "c", "--retriever", "dense",
                           "--index-root", str(tmp_path / "root")))["hits"]
    assert hits[0]["id"] == "long"


def test_serve_refuses_the_network_without_keys(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``sieve serve --host 0.0.0.0`` with auth off exits 2 naming the ways out, before binding anything."""
    for var in ("SIEVE_AUTH__API_KEYS", "SIEVE_ALLOW_INSECURE", "SIEVE_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--index-root", str(tmp_path)])
    assert result.exit_code == 2 and "SIEVE_ALLOW_INSECURE=1" in result.output


def test_learned_sparse_build_and_fused_eval(datasets: Path, tmp_path: Path) -> None:
    from tests.conftest import write_beir_slice

    data = write_beir_slice(datasets / "scifact", tmp_path / "data" / "mini", 3, 12)
    root = str(tmp_path / "root")
    out = _run("index", "build", "--collection", "mini", "--source", str(data), "--dense", "dense:onnx:Flat",
               "--learned-sparse", "splade:exact", "--learned-sparse", "splade-impact:lucene_impact",
               "--index-root", root)
    assert "mini/splade: learned_sparse" in out and "mini/splade-impact: learned_sparse" in out
    runs = tmp_path / "runs"
    out = _run("eval", "beir", "--data", str(data), "--collection", "mini", "--pipeline", "splade", "--pipeline",
               "fuse:bm25+splade+dense", "--fusion", "convex", "--weights", "0.2,0.3,0.5", "--k", "10",
               "--out", str(runs), "--index-root", root)
    summaries = {p.name: json.loads(p.read_text()) for p in runs.glob("*.json")}
    assert set(summaries) == {"mini.splade.json", "mini.fuse:bm25+splade+dense@convex-0.2-0.3-0.5.json"}
    assert all(s["metrics"]["ndcg@10"] > 0.3 for s in summaries.values()), summaries
    result = runner.invoke(app, ["index", "build", "--collection", "x", "--learned-sparse", "splade:faiss",
                                 "--index-root", root])
    assert result.exit_code != 0 and "lucene_impact" in result.output
