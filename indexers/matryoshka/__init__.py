"""Matryoshka structure for any dense index: prefix transforms (PCA rotation, learned adaptor), low-dimensional
prefix indexes (fp32, int8, binary codes) and the shortlist-then-rescore funnel."""

from indexers.matryoshka.spec import CODES, FunnelOptions, FunnelSpec, MatryoshkaSpec
from indexers.matryoshka.transform import PrefixTransform

__all__ = ["CODES", "FunnelOptions", "FunnelSpec", "MatryoshkaSpec", "PrefixTransform"]
