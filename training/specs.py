"""What a cross-encoder training run is made of: how its lists are mined (``MiningSpec``) and how it trains
(``CrossEncoderTrainSpec``). Defaults are the recipe measured in docs/results.md; ``sieve train cross-encoder``
takes its option defaults from here. Light on purpose (pydantic only), so the CLI can import it at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class MiningSpec:
    """How candidates are mined and labelled.

    ``label = gold_weight * judged + teacher_weight * fused`` where ``fused`` is the min-max convex fusion of BM25 and
    dense scores over the query's candidates (in [0, 1]); ``teacher_weight = 0`` trains on judgements alone.
    """

    depth: int = 30  # candidates from each retriever
    negatives: int = 6  # per list: the hardest by fused score, half of them, and the rest sampled from the pool
    gold_weight: float = 4.0
    teacher_weight: float = 2.0
    seed: int = 0


class CrossEncoderTrainSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    loss: Literal["listnet", "lambda"] = "listnet"
    epochs: int = Field(3, ge=1)
    queries_per_batch: int = Field(4, ge=1)
    learning_rate: float = Field(3e-5, gt=0)
    # The zero head needs far larger steps than the encoder, or scores stay flat for the whole (short) run.
    head_learning_rate: float = Field(1e-3, gt=0)
    max_length: int = Field(128, ge=16)  # training length; inference may use more (position embeddings go to 512)
    dev_queries: int = Field(60, ge=0)  # held out from the train split, reranked each epoch
    dev_depth: int = Field(30, ge=2)
    # similarity: score = scale * cos(pooled query, pooled passage) + a zero [CLS] read-out, so training starts
    # from the bi-encoder's own similarity (rankers.similarity_cross_encoder); zero / random: a sequence-
    # classification head initialised at zero (scores start flat) or at random (the library default).
    head: Literal["similarity", "zero", "random"] = "similarity"
    max_train_queries: int | None = Field(None, ge=1)  # cap on training lists (after the dev split)
    freeze_layers: int = Field(2, ge=0)  # embeddings + this many lowest layers stay fixed (cheaper on a CPU)
    layers: int | None = Field(None, ge=1)  # train (and save) only the first L layers: a cheaper query encoder
    max_minutes: float | None = Field(None, gt=0)  # wall-clock budget: past it, evaluate once more and stop
    seed: int = 0


class QueryEncoderTrainSpec(BaseModel):
    """ADORE-style query-side training against a fixed dense index (``training/query_encoder.py``); the defaults are
    the recipe measured in docs/results.md and ``sieve train query-encoder``'s option defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = Field(300, ge=1)
    batch_size: int = Field(16, ge=1)  # queries per step
    learning_rate: float = Field(1e-5, gt=0)
    negatives: int = Field(50, ge=1)  # top-n retrieved from the index each step (judged positives excluded)
    scale: float = Field(20.0, gt=0)  # softmax scale over cosine scores (1 / temperature)
    max_length: int = Field(32, ge=8)  # query tokens during training
    dev_queries: int = Field(100, ge=0)  # held out of the training queries; best dev nDCG@10 checkpoint kept
    eval_every: int = Field(50, ge=1)
    freeze_layers: int = Field(2, ge=0)  # embeddings + this many lowest layers stay fixed (cheaper on a CPU)
    layers: int | None = Field(None, ge=1)  # train (and save) only the first L layers: a cheaper query encoder
    max_minutes: float | None = Field(None, gt=0)  # wall-clock budget: past it, evaluate once more and stop
    seed: int = 0


class DistilTrainSpec(BaseModel):
    """Query-side distillation into a shallow copy of a dense index's encoder (``training/distil.py``): ``layers`` of
    its layers learn to reproduce the full model's unit vectors; the defaults are ``sieve train query-encoder
    --objective distil``'s (the recipe measured in docs/results.md, 15-30 minutes on 2 cores)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    layers: int = Field(3, ge=1)  # transformer layers kept (and saved): what serving a query costs
    # which of the full model's layers the student starts from (ascending, ``layers`` of them); None: the first
    # layer plus the top ``layers - 1`` (0, 4, 5 for 3 of MiniLM's 6), the subset closest to the full model after
    # the affine map on corpus pseudo-queries (benchmarks/bench_source_layers.py: held-out cosine 0.844 vs 0.713 for
    # the first 3 on SciFact, 0.881 vs 0.798 on Cranfield; no query or judgement read)
    source_layers: tuple[int, ...] | None = None
    texts: int = Field(20000, ge=16)  # pseudo-queries mined from the corpus (plus any judged training queries)
    steps: int = Field(3000, ge=1)  # the held-out cosine still rises at 1,500 (0.941 -> 0.950 at 3,000)
    batch_size: int = Field(32, ge=2)
    learning_rate: float = Field(2e-4, gt=0)
    # none: the cut model as is; affine: + a linear head (then renormalised) starting as the closed-form early-exit
    # map (ridge least squares from the cut's unit vectors to the teacher's, on the training texts), kept only when it
    # brings the held-out texts closer to the full model (with a few hundred texts it overfits and is dropped)
    head: Literal["none", "affine"] = "affine"
    contrastive_weight: float = Field(0.1, ge=0)  # in-batch softmax against the full model's vectors of other texts
    scale: float = Field(20.0, gt=0)  # softmax scale of that term (1 / temperature)
    max_length: int = Field(32, ge=8)  # tokens per text, for teacher and student alike
    dev_texts: int = Field(500, ge=0)  # held out; best mean cosine to the teacher picks the checkpoint
    eval_every: int = Field(100, ge=1)
    max_minutes: float | None = Field(None, gt=0)  # training budget (teacher vectors not counted); best kept
    seed: int = 0
