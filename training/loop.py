"""The step loop the query-side trainers share (ADORE, distillation): AdamW with linear warm-up and decay, batches
drawn without replacement from a reshuffled pool, gradient clipping, a held-out score every ``eval_every`` steps,
the best-scoring weights kept, and a wall-clock budget past which it scores once more and stops."""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopSpec:
    steps: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    eval_every: int
    max_minutes: float | None
    seed: int


@dataclass(frozen=True)
class LoopResult:
    steps: int  # the steps run (fewer than asked when the budget ran out)
    best: float  # the held-out score of the weights kept
    curve: list[dict[str, Any]]  # step 0 and every evaluation: {"step", metric, "loss"}


def run_steps(model: Any, pool: Sequence[int], loss: Callable[[list[int]], Any], score: Callable[[], float],
              spec: LoopSpec, *, metric: str, desc: str, keep_last: bool = False,
              started: float | None = None) -> LoopResult:
    """Train ``model``'s trainable parameters on ``loss(batch of pool items)`` and load the best weights by
    ``score()`` (the last ones when ``keep_last``: nothing held out). The budget counts from ``started`` (now)."""
    import torch

    started = time.perf_counter() if started is None else started
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / spec.warmup_steps) * max(0.0, 1 - s / spec.steps))
    model.train()
    curve: list[dict[str, Any]] = [{"step": 0, metric: round(score(), 4)}]
    best, best_state = curve[0][metric], copy.deepcopy(model.state_dict())
    rng = random.Random(spec.seed + 1)
    queue: list[int] = []
    losses: list[float] = []
    step = 0
    for step in tqdm(range(1, spec.steps + 1), desc=desc, unit="step"):
        if len(queue) < spec.batch_size:
            queue += rng.sample(pool, len(pool))
        value = loss([queue.pop() for _ in range(spec.batch_size)])
        optimizer.zero_grad()
        value.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(value.detach()))
        out_of_time = spec.max_minutes is not None and time.perf_counter() - started > 60 * spec.max_minutes
        if step % spec.eval_every == 0 or step == spec.steps or out_of_time:
            now = round(score(), 4)
            curve.append({"step": step, metric: now, "loss": round(float(np.mean(losses[-spec.eval_every:])), 4)})
            log.info("%s step %d: loss %.4f, %s %.4f", desc, step, curve[-1]["loss"], metric, now)
            if now > best or keep_last:
                best, best_state = now, copy.deepcopy(model.state_dict())
        if out_of_time:
            log.warning("%s: %.0f-minute budget spent after %d of %d steps", desc, spec.max_minutes, step,
                        spec.steps)
            break
    model.load_state_dict(best_state)
    return LoopResult(step, best, curve)
