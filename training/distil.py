"""Query-side distillation for early exit (``sieve train query-encoder --objective distil``).

The student is a copy of the dense index's own encoder with ``layers`` of its transformer layers (by default the first
and the top ``layers - 1``; its pooling and normalisation kept), so a query costs ``layers`` layers; the teacher is the
full model, whose vectors are the space the index's stored document vectors live in. The student learns, per text, to
reproduce the teacher's unit vector: loss ``1 - cos(student, teacher)`` plus ``contrastive_weight`` times an in-batch
softmax (``scale * cos``) of each student vector against the teacher vectors of the batch's other texts. Texts are
pseudo-queries mined from the collection's corpus (``training/early_exit.py``: titles, inverse-cloze sentences, word
spans) plus any judged training queries' texts (their judgements are not read). Teacher vectors are computed once
(cached with ``cache_dir``); no document is re-encoded. Held-out texts pick the checkpoint by mean cosine to the
teacher.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from indexers.dense import DenseIndex
from indexers.dense.early_exit import apply_map, fit_map
from indexers.encoders import EncoderSpec
from kernel.errors import InvalidInput
from kernel.model_resolver import resolve_model
from training.early_exit import depth_vectors
from training.loop import LoopSpec, run_steps
from training.specs import DistilTrainSpec

log = logging.getLogger(__name__)


def source_layers(layers: int, total: int, chosen: tuple[int, ...] | None) -> tuple[int, ...]:
    """The full model's layers a ``layers``-layer student starts from: ``chosen``, checked, or the first layer plus
    the top ``layers - 1``."""
    if not 1 <= layers <= total:
        raise InvalidInput(f"layers must be 1..{total}, got {layers}")
    picked = chosen if chosen is not None else (0, *range(total - layers + 1, total))[:layers]
    if len(picked) != layers or list(picked) != sorted(set(picked)) or not all(0 <= i < total for i in picked):
        raise InvalidInput(f"source layers must be {layers} distinct ascending layers of 0..{total - 1}, got "
                           f"{list(picked)}")
    return tuple(picked)


def student_model(index: DenseIndex, layers: int, max_length: int,
                  chosen: tuple[int, ...] | None = None) -> tuple[Any, tuple[int, ...]]:
    """A trainable SentenceTransformer of ``layers`` layers copied from the index encoder's (``source_layers``;
    embeddings frozen), and which layers those are."""
    import torch
    from sentence_transformers import SentenceTransformer

    encoder = EncoderSpec.model_validate(index.manifest.build["encoder"])
    model = SentenceTransformer(str(resolve_model(encoder.model).path), device="cpu")
    model.max_seq_length = max_length
    bert: Any = model[0].auto_model
    picked = source_layers(layers, len(bert.encoder.layer), chosen)
    bert.encoder.layer = torch.nn.ModuleList([bert.encoder.layer[i] for i in picked])
    bert.config.num_hidden_layers = layers
    bert.embeddings.requires_grad_(False)
    return model, picked


def add_affine_head(model: Any, w: NDArray[np.float32], b: NDArray[np.float32]) -> None:
    """Append ``x @ w + b`` (a linear ``Dense`` module, trainable) and a renormalisation after the model's own
    normalisation: the early-exit map as part of the model, saved with it."""
    import torch
    from sentence_transformers.models import Dense, Normalize

    model.append(Dense(w.shape[0], w.shape[1], activation_function=torch.nn.Identity(),
                       init_weight=torch.from_numpy(np.ascontiguousarray(w.T)), init_bias=torch.from_numpy(b)))
    model.append(Normalize())


def encode(model: Any, texts: list[str]) -> Any:
    """Unit vectors of ``texts`` as a torch tensor, with gradients when the model trains."""
    import torch

    features = {k: v for k, v in model.preprocess(texts).items() if isinstance(v, torch.Tensor)}
    return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)


def vectors_of(model: Any, texts: list[str]) -> NDArray[np.float32]:
    """``model``'s unit vectors of ``texts`` (no gradients)."""
    import torch

    model.eval()
    with torch.inference_mode():
        vectors = torch.cat([encode(model, texts[i:i + 128]) for i in range(0, len(texts), 128)])
    model.train()
    return np.asarray(vectors.numpy(), dtype=np.float32)


