"""ONNX export of encoder runs and a classifier that serves the exported graph with onnxruntime.

``export_onnx("runs/isear-minilm", int8=True)`` writes::

    runs/isear-minilm/onnx/
      model.onnx           fp32 graph: (input_ids, attention_mask) -> logits, dynamic batch and sequence
      model.int8.onnx      dynamic int8 quantisation of the MatMul/Gemm weights (with --int8)
      tokenizer files      so the ONNX classifier needs nothing from model/ but its metadata
      export.json          opset, versions, and the parity check against torch

:class:`OnnxClassifier` implements the classifier protocol (``predict_proba`` etc.) on top of an
``onnxruntime.InferenceSession``: callers switch backends with one flag and nothing else changes
(the sentence-transformers ``backend="onnx"`` idea). The softmax/sigmoid stays outside the graph
so that both paths share one definition of the scores.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotune.data.labels import Task
from emotune.errors import ModelError
from emotune.metrics import scores_from_logits
from emotune.models.base import EmotionClassifier
from emotune.runtime import available_cpus

log = logging.getLogger(__name__)

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
EXPORT_INFO = "export.json"
DEFAULT_OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask")
PARITY_TEXTS = ["I passed my exam and I am so happy!", "My dog died last week.",
                "He lied to me again and I was furious about it, really furious.",
                "A big dog ran towards me barking in the dark street at night and nobody was there to help."]


def onnx_model_path(run: str | Path, *, int8: bool = False, meta: dict | None = None) -> Path:
    """The exported graph of a run, or a :class:`ModelError` that says how to create it."""
    from emotune.serving.registry import read_model_meta, run_root

    if meta is None:
        _, meta = read_model_meta(run)
    path = run_root(run) / ONNX_DIR / (INT8_FILE if int8 else FP32_FILE)
    if not path.is_file():
        backend = meta.get("backend")
        if backend != "encoder":
            raise ModelError(f"{run} is a '{backend}' run; ONNX serving is available for encoder runs only")
        flag = " --int8" if int8 else ""
        raise ModelError(f"No ONNX export in {path.parent}{' (int8)' if int8 else ''}",
                         hint=f"Create it with `emotune export {run} --onnx{flag}`.")
    return path


# -- export -----------------------------------------------------------------------------------
@dataclass
class ExportResult:
    onnx_dir: Path
    files: dict[str, Path] = field(default_factory=dict)  # "fp32" / "int8" -> path
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # vs torch, on PARITY_TEXTS scores
    argmax_agree: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"onnx_dir": str(self.onnx_dir), "files": {k: str(v) for k, v in self.files.items()},
                "max_abs_diff_vs_torch": self.max_abs_diff, "argmax_agreement_vs_torch": self.argmax_agree,
                "seconds": round(self.seconds, 2)}


def _logits_module(model):
    import torch

    class Logits(torch.nn.Module):
        """(input_ids, attention_mask) -> logits; a plain tensor output for the exporter."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask)
            return out["logits"] if isinstance(out, dict) else out[0]

    return Logits(model).eval()


