"""The client package imports with only httpx and pydantic: the server's heavy stack is blocked and never loaded."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import sys

    HEAVY = {"torch", "faiss", "fastapi", "starlette", "uvicorn", "numpy", "sentence_transformers", "pyserini",
             "onnxruntime", "transformers", "service", "indexers", "rankers", "evaluation", "sieve"}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HEAVY:
                raise ImportError(f"sieve_client must not import {name}")
            return None

    sys.meta_path.insert(0, Blocker())
    import sieve_client
    from sieve_client import AsyncSieveClient, SieveClient

    SieveClient("http://127.0.0.1:9").close()
    AsyncSieveClient("http://127.0.0.1:9")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
    assert not loaded, loaded
    """
)


def test_client_imports_without_server_dependencies() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
