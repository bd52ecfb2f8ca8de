"""``sieve train``: fine-tune an embedder (Matryoshka) or a cross-encoder on a collection's own data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast, get_args

import typer

from sieve.cli_common import IndexRoot, settings_for, setup_logging
from training.specs import CrossEncoderTrainSpec, DistilTrainSpec, MiningSpec, QueryEncoderTrainSpec

# The cross-encoder options' defaults are the specs' own (the measured recipe), so the two cannot drift apart.
_TRAIN = {name: f.default for name, f in CrossEncoderTrainSpec.model_fields.items()}
_MINE = MiningSpec()
_QENC = {name: f.default for name, f in QueryEncoderTrainSpec.model_fields.items()}
_DIST = {name: f.default for name, f in DistilTrainSpec.model_fields.items()}

train_app = typer.Typer(help="Train models on a collection's own data.", no_args_is_help=True)


@train_app.command("embedder")
def train_embedder_cmd(
    out: Annotated[Path, typer.Option(help="where the fine-tuned model is saved (load it by this path)")],
    data: Annotated[Path | None, typer.Option(help="BEIR folder with a train split")] = None,
    split: Annotated[str, typer.Option(help="judged split to train on; '' for weak supervision only")] = "train",
    collection: Annotated[str | None, typer.Option(help="built collection to mine negatives from "
                                                        "[the BEIR folder's name]")] = None,
    weak: Annotated[list[str], typer.Option(help="weak supervision from a corpus: title | ict; repeatable")
                    ] = [],  # noqa: B006
    weak_collection: Annotated[list[str], typer.Option(help="built collection(s) whose corpus gives the --weak "
                                                            "queries; repeatable [--collection]")] = [],  # noqa: B006
    weak_queries: Annotated[int, typer.Option(min=1, help="weakly supervised queries per --weak kind and "
                                                          "collection")] = 500,
    base_model: str = "sentence-transformers/all-MiniLM-L6-v2",
    matryoshka_dims: Annotated[str, typer.Option(help="comma-separated prefix dims")] = "384,256,128,64,32",
    epochs: int = 1,
    batch_size: int = 16,
    learning_rate: float = 2e-5,
    index_root: IndexRoot = None,
) -> None:
    """Matryoshka fine-tuning (MatryoshkaLoss over in-batch + BM25 hard negatives) on a BEIR train split, on weak
    supervision from one or more corpora (``--weak title --weak-collection cranfield``), or both."""
    from indexers.collection import open_collection
    from indexers.corpus import BeirDataset
    from training.embedder import EmbedderTrainSpec, train_embedder
    from training.pairs import mine_triples, triples_for
    from training.weak import WeakKind
    from training.weak import weak_queries as weak_source

    name = collection or (data.name if data is not None else None)
    if unknown := sorted(set(weak) - set(get_args(WeakKind))):
        raise typer.BadParameter(f"--weak {unknown}: choose title or ict")
    if weak_collection and not weak:
        raise typer.BadParameter("--weak-collection needs --weak title|ict")
    if not (data and split) and not (weak and (weak_collection or name)):
        raise typer.BadParameter("nothing to train on: give --data with --split, or --weak title|ict with "
                                 "--weak-collection (or --collection)")
    setup_logging()
    settings = settings_for(index_root)
    triples = []
    if data is not None and split:
        triples += mine_triples(BeirDataset.open(data), split, open_collection(settings.index_root / (name or "")))
    for weak_name in (weak_collection or [name or ""]) if weak else []:
        corpus = open_collection(settings.index_root / weak_name)
        triples += [t for kind in weak for t in triples_for(weak_source(corpus, cast(WeakKind, kind), weak_queries),
                                                            corpus)]
    spec = EmbedderTrainSpec(base_model=base_model, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                             matryoshka_dims=tuple(int(d) for d in matryoshka_dims.split(",")))
    info = train_embedder(triples, spec, out)
    typer.echo(f"saved {out} ({info['triples']} triples, {info['seconds']}s on {info['device']})")


@train_app.command("cross-encoder")
def train_cross_encoder_cmd(
    out: Annotated[Path, typer.Option(help="where the reranker is saved (load it by this path)")],
    data: Annotated[Path | None, typer.Option(help="BEIR folder with a train split")] = None,
    split: Annotated[str, typer.Option(help="judged split to train on; '' for weak supervision only")] = "train",
    collection: Annotated[str | None, typer.Option(help="built collection to mine negatives from "
                                                        "[the BEIR folder's name]")] = None,
    weak: Annotated[list[str], typer.Option(help="weak supervision from the corpus: title | ict; "
                                                 "repeatable")] = [],  # noqa: B006
    weak_queries: Annotated[int, typer.Option(help="weakly supervised queries per --weak kind")] = 500,
    base_model: str = _TRAIN["base_model"],
    loss: Annotated[str, typer.Option(help="listnet | lambda (lambda: zero/random heads only)")] = _TRAIN["loss"],
    head: Annotated[str, typer.Option(help="similarity (starts as the bi-encoder's cosine) | zero | random")
                    ] = _TRAIN["head"],
    mine_depth: Annotated[int, typer.Option(help="candidates per retriever to mine negatives from")] = _MINE.depth,
    negatives: Annotated[int, typer.Option(help="hard negatives per query")] = _MINE.negatives,
    teacher_weight: Annotated[float, typer.Option(help="weight of the hybrid fused score in labels; 0: none")
                              ] = _MINE.teacher_weight,
    epochs: int = _TRAIN["epochs"],
    learning_rate: float = _TRAIN["learning_rate"],
    max_length: int = _TRAIN["max_length"],
    queries_per_batch: int = _TRAIN["queries_per_batch"],
    freeze_layers: Annotated[int, typer.Option(help="keep embeddings + this many lowest layers fixed")
                             ] = _TRAIN["freeze_layers"],
    max_train_queries: Annotated[int | None, typer.Option(help="train on at most N judged queries")] = None,
    head_learning_rate: Annotated[float, typer.Option(help="learning rate of the (zero-initialised) head")
                                  ] = _TRAIN["head_learning_rate"],
    dev_queries: Annotated[int, typer.Option(help="train queries held out for per-epoch nDCG@10")
                           ] = _TRAIN["dev_queries"],
    dev_depth: Annotated[int, typer.Option(help="BM25 candidates each dev query reranks")] = _TRAIN["dev_depth"],
    index_root: IndexRoot = None,
) -> None:
    """Listwise cross-encoder fine-tuning over BM25 + dense hard negatives, distilling the hybrid fused scores;
    on a judged split, on the corpus's own weak supervision (``--weak title``), or both."""
    from indexers.collection import open_collection
    from indexers.corpus import BeirDataset
    from training.cross_encoder import train_cross_encoder
    from training.rank_lists import first_stage_texts, mine_lists, mine_rank_lists
    from training.weak import weak_queries as weak_source

    name = collection or (data.name if data is not None else None)
    if name is None:
        raise typer.BadParameter("give --data (a BEIR folder) or --collection (a built collection)")
    if not (data and split) and not weak:
        raise typer.BadParameter("nothing to train on: give --data with --split, or --weak title|ict")
    setup_logging()
    settings = settings_for(index_root)
    col = open_collection(settings.index_root / name)
    mining = MiningSpec(depth=mine_depth, negatives=negatives, teacher_weight=teacher_weight)
    spec = CrossEncoderTrainSpec(base_model=base_model, loss=loss, epochs=epochs, head=head,
                                 learning_rate=learning_rate, max_length=max_length, dev_queries=dev_queries,
                                 dev_depth=dev_depth, queries_per_batch=queries_per_batch,
                                 freeze_layers=freeze_layers, max_train_queries=max_train_queries,
                                 head_learning_rate=head_learning_rate)
    lists, dev = [], None
    if data is not None and split:
        dataset = BeirDataset.open(data)
        lists = mine_rank_lists(dataset, split, col, mining)
        dev = first_stage_texts(dataset, split, col, spec.dev_depth) if dev_queries else None
    weak_lists = [rl for kind in weak for rl in mine_lists(weak_source(col, kind, weak_queries), col, mining)]  # type: ignore[arg-type]
    info = train_cross_encoder(lists, spec, out, dev_rankings=dev, weak_lists=weak_lists)
    typer.echo(f"saved {out} ({info['train_queries']} queries of which {info['weak_queries']} weak, "
               f"{info['train_pairs']} pairs, {info['seconds']}s on {info['device']}); dev nDCG@10 before "
               f"{info['dev_before']}, per epoch {info['dev_per_epoch']}")