def export_onnx(run: str | Path, *, int8: bool = False, opset: int = DEFAULT_OPSET, check: bool = True
                ) -> ExportResult:
    """Export an encoder run to ``RUN/onnx/model.onnx`` (and ``model.int8.onnx`` with ``int8``)."""
    from emotune.serving.registry import read_model_meta, run_root

    started = time.perf_counter()
    model_dir, meta = read_model_meta(run)
    if meta.get("backend") != "encoder":
        raise ModelError(f"{run} is a '{meta.get('backend')}' run: ONNX export is available for encoder runs only",
                         hint="Fine-tune an encoder (model.backend: encoder) to get a run you can export.")
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ModelError("ONNX export needs the onnx extra", hint="pip install 'emotune[onnx]'") from None
    import torch

    from emotune.models.base import load_classifier

    clf = load_classifier(model_dir)
    out_dir = run_root(run) / ONNX_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    model = clf.model.to("cpu").float().eval()
    wrapper = _logits_module(model)
    sample = clf.tokenizer(PARITY_TEXTS[:2], padding=True, truncation=True, max_length=clf.max_length,
                           return_tensors="pt")
    args = (sample["input_ids"], sample["attention_mask"])
    fp32 = out_dir / FP32_FILE
    tmp = out_dir / (FP32_FILE + ".tmp")
    dynamic = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    dynamic["logits"] = {0: "batch"}
    with torch.inference_mode(), warnings.catch_warnings():
        # Tracer warnings about the attention-mask branches are expected: for an encoder they are
        # constant (no KV cache, no causal mask), which the parity check below confirms.
        warnings.simplefilter("ignore")
        # The TorchScript exporter (dynamo=False) handles HF encoders with dynamic axes reliably;
        # the dynamo exporter needs onnxscript and traces attention masks less predictably.
        torch.onnx.export(wrapper, args, str(tmp), input_names=list(INPUT_NAMES), output_names=["logits"],
                          dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True, dynamo=False)
    tmp.replace(fp32)
    clf.tokenizer.save_pretrained(out_dir)
    result = ExportResult(out_dir, {"fp32": fp32})
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q = out_dir / INT8_FILE
        qtmp = out_dir / (INT8_FILE + ".tmp.onnx")
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # quantize_dynamic logs a "consider pre-processing" hint on the root logger
        try:
            # per-channel scales with 7-bit weights (reduce_range: no int16 overflow in the u8s8
            # kernels of CPUs without VNNI): on the ISEAR MiniLM run the plain per-tensor default
            # lost 0.6 point of dev macro-F1, this keeps it (chosen on dev; BENCHMARKS.md)
            quantize_dynamic(str(fp32), str(qtmp), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
        finally:
            root.setLevel(level)
        qtmp.replace(q)
        result.files["int8"] = q
    if check:
        ref = clf.predict_proba(PARITY_TEXTS)
        for kind, path in result.files.items():
            got = OnnxClassifier.from_files(path, out_dir, meta, max_length=clf.max_length).predict_proba(PARITY_TEXTS)
            result.max_abs_diff[kind] = float(np.abs(got - ref).max())
            if clf.task != Task.REGRESSION:
                result.argmax_agree[kind] = float((got.argmax(1) == ref.argmax(1)).mean())
        if result.max_abs_diff.get("fp32", 0.0) > 1e-3:
            raise ModelError(f"The exported graph disagrees with torch (max |diff| {result.max_abs_diff['fp32']:.2e})",
                             hint="Try another --opset.")
    result.seconds = time.perf_counter() - started
    import onnxruntime
    import transformers

    info = {"source_model_dir": str(model_dir), "opset": opset, "max_length": clf.max_length,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__, **result.to_dict()}
    (out_dir / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return result


# -- inference --------------------------------------------------------------------------------
class OnnxClassifier(EmotionClassifier):
    """An exported encoder served by onnxruntime; same protocol, no torch at inference time."""

    backend = "onnx"
    trainable = False

    def __init__(self, label_set, model_config=None, training_config=None):
        super().__init__(label_set, model_config, training_config)
        self.session = None
        self.tokenizer = None
        self.onnx_file: Path | None = None
        self._max_length = int(self.training_config.max_length)

    @property
    def max_length(self) -> int:
        return self._max_length

    def describe(self) -> str:
        return f"onnx:{self.model_config.name or ''}"

    @classmethod
    def from_files(cls, onnx_file: str | Path, tokenizer_dir: str | Path, meta: dict, *,
                   max_length: int | None = None, threads: int | None = None) -> OnnxClassifier:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        label_set, model_config, training_config = cls.configs_from_meta(meta)
        clf = cls(label_set, model_config, training_config)
        clf._restore_common(meta)
        if max_length or (meta.get("encoder") or {}).get("max_length"):
            clf._max_length = int(max_length or meta["encoder"]["max_length"])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or available_cpus()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            clf.session = ort.InferenceSession(str(onnx_file), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ModelError(f"Cannot load the ONNX model {onnx_file}: {exc}",
                             hint="Export it again with `emotune export RUN --onnx`.") from None
        clf.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        clf.onnx_file = Path(onnx_file)
        return clf

    @classmethod
    def from_run(cls, run: str | Path, *, int8: bool = False, threads: int | None = None) -> OnnxClassifier:
        from emotune.serving.registry import read_model_meta

        _, meta = read_model_meta(run)
        path = onnx_model_path(run, int8=int8, meta=meta)
        return cls.from_files(path, path.parent, meta, threads=threads)

    def predict_logits(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, len(self.label_set)), dtype=np.float32)
        batch_size = max(1, batch_size or int(self.training_config.eval_batch_size) or 64)
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))  # least padding
        out: list[np.ndarray | None] = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            batch = self.tokenizer.pad([{k: enc[k][i] for k in INPUT_NAMES} for i in idx], return_tensors="np")
            feeds = {k: np.asarray(batch[k], dtype=np.int64) for k in INPUT_NAMES}
            logits = self.session.run(["logits"], feeds)[0]
            for j, i in enumerate(idx):
                out[i] = logits[j]
        return np.stack(out).astype(np.float32)

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return scores_from_logits(self.task, self.predict_logits(texts, batch_size=batch_size))

    def fit(self, train, dev=None, *, output_dir=None, resume=False) -> list[dict]:
        raise ModelError("An ONNX export cannot be trained; train the encoder run and export it again")

    def _save(self, path: Path) -> dict:
        raise ModelError("An ONNX classifier is saved by `emotune export`, not save_pretrained")

    @classmethod
    def _load(cls, path: Path, meta: dict, **kwargs) -> OnnxClassifier:
        raise ModelError("Load ONNX exports with OnnxClassifier.from_run(RUN)")
