"""Fine-tuning a similarity cross-encoder (``rankers.similarity_cross_encoder``) with a listwise ListNet loss.

A plain PyTorch loop (the sentence-transformers trainer only knows sequence-classification heads): lists in
batches of ``queries_per_batch``, AdamW with a higher learning rate for the head than for the encoder, linear warm-up
and decay, the embeddings and lowest layers frozen, a checkpoint and a dev nDCG@10 after every epoch.
"""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from training.rank_lists import RankList

log = logging.getLogger(__name__)

DevSample = dict[str, Any]  # {"query": str, "positive": [texts], "documents": [texts in first-stage order]}


def ndcg_at_10(ranked: list[str], positives: set[str]) -> float:
    """Binary-relevance nDCG@10 of a ranked list of texts."""
    dcg = sum(1 / math.log2(i + 2) for i, t in enumerate(ranked[:10]) if t in positives)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(positives))))
    return dcg / ideal if ideal else 0.0


class _Scorer:
    def __init__(self, model: Any, tokenizer: Any, max_length: int, device: str) -> None:
        self.model, self.tokenizer, self.max_length, self.device = model, tokenizer, max_length, device

    def __call__(self, query: str, docs: list[str]) -> Any:
        return self.pairs([query] * len(docs), docs)

    def pairs(self, queries: list[str], docs: list[str]) -> Any:
        enc = self.tokenizer(queries, docs, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt").to(self.device)
        return self.model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).reshape(-1)


def dev_ndcg(score: _Scorer, samples: list[DevSample]) -> dict[str, float]:
    """Mean nDCG@10 of the model's order and of the first stage's over the dev samples."""
    import torch

    ours, base = [], []
    with torch.inference_mode():
        for s in samples:
            scores = score(s["query"], s["documents"]).tolist()
            order = sorted(range(len(scores)), key=lambda i: -scores[i])
            positives = set(s["positive"])
            ours.append(ndcg_at_10([s["documents"][i] for i in order], positives))
            base.append(ndcg_at_10(s["documents"], positives))
    return {"dev_ndcg@10": sum(ours) / len(ours), "dev_base_ndcg@10": sum(base) / len(base)}


def _freeze(encoder: Any, layers: int) -> None:
    for module in [encoder.embeddings, *encoder.encoder.layer[:layers]]:
        for p in module.parameters():
            p.requires_grad_(False)


def train_similarity(train: list[RankList], dev: list[DevSample], spec: Any, base: Path, out_dir: Path
                     ) -> dict[str, object]:
    """Train from the bi-encoder at ``base``; save to ``out_dir``. ``spec`` is a ``CrossEncoderTrainSpec``."""
    import torch
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    from rankers.similarity_cross_encoder import new_model, save_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(spec.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = new_model(base).to(device)
    _freeze(model.encoder, spec.freeze_layers)
    head = [model.scale, *model.readout.parameters()]
    body = [p for p in model.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": body, "lr": spec.learning_rate},
                                   {"params": head, "lr": spec.head_learning_rate}], weight_decay=0.01)
    steps = math.ceil(len(train) / spec.queries_per_batch) * spec.epochs
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, steps // 10), steps)
    score = _Scorer(model, tokenizer, spec.max_length, device)
    model.eval()
    before = dev_ndcg(score, dev) if dev else {}
    per_epoch = []
    rng = random.Random(spec.seed)
    for epoch in range(spec.epochs):
        model.train()
        order = list(train)
        rng.shuffle(order)
        bar = tqdm(range(0, len(order), spec.queries_per_batch), desc=f"epoch {epoch + 1}/{spec.epochs}", unit="step")
        for start in bar:
            batch = order[start:start + spec.queries_per_batch]
            # One forward pass over every pair of the batch, then one ListNet term per list.
            logits = score.pairs([rl.query for rl in batch for _ in rl.docs], [d for rl in batch for d in rl.docs])
            losses, offset = [], 0
            for rl in batch:
                target = torch.softmax(torch.tensor(rl.labels, dtype=torch.float32, device=device), dim=0)
                losses.append(-(target * torch.log_softmax(logits[offset:offset + len(rl.docs)], dim=0)).sum())
                offset += len(rl.docs)
            loss = torch.stack(losses).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{model.scale.item():.1f}")
        model.eval()
        save_model(model, tokenizer, out_dir / "checkpoints" / "last")
        if dev:
            per_epoch.append({"epoch": epoch + 1, **dev_ndcg(score, dev)})
            log.info("epoch %d: %s", epoch + 1, per_epoch[-1])
    save_model(model, tokenizer, out_dir)
    return {"dev_before": before, "dev_per_epoch": per_epoch, "device": device}