def mean_cosine(model: Any, texts: list[str], teacher: NDArray[np.float32]) -> float:
    """Mean cosine between ``model``'s vectors of ``texts`` and the teacher's (``nan`` for no text)."""
    if not texts:
        return float("nan")
    return float((vectors_of(model, texts) * teacher).sum(axis=1).mean())


def mapped_cosine(x: NDArray[np.float32], w: NDArray[np.float32], b: NDArray[np.float32],
                  teacher: NDArray[np.float32]) -> float:
    """Mean cosine between ``x`` through the early-exit map ``(w, b)`` and the teacher's vectors."""
    return float((apply_map(x, w, b) * teacher).sum(axis=1).mean())


def distil_loss(student: Any, teacher: Any, spec: DistilTrainSpec) -> Any:
    import torch

    loss = (1 - (student * teacher).sum(dim=1)).mean()
    if spec.contrastive_weight > 0:
        logits = spec.scale * student @ teacher.T
        labels = torch.arange(len(student))
        loss = loss + spec.contrastive_weight * torch.nn.functional.cross_entropy(logits, labels)
    return loss


def train_distilled(index: DenseIndex, texts: list[str], spec: DistilTrainSpec, out_dir: Path, *,
                    cache_dir: Path | None = None) -> dict[str, Any]:
    """Distil ``index``'s encoder into ``spec.layers`` of its layers (``source_layers``) on ``texts``; save the best
    checkpoint to ``out_dir`` (a model folder of ``spec.layers`` layers). Returns the training record."""
    import torch

    texts = list(dict.fromkeys(texts))
    if len(texts) <= spec.dev_texts + spec.batch_size:
        raise InvalidInput(f"{len(texts)} distinct texts; need more than {spec.dev_texts + spec.batch_size}")
    torch.manual_seed(spec.seed)
    started = time.perf_counter()
    depths = depth_vectors(index, texts, max_length=spec.max_length, cache_dir=cache_dir)
    teacher = np.ascontiguousarray(depths[-1], dtype=np.float32)
    teacher_seconds = round(time.perf_counter() - started, 1)
    order = list(range(len(texts)))
    random.Random(spec.seed).shuffle(order)
    dev, train = order[: spec.dev_texts], order[spec.dev_texts:]
    dev_texts, dev_teacher = [texts[i] for i in dev], teacher[dev]
    del depths
    started_training = time.perf_counter()
    model, picked = student_model(index, spec.layers, spec.max_length, spec.source_layers)
    unmapped = mean_cosine(model, dev_texts, dev_teacher)
    head = "none"
    if spec.head == "affine":
        w, b = fit_map(vectors_of(model, [texts[i] for i in train]), teacher[train], "affine", ridge=1e-3)
        if not dev or mapped_cosine(vectors_of(model, dev_texts), w, b, dev_teacher) > unmapped:
            add_affine_head(model, w, b)  # kept only when it helps on held-out texts (too few texts: it overfits)
            head = "affine"
    loop = LoopSpec(steps=spec.steps, batch_size=spec.batch_size, learning_rate=spec.learning_rate,
                    warmup_steps=max(1, spec.steps // 20),
                    eval_every=spec.eval_every, max_minutes=spec.max_minutes, seed=spec.seed)
    result = run_steps(
        model, train,
        lambda batch: distil_loss(encode(model, [texts[i] for i in batch]), torch.from_numpy(teacher[batch]), spec),
        lambda: mean_cosine(model, dev_texts, dev_teacher), loop, metric="dev_cosine",
        desc=f"distil {spec.layers} layers", keep_last=not dev, started=started_training)
    model.max_seq_length = int(EncoderSpec.model_validate(index.manifest.build["encoder"]).max_length)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    return {"objective": "distil", "layers": spec.layers, "source_layers": list(picked), "texts": len(train),
            "dev_texts": len(dev),
            "steps": result.steps, "dev_curve": result.curve, "dev_best_cosine": result.best,
            "dev_unmapped_cosine": round(unmapped, 4),
            "head": head, "selection": "held-out pseudo-queries: mean cosine to the full model",
            "documents_reencoded": 0,
            "teacher_seconds": teacher_seconds, "seconds": round(time.perf_counter() - started, 1),
            "spec": spec.model_dump()}
