"""``sieve train cross-encoder``: a reranker fine-tuned from a bi-encoder checkpoint on a BEIR train split and/or the
corpus's own weak supervision.

Recipe for little data (SciFact: 505 claims): listwise ListNet loss (Cao et al., "Learning to Rank: From Pairwise
Approach to Listwise Approach", ICML 2007) over one query's positives and hard negatives mined from our BM25 and
dense indexes, with soft labels from the hybrid retriever's fused scores (distillation) plus the judgements
(``training.rank_lists``), and title -> body lists from the corpus (``training.weak``).

The default head (``similarity``, ``rankers.similarity_cross_encoder``) scores ``scale * cos`` of the two pooled
segments plus a zero-initialised [CLS] read-out, so the model starts as good as the bi-encoder it comes from and
training only has to add to it; it trains in a plain PyTorch loop (``similarity_trainer``). The ``zero`` head (a
sequence-classification head at zero, 20x the encoder's learning rate) trains through sentence-transformers and
saves a standard CrossEncoder folder; a pointwise BCE fine-tune with a random head scored far below BM25. Figures
for each: docs/results.md. Either folder loads by path.
"""

from __future__ import annotations

import json
import logging
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel.errors import InvalidInput
from kernel.model_resolver import resolve_model
from training.rank_lists import RankList
from training.specs import CrossEncoderTrainSpec

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

log = logging.getLogger(__name__)


def _split(lists: list[RankList], n_dev: int, seed: int) -> tuple[list[RankList], list[RankList]]:
    order = list(lists)
    random.Random(seed).shuffle(order)
    return order[n_dev:], order[:n_dev]


def _dev_samples(dev: list[RankList], rankings: dict[str, list[str]], spec: CrossEncoderTrainSpec
                 ) -> list[dict[str, Any]]:
    """Each dev query's first-stage top ``dev_depth`` texts to rerank (positives not forced in)."""
    samples = []
    for rl in dev:
        text = dict(zip(rl.doc_ids, rl.docs, strict=True))
        docs = rankings.get(rl.qid, list(rl.docs))[: spec.dev_depth]
        samples.append({"query": rl.query, "positive": [text[d] for d in rl.positives], "documents": docs})
    return samples


def _dev_evaluator(samples: list[dict[str, Any]]) -> CrossEncoderRerankingEvaluator:
    """nDCG@10 of reranking the dev samples, for the sentence-transformers trainer."""
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    return CrossEncoderRerankingEvaluator(samples, at_k=10, always_rerank_positives=False, name="dev",
                                          batch_size=32, write_csv=False)


def _freeze(model: Any, layers: int) -> None:
    """Fix the embeddings and the lowest ``layers`` encoder layers: backward stops above them."""
    base = getattr(model, model.base_model_prefix)
    for module in [base.embeddings, *base.encoder.layer[:layers]]:
        for p in module.parameters():
            p.requires_grad_(False)


def _train_classifier(train: list[RankList], samples: list[dict[str, Any]], spec: CrossEncoderTrainSpec,
                      base: Path, out_dir: Path) -> dict[str, object]:
    """A one-logit sequence-classification head (zero or random init) through sentence-transformers' trainer."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import LambdaLoss, ListNetLoss

    torch.manual_seed(spec.seed)
    model = CrossEncoder(str(base), num_labels=1, max_length=spec.max_length,
                         device="cuda" if torch.cuda.is_available() else "cpu")
    if spec.head == "zero":
        torch.nn.init.zeros_(model.model.classifier.weight)
        torch.nn.init.zeros_(model.model.classifier.bias)
    if spec.freeze_layers:
        _freeze(model.model, spec.freeze_layers)
    data = Dataset.from_dict({
        "query": [rl.query for rl in train],
        "docs": [list(rl.docs) for rl in train],
        "labels": [list(rl.labels) for rl in train],
    })
    loss = ListNetLoss(model) if spec.loss == "listnet" else LambdaLoss(model)
    evaluator = _dev_evaluator(samples) if samples else None
    args = CrossEncoderTrainingArguments(
        output_dir=str(out_dir / "checkpoints"),
        num_train_epochs=spec.epochs,
        per_device_train_batch_size=spec.queries_per_batch,
        learning_rate=spec.learning_rate,
        learning_rate_mapping={r".*classifier.*": spec.head_learning_rate},
        warmup_steps=0.1,  # a float is a fraction of all steps (transformers v5)
        eval_strategy="epoch" if evaluator else "no",
        save_strategy="epoch",
        save_total_limit=1,
        logging_steps=10,
        seed=spec.seed,
        report_to=[],
        dataloader_pin_memory=torch.cuda.is_available(),
    )
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=data, loss=loss, evaluator=evaluator)
    before = evaluator(model) if evaluator else {}
    trainer.train()
    dev_log = [{k: v for k, v in e.items() if k.startswith("eval_")} for e in trainer.state.log_history
               if any(k.startswith("eval_dev") for k in e)]
    model.save_pretrained(str(out_dir))
    return {"dev_before": before, "dev_per_epoch": dev_log, "device": str(model.device)}


def train_cross_encoder(
    lists: list[RankList], spec: CrossEncoderTrainSpec, out_dir: Path,
    dev_rankings: dict[str, list[str]] | None = None, weak_lists: list[RankList] | None = None,
) -> dict[str, object]:
    """Fine-tune ``spec.base_model`` as a one-logit cross-encoder on ``lists``; saves it to ``out_dir``.

    Args:
        lists: training lists (``mine_rank_lists``); ``spec.dev_queries`` of them are held out for evaluation.
        spec: recipe.
        out_dir: the model folder (loads with ``CrossEncoder(out_dir)`` or ``RerankerSpec(model=str(out_dir))``);
            per-epoch checkpoints go to ``out_dir/checkpoints`` and the recipe and dev scores to
            ``sieve_training.json``.
        dev_rankings: ``{qid: texts}``, a first-stage ranking to rerank per dev query (``first_stage_texts``);
            a dev query without one reranks its own training list.
        weak_lists: weakly supervised lists (``training.weak``), trained on alongside ``lists`` and never
            held out for evaluation. ``lists`` may then be empty (a collection without training queries).
    """
    started = time.perf_counter()
    resolved = resolve_model(spec.base_model)
    train, dev = _split(lists, spec.dev_queries, spec.seed) if lists else ([], [])
    train = train[: spec.max_train_queries] + list(weak_lists or [])
    if not train:
        raise InvalidInput("nothing to train on: no judged lists and no weak supervision")
    samples = _dev_samples(dev, dev_rankings or {}, spec)
    if spec.head == "similarity":
        from training.similarity_trainer import train_similarity

        result = train_similarity(train, samples, spec, resolved.path, out_dir)
    else:
        result = _train_classifier(train, samples, spec, resolved.path, out_dir)
    info = {
        **spec.model_dump(mode="json"),
        "base_revision": resolved.revision,
        "train_queries": len(train),
        "weak_queries": len(weak_lists or []),
        "train_pairs": sum(len(rl.docs) for rl in train),
        "dev_queries": len(dev),
        "dev_qids": sorted(rl.qid for rl in dev),  # held out: `sieve eval beir --only-qids` scores exactly these
        **result,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out_dir / "sieve_training.json").write_text(json.dumps(info, indent=2) + "\n")
    log.info("cross-encoder trained: %s", info)
    return info
