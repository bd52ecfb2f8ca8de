"""Keep server paths and upstream URLs out of what clients see: public answers and error messages are redacted,
and the full text goes to the server log instead."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]{},]+")
# An absolute (or ~ / ./ ../) path of two or more parts; API routes (/v1/..., /v2/...) are left alone.
_PATH = re.compile(r"(?<![\w.:/<>-])(?:~|\.{1,2})?/(?!v\d+/)(?:[\w.@+~-]+/)+[\w.@+~-]*")


def server_roots(*configured: Path | str) -> tuple[str, ...]:
    """Folders whose names say where things are on this server: the configured ones (as given and resolved),
    home, the temp folder and the working directory, longest first."""
    roots = {str(p) for p in configured if str(p) not in ("", ".")}
    roots |= {str(Path(p).resolve()) for p in configured if str(p) not in ("", ".")}
    roots |= {str(Path.home()), tempfile.gettempdir(), os.getcwd()}
    return tuple(sorted((r for r in roots if len(r) > 1), key=len, reverse=True))


def redact(text: str, roots: Iterable[str] = ()) -> str:
    """``text`` with URLs as ``<url>``; absolute paths, and paths under the ``roots`` (also relative ones), as
    ``<path>``."""
    text = _PATH.sub("<path>", _URL.sub("<url>", text))
    for root in roots:
        more = "*" if root.startswith("/") else "+"  # a relative root ("indexes") only counts as a path's start
        text = re.sub(rf"(?<![\w/.-]){re.escape(root)}(?:/[\w.@+~-]+){more}", "<path>", text)
    return text


def redact_tree(value: Any, roots: Iterable[str] = ()) -> Any:
    """``redact`` applied to every string in a JSON-like value."""
    roots = tuple(roots)
    if isinstance(value, str):
        return redact(value, roots)
    if isinstance(value, dict):
        return {k: redact_tree(v, roots) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v, roots) for v in value]
    return value
