"""Connecting to Ray: an existing cluster by address, or a local one for the length of a build (one laptop)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from indexers.sharding.layout import require_ray

CODE_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding indexers/, service/, ...


def local_runtime_env() -> dict[str, object]:
    """Workers import this checkout's Sieve (not another installed copy) and load models offline as the driver does."""
    path = os.pathsep.join(p for p in (CODE_ROOT, os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, "TOKENIZERS_PARALLELISM": os.environ.get("TOKENIZERS_PARALLELISM", "false")}
    if "HF_HUB_OFFLINE" in os.environ:
        env["HF_HUB_OFFLINE"] = os.environ["HF_HUB_OFFLINE"]
    return {"env_vars": env}


def init_local(num_cpus: int = 2, object_store_mb: int = 768) -> ModuleType:
    """Start a local Ray cluster (no dashboard, a bounded object store)."""
    ray = require_ray()
    ray.init(num_cpus=num_cpus, include_dashboard=False, runtime_env=local_runtime_env(),
             object_store_memory=object_store_mb * 1024 * 1024, log_to_driver=False)
    return ray


@contextmanager
def ray_cluster(address: str | None = None, num_cpus: int = 2) -> Iterator[ModuleType]:
    """Ray connected: already (kept as it is), to ``address`` (an existing cluster, where Sieve must be installed),
    or to a local cluster of ``num_cpus`` started here and shut down on exit."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        ray.init(address=address)
    else:
        init_local(num_cpus)
    try:
        yield ray
    finally:
        ray.shutdown()
