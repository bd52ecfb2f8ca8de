"""House rule: no module over 500 lines (aim for 300). Exits 1 naming the offenders."""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT = 500
PACKAGES = ("service", "indexers", "rankers", "evaluation", "sieve", "benchmarks")


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    over = [(p, n) for pkg in PACKAGES for p in (root / pkg).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > LIMIT]
    for path, n in over:
        sys.stderr.write(f"{path.relative_to(root)}: {n} lines (limit {LIMIT})\n")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
