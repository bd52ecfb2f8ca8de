"""Sharded collections (scale-out on Ray): document -> shard by a stable hash, global BM25 statistics, the Ray build
and the shard server a Ray actor wraps. Ray is imported only inside the functions that need it (``require_ray``)."""

from indexers.sharding.layout import SHARDED_FILE, ShardedManifest, is_sharded, require_ray, shard_of
from indexers.sharding.stats import CorpusStats

__all__ = ["SHARDED_FILE", "CorpusStats", "ShardedManifest", "is_sharded", "require_ray", "shard_of"]
