"""``sieve train embedder``: Matryoshka fine-tuning of a sentence-transformers model on a BEIR train split.

Loss: ``MatryoshkaLoss(MultipleNegativesRankingLoss)`` (Kusupati et al., "Matryoshka Representation Learning",
NeurIPS 2022): in-batch and mined hard negatives, the ranking loss applied at every prefix length. Runs on the CPU
here and on a GPU when one is present; the result is a normal sentence-transformers folder that loads by path.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from kernel.model_resolver import resolve_model
from training.pairs import Triple

log = logging.getLogger(__name__)


class EmbedderTrainSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    matryoshka_dims: tuple[int, ...] = (384, 256, 128, 64, 32)
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(16, ge=2)
    learning_rate: float = Field(2e-5, gt=0)
    max_length: int = Field(256, ge=16)
    seed: int = 0


def train_embedder(triples: list[Triple], spec: EmbedderTrainSpec, out_dir: Path) -> dict[str, object]:
    """Fine-tune ``spec.base_model`` on ``triples``; saves the model (and ``sieve_training.json``) to ``out_dir``."""
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.losses import MatryoshkaLoss, MultipleNegativesRankingLoss
    from sentence_transformers.training_args import BatchSamplers

    started = time.perf_counter()
    resolved = resolve_model(spec.base_model)
    model = SentenceTransformer(str(resolved.path), device="cuda" if torch.cuda.is_available() else "cpu")
    model.max_seq_length = spec.max_length
    data = Dataset.from_dict({
        "anchor": [t.query for t in triples],
        "positive": [t.positive for t in triples],
        "negative": [t.negative for t in triples],
    })
    loss = MatryoshkaLoss(model, MultipleNegativesRankingLoss(model), matryoshka_dims=list(spec.matryoshka_dims))
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out_dir / "checkpoints"),
        num_train_epochs=spec.epochs,
        per_device_train_batch_size=spec.batch_size,
        learning_rate=spec.learning_rate,
        warmup_steps=0.1,  # a float is a fraction of all steps (transformers v5)
        batch_sampler=BatchSamplers.NO_DUPLICATES,  # duplicate queries in a batch would be false in-batch negatives
        save_strategy="epoch",
        save_total_limit=1,
        logging_steps=10,
        seed=spec.seed,
        report_to=[],
    )
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss).train()
    model.save(str(out_dir))
    info = {
        **spec.model_dump(mode="json"),
        "base_revision": resolved.revision,
        "triples": len(triples),
        "seconds": round(time.perf_counter() - started, 1),
        "device": str(model.device),
    }
    (out_dir / "sieve_training.json").write_text(json.dumps(info, indent=2) + "\n")
    log.info("embedder trained: %s", info)
    return info
