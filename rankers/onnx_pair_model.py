"""The cross-encoder through ONNX Runtime: exported once from the model's own weights (``torch.onnx``, eager
attention so that ONNX Runtime's transformer optimizer can fuse attention, layer norms and GELU), optionally with
int8 dynamically quantised weights (``onnxruntime.quantization``), then served without torch in the loop.

Exports live in ``<model>/onnx/`` (``model.onnx``, ``model_qint8.onnx``, as sentence-transformers lays them out)
when the model folder is writable, else under ``~/.cache/sieve/onnx/``. Each export records a fingerprint of the
weights it came from; new weights are exported again on the next load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "config.json", "sieve_head.safetensors")


def _fingerprint(model_dir: Path) -> str:
    parts = [f"{name}:{st.st_size}:{st.st_mtime_ns}" for name in WEIGHT_FILES
             if (p := model_dir / name).is_file() and (st := p.stat())]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def export_folder(model_dir: Path, writable: bool | None = None) -> Path:
    """Where exports of ``model_dir`` go: its own ``onnx/`` when writable (a packaged model in site-packages may
    not be), else a per-model folder under ``~/.cache/sieve/onnx``."""
    own = model_dir / "onnx"
    if writable if writable is not None else os.access(model_dir, os.W_OK):
        return own
    digest = hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:16]
    return Path.home() / ".cache" / "sieve" / "onnx" / digest


# Encoders ONNX Runtime's BERT fusions apply to; other architectures are exported unfused.
FUSABLE = {"bert", "roberta", "xlm-roberta", "electra", "distilbert", "camembert"}


def _export_fp32(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rankers.similarity_cross_encoder import is_similarity_model, load_model

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if is_similarity_model(model_dir):
        model = load_model(model_dir)
        config = model.encoder.config
    else:
        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), num_labels=1,
                                                                   attn_implementation="eager").eval()
        config = model.config
    sample = tokenizer(["a query", "another query"], ["a passage", "a longer second passage"], padding=True,
                       return_tensors="pt")
    names = [n for n in INPUTS if n in sample]
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in names}
    raw = target.with_name("raw.onnx")
    with torch.no_grad():
        torch.onnx.export(model, tuple(sample[n] for n in names), str(raw), input_names=names,
                          output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    if config.model_type not in FUSABLE:
        raw.rename(target)
        return
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                           hidden_size=config.hidden_size)
    log.info("ONNX fusions: %s", {k: v for k, v in fused.get_fused_operator_statistics().items() if v})
    fused.save_model_to_file(str(target))


def ensure_export(model_dir: Path, quantize: str) -> Path:
    """The ONNX file for ``model_dir`` (exporting, and quantising, first when missing or stale)."""
    folder = export_folder(model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(model_dir)
    stamp = folder / "sieve_export.json"
    fp32, int8 = folder / "model.onnx", folder / "model_qint8.onnx"
    fresh = stamp.is_file() and json.loads(stamp.read_text()).get("fingerprint") == fingerprint
    if not fresh or not fp32.is_file():
        log.info("exporting %s to ONNX in %s", model_dir, folder)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            _export_fp32(model_dir, Path(tmp) / "model.onnx")
            os.replace(Path(tmp) / "model.onnx", fp32)  # atomic: a reader never sees half a file
        int8.unlink(missing_ok=True)
        stamp.write_text(json.dumps({"fingerprint": fingerprint, "source": str(model_dir)}) + "\n")
    if quantize == "int8" and not int8.is_file():
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        log.info("quantising %s to int8", fp32)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            # Fused ops (Attention, SkipLayerNormalization) are outside ONNX's type inference: say their type.
            quantize_dynamic(str(fp32), str(Path(tmp) / int8.name), weight_type=QuantType.QInt8,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            os.replace(Path(tmp) / int8.name, int8)
    return int8 if quantize == "int8" else fp32


class OnnxPairModel:
    """Raw logits from an exported one-logit sequence-classification model through ONNX Runtime.

    Args:
        path: the model folder (Hugging Face layout; the tokenizer loads from it).
        quantize: ``none`` (fp32 export) or ``int8`` (dynamically quantised weights).
    """

    def __init__(self, path: str, revision: str, max_length: int, device: str, quantize: str = "none") -> None:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        model_dir = Path(path)
        self.file = ensure_export(model_dir, quantize)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.revision = f"{revision}+onnx" + ("-int8" if quantize == "int8" else "")
        self.max_length = max_length
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session: Any = ort.InferenceSession(str(self.file), options, providers=providers)
        self._inputs = [i.name for i in self.session.get_inputs()]

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int) -> NDArray[np.float32]:
        out: list[NDArray[np.float32]] = []
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            enc = self.tokenizer([q for q, _ in chunk], [p for _, p in chunk], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="np")
            feed = {name: enc[name].astype(np.int64) for name in self._inputs}
            out.append(self.session.run(None, feed)[0].reshape(-1).astype(np.float32))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
