"""ADORE-style query encoder training (Zhan et al., "Optimizing Dense Retrieval Model Training with Hard
Negatives", SIGIR 2021): only the query side moves; the document vectors are the dense index's stored ones and
are never re-encoded. Every step encodes a batch of training queries with the current model, retrieves each one's
top ``negatives`` documents from the index's own FAISS index with those very vectors (dynamic hard negatives), and
takes a listwise loss: softmax over ``scale * cos`` of the judged positives and the retrieved non-positives, the
negative log of the positives' share. Queries held out of the training set pick the best checkpoint by nDCG@10.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from indexers.dense import DenseIndex
from indexers.encoders import EncoderSpec
from indexers.layout import INDEX_FILE
from kernel.errors import InvalidInput
from kernel.model_resolver import resolve_model
from training.loop import LoopSpec, run_steps
from training.rank_lists import QuerySet
from training.similarity_trainer import ndcg_at_10
from training.specs import QueryEncoderTrainSpec

log = logging.getLogger(__name__)


def _usable(queries: QuerySet, rows_of: dict[str, list[int]]) -> list[tuple[str, set[int], set[str]]]:
    """(text, positive rows, positive doc ids) per query with at least one judged positive in the index."""
    out = []
    for qid, text in queries.queries.items():
        docs = {d for d, rel in queries.qrels.get(qid, {}).items() if rel > 0 and d in rows_of}
        if docs:
            out.append((text, {r for d in docs for r in rows_of[d]}, docs))
    return out


class _Trainer:
    def __init__(self, index: DenseIndex, spec: QueryEncoderTrainSpec) -> None:
        import faiss
        import torch
        from sentence_transformers import SentenceTransformer

        self.spec = spec
        self.index = index
        encoder = EncoderSpec.model_validate(index.manifest.build["encoder"])
        self.model = SentenceTransformer(str(resolve_model(encoder.model).path), device="cpu")
        self.model.max_seq_length = spec.max_length
        self.faiss = faiss.read_index(str(index.folder / INDEX_FILE))  # the index's own structure, read only
        self.docs = torch.from_numpy(np.array(index.vectors(), dtype=np.float32))
        self.docids = index.docids
        bert: Any = self.model[0].auto_model
        if spec.layers is not None:  # 2D-Matryoshka-style: a shallower query tower, saved as a model of L layers
            if spec.layers > len(bert.encoder.layer):
                raise InvalidInput(f"layers {spec.layers}: the encoder has {len(bert.encoder.layer)}")
            bert.encoder.layer = bert.encoder.layer[: spec.layers]
            bert.config.num_hidden_layers = spec.layers
        for module in [bert.embeddings, *bert.encoder.layer[: spec.freeze_layers]]:  # backward stops above them
            module.requires_grad_(False)

    def encode(self, texts: list[str]) -> Any:
        import torch

        features = {k: v for k, v in self.model.preprocess(texts).items() if isinstance(v, torch.Tensor)}
        out = self.model(features)["sentence_embedding"]
        return torch.nn.functional.normalize(out, dim=-1)

    def step_loss(self, batch: list[tuple[str, set[int], set[str]]]) -> Any:
        import torch

        queries = self.encode([text for text, _, _ in batch])
        _, retrieved = self.faiss.search(queries.detach().numpy().astype(np.float32), self.spec.negatives + 8)
        losses = []
        for q, (_, positives, _), row in zip(queries, batch, retrieved, strict=True):
            negatives = [int(r) for r in row if r >= 0 and int(r) not in positives][: self.spec.negatives]
            candidates = torch.tensor(sorted(positives) + negatives)
            logits = self.spec.scale * (self.docs[candidates] @ q)
            log_probs = torch.log_softmax(logits, dim=0)
            losses.append(-torch.logsumexp(log_probs[: len(positives)], dim=0))
        return torch.stack(losses).mean()

    def dev_ndcg(self, dev: list[tuple[str, set[int], set[str]]]) -> float:
        import torch

        if not dev:
            return float("nan")
        self.model.eval()
        with torch.inference_mode():
            vectors = torch.cat([self.encode([t for t, _, _ in dev[i:i + 64]]) for i in range(0, len(dev), 64)])
        self.model.train()
        _, rows = self.faiss.search(vectors.numpy().astype(np.float32), 10)
        return float(np.mean([ndcg_at_10([self.docids[r] for r in row if r >= 0], docs)
                              for row, (_, _, docs) in zip(rows, dev, strict=True)]))


def train_query_encoder(index: DenseIndex, queries: QuerySet, spec: QueryEncoderTrainSpec, out_dir: Path
                        ) -> dict[str, Any]:
    """Train a copy of ``index``'s encoder as a query encoder for it; save the best checkpoint to ``out_dir``.

    Raises:
        InvalidInput: no training query has a judged positive in the index.
    """
    import torch

    torch.manual_seed(spec.seed)
    rows_of: dict[str, list[int]] = {}
    for row, doc_id in enumerate(index.docids):
        rows_of.setdefault(doc_id, []).append(row)
    usable = _usable(queries, rows_of)
    if len(usable) <= spec.dev_queries:
        raise InvalidInput(f"{len(usable)} queries with a judged positive in the index; need more than "
                           f"{spec.dev_queries} (the dev hold-out)")
    random.Random(spec.seed).shuffle(usable)
    dev, train = usable[: spec.dev_queries], usable[spec.dev_queries:]
    trainer = _Trainer(index, spec)
    started = time.perf_counter()
    loop = LoopSpec(steps=spec.steps, batch_size=spec.batch_size, learning_rate=spec.learning_rate,
                    warmup_steps=max(1, spec.steps // 10),
                    eval_every=spec.eval_every, max_minutes=spec.max_minutes, seed=spec.seed)
    result = run_steps(trainer.model, range(len(train)), lambda batch: trainer.step_loss([train[i] for i in batch]),
                       lambda: trainer.dev_ndcg(dev), loop, metric="dev_ndcg@10", desc="query encoder (ADORE)",
                       keep_last=not dev, started=started)
    trainer.model.max_seq_length = int(EncoderSpec.model_validate(index.manifest.build["encoder"]).max_length)
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer.model.save(str(out_dir))
    return {"train_queries": len(train), "dev_queries": len(dev), "steps": result.steps, "layers": spec.layers,
            "dev_curve": result.curve, "dev_best": result.best, "documents_reencoded": 0,
            "seconds": round(time.perf_counter() - started, 1), "spec": spec.model_dump(), "data": queries.name}