@train_app.command("query-encoder")
def train_query_encoder_cmd(
    collection: Annotated[str, typer.Option(help="the built collection whose dense index stays as it is")],
    name: Annotated[str, typer.Option(help="the query encoder's name on the index (requests: query_encoder)")],
    index: Annotated[str, typer.Option(help="the dense index")] = "dense",
    data: Annotated[Path | None, typer.Option(help="BEIR folder with judged training queries")] = None,
    split: Annotated[str, typer.Option(help="the judged split of --data to train on")] = "train",
    weak: Annotated[int, typer.Option(help="train on N pseudo-queries mined from the corpus (titles, "
                                           "inverse-cloze sentences, word spans) instead of judged ones")] = 0,
    objective: Annotated[str, typer.Option(help="adore (listwise against retrieved documents; judged or weak "
                                                "queries) | distil (a --layers-layer copy learns the full model's "
                                                "vectors of corpus pseudo-queries)")] = "adore",
    steps: Annotated[int | None, typer.Option(help=f"[adore {_QENC['steps']}, distil {_DIST['steps']}]")] = None,
    batch_size: Annotated[int | None, typer.Option(help=f"[adore {_QENC['batch_size']}, distil "
                                                        f"{_DIST['batch_size']}]")] = None,
    learning_rate: Annotated[float | None, typer.Option(help=f"[adore {_QENC['learning_rate']}, distil "
                                                             f"{_DIST['learning_rate']}]")] = None,
    texts: Annotated[int, typer.Option(help="distil: pseudo-queries mined from the corpus (--data adds its "
                                            "--split queries' texts, not their judgements)")] = _DIST["texts"],
    contrastive_weight: Annotated[float, typer.Option(help="distil: weight of the in-batch term against the full "
                                                           "model's vectors of other texts")
                                  ] = _DIST["contrastive_weight"],
    head: Annotated[str, typer.Option(help="distil: none | affine (a linear head starting as the fitted "
                                           "early-exit map)")] = _DIST["head"],
    source_layers: Annotated[str | None, typer.Option(help="distil: the full model's layers the student starts "
                                                           "from, e.g. 0,1,2 [the first + the top L-1: 0,4,5]")
                             ] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="distil: cache of the full model's vectors")] = None,
    negatives: Annotated[int, typer.Option(help="hard negatives retrieved live from the index per query")
                         ] = _QENC["negatives"],
    dev_queries: Annotated[int, typer.Option(help="training queries held out to pick the best checkpoint")
                           ] = _QENC["dev_queries"],
    freeze_layers: Annotated[int, typer.Option(help="keep embeddings + this many lowest layers fixed")
                             ] = _QENC["freeze_layers"],
    layers: Annotated[int | None, typer.Option(help="keep only the first L transformer layers (a cheaper query "
                                                  "encoder, trained back to the index's space)")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="stop after this many minutes (best checkpoint kept)")
                           ] = None,
    eval_every: Annotated[int, typer.Option(help="steps between dev evaluations")] = _QENC["eval_every"],
    index_root: IndexRoot = None,
) -> None:
    """ADORE: fine-tune a copy of the dense index's encoder on the query side only, against the index's stored
    document vectors (none re-encoded), with hard negatives retrieved from the index at every step; registered on
    the collection as an alternative query encoder for this index version. ``--objective distil``: a copy with
    ``--layers`` (default 3) of its layers instead learns the full model's vectors of corpus pseudo-queries (early exit
    without a map at serving time; ``training/distil.py``)."""
    import tempfile

    from indexers.collection import open_collection
    from indexers.corpus import BeirDataset
    from indexers.dense import query_encoders
    from training.distil import train_distilled
    from training.early_exit import pseudo_queries
    from training.query_encoder import train_query_encoder
    from training.rank_lists import QuerySet, judged_queries

    if objective not in ("adore", "distil"):
        raise typer.BadParameter(f"objective {objective!r}: adore or distil")
    if objective == "adore" and (data is None) == (weak == 0):
        raise typer.BadParameter("train on judged queries (--data, --split) or on weak ones (--weak N), one of them")
    setup_logging()
    settings = settings_for(index_root)
    col = open_collection(settings.index_root / collection)
    dense = col.dense.get(index)
    if dense is None:
        raise typer.BadParameter(f"collection {collection!r} has no dense index {index!r}")
    with tempfile.TemporaryDirectory(dir=settings.index_root / collection) as tmp:
        if objective == "distil":
            corpus, _ = pseudo_queries(col, texts)
            judged = list(judged_queries(BeirDataset.open(data), split).queries.values()) if data else []
            dspec = DistilTrainSpec(**{k: v for k, v in {
                "steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "texts": texts,
                "contrastive_weight": contrastive_weight, "head": head, "max_minutes": max_minutes,
                "layers": layers or 3,
                "source_layers": tuple(int(i) for i in source_layers.split(",")) if source_layers else None,
            }.items() if v is not None})
            info = train_distilled(dense, corpus + judged, dspec, Path(tmp) / "model", cache_dir=cache_dir)
            info["data"] = f"{collection} pseudo-queries:{len(corpus)}" + (
                f" + {data.name}/{split} query texts:{len(judged)}" if data else "")
        else:
            if data is not None:
                source = judged_queries(BeirDataset.open(data), split)
            else:
                mined, docs = pseudo_queries(col, weak)
                source = QuerySet({f"weak:{i}": t for i, t in enumerate(mined)},
                                  {f"weak:{i}": {d: 1} for i, d in enumerate(docs)}, name=f"{collection} weak:{weak}")
            spec = QueryEncoderTrainSpec(**{k: v for k, v in {
                "steps": steps, "batch_size": batch_size, "learning_rate": learning_rate}.items() if v is not None},
                negatives=negatives, dev_queries=dev_queries, eval_every=eval_every,
                freeze_layers=freeze_layers, max_minutes=max_minutes, layers=layers)
            info = train_query_encoder(dense, source, spec, Path(tmp) / "model")
        manifest = query_encoders.QueryEncoderManifest.trained(name, index, dense.manifest, info)
        folder = query_encoders.register(col.folder, manifest, Path(tmp) / "model")
    col.close()
    if objective == "distil":
        typer.echo(f"registered query encoder {name!r} ({info['layers']} layers from {info['source_layers']}) on "
                   f"{collection}/{index} (version "
                   f"{manifest.trained_against}) at {folder}: {info['texts']} texts ({info['data']}), "
                   f"{info['steps']} steps, {info['seconds']}s; held-out cosine to the full model "
                   f"{info['dev_unmapped_cosine']} unmapped -> {info['dev_best_cosine']}; documents re-encoded: 0")
        return
    typer.echo(f"registered query encoder {name!r} on {collection}/{index} (version {manifest.trained_against}) at "
               f"{folder}: {info['train_queries']} training queries ({info['data']}), {info['steps']} steps, "
               f"{info['seconds']}s; dev nDCG@10 {info['dev_curve'][0]['dev_ndcg@10']} -> {info['dev_best']}; "
               "documents re-encoded: 0")
