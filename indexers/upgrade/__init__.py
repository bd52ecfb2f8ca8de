"""Model upgrades without re-indexing first (``sieve index upgrade``): map model B's queries into the index's space
at once (``mapping``), re-encode the documents with B in the background, resumably (``scratch``), then swap a
rebuilt index in (``run``)."""

from indexers.upgrade.run import run_upgrade, swap
from indexers.upgrade.spec import UpgradeRequest, UpgradeStatus, mapped_name, scratch_dir

__all__ = ["UpgradeRequest", "UpgradeStatus", "mapped_name", "run_upgrade", "scratch_dir", "swap"]
