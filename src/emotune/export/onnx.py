"""ONNX export of encoder runs (the graph is served by :class:`emotune.models.onnx.OnnxClassifier`).

``export_onnx("runs/isear-minilm", int8=True)`` writes::

    runs/isear-minilm/onnx/
      model.onnx           fp32 graph: (input_ids, attention_mask) -> logits, dynamic batch and sequence
      model.int8.onnx      dynamic int8 quantisation of the MatMul/Gemm weights (with --int8)
      tokenizer files      so the ONNX classifier needs nothing from model/ but its metadata
      export.json          opset, versions, and the parity check against torch

``Run.open(RUN).load(onnx=True, int8=...)`` loads the export as just another classifier.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotune import atomic
from emotune.data.labels import Task
from emotune.errors import ModelError
from emotune.models.onnx import FP32_FILE, INPUT_NAMES, INT8_FILE, OnnxClassifier
from emotune.runs import Run

log = logging.getLogger(__name__)

EXPORT_INFO = "export.json"
DEFAULT_OPSET = 17
PARITY_TEXTS = ["I passed my exam and I am so happy!", "My dog died last week.",
                "He lied to me again and I was furious about it, really furious.",
                "A big dog ran towards me barking in the dark street at night and nobody was there to help."]


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


def check_parity(clf, result: ExportResult, loader, out_dir: Path, meta: dict, *, what: str, hint: str) -> None:
    """Each exported file (loaded by ``loader.from_files``) against the torch model on PARITY_TEXTS:
    max |diff| and argmax agreement into ``result``; fp32 off by more than 1e-3 is a ModelError."""
    ref = clf.predict_proba(PARITY_TEXTS)
    for kind, path in result.files.items():
        got = loader.from_files(path, out_dir, meta, max_length=clf.max_length).predict_proba(PARITY_TEXTS)
        result.max_abs_diff[kind] = float(np.abs(got - ref).max())
        if clf.task != Task.REGRESSION:
            result.argmax_agree[kind] = float((got.argmax(1) == ref.argmax(1)).mean())
    if result.max_abs_diff.get("fp32", 0.0) > 1e-3:
        raise ModelError(f"{what} disagrees with torch (max |diff| {result.max_abs_diff['fp32']:.2e})", hint=hint)


def export_onnx(run: str | Path, *, int8: bool = False, opset: int = DEFAULT_OPSET, check: bool = True
                ) -> ExportResult:
    """Export an encoder run to ``RUN/onnx/model.onnx`` (and ``model.int8.onnx`` with ``int8``)."""
    started = time.perf_counter()
    source = Run.open(run)
    model_dir, meta = source.model_dir, source.meta
    if meta.get("backend") != "encoder":
        raise ModelError(f"{run} is a '{meta.get('backend')}' run: ONNX export is available for encoder runs only",
                         hint="Fine-tune an encoder (model.backend: encoder) to get a run you can export.")
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ModelError("ONNX export needs the onnx extra", hint="pip install 'emotune[onnx]'") from None
    import torch

    clf = source.load()
    final_dir = source.onnx_dir
    # built in a hidden sibling and swapped in whole once checked: RUN/onnx is always the previous
    # export or the new one, never a mix (a kill, a full disk or a failed parity check in between)
    trash = final_dir.with_name(f".{final_dir.name}.replaced")
    atomic.recover_swap(final_dir, trash)
    out_dir = final_dir.with_name(f".{final_dir.name}.new")
    if out_dir.exists():
        shutil.rmtree(out_dir)  # an export that did not finish
    out_dir.mkdir(parents=True)
    model = clf.model.to("cpu").float().eval()
    wrapper = _logits_module(model)
    sample = clf.tokenizer(PARITY_TEXTS[:2], padding=True, truncation=True, max_length=clf.max_length,
                           return_tensors="pt")
    args = (sample["input_ids"], sample["attention_mask"])
    fp32 = out_dir / FP32_FILE
    dynamic = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    dynamic["logits"] = {0: "batch"}
    with torch.inference_mode(), warnings.catch_warnings():
        # Tracer warnings about the attention-mask branches are expected: for an encoder they are
        # constant (no KV cache, no causal mask), which the parity check below confirms.
        warnings.simplefilter("ignore")
        # The TorchScript exporter (dynamo=False) handles HF encoders with dynamic axes reliably;
        # the dynamo exporter needs onnxscript and traces attention masks less predictably.
        torch.onnx.export(wrapper, args, str(fp32), input_names=list(INPUT_NAMES), output_names=["logits"],
                          dynamic_axes=dynamic, opset_version=opset, do_constant_folding=True, dynamo=False)
    clf.tokenizer.save_pretrained(out_dir)
    result = ExportResult(out_dir, {"fp32": fp32})
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q = out_dir / INT8_FILE
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # quantize_dynamic logs a "consider pre-processing" hint on the root logger
        try:
            # per-channel scales with 7-bit weights (reduce_range: no int16 overflow in the u8s8
            # kernels of CPUs without VNNI): on the ISEAR MiniLM run the plain per-tensor default
            # lost 0.6 point of dev macro-F1, this keeps it (chosen on dev; BENCHMARKS.md)
            quantize_dynamic(str(fp32), str(q), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
        finally:
            root.setLevel(level)
        result.files["int8"] = q
    if check:
        check_parity(clf, result, OnnxClassifier, out_dir, meta, what="The exported graph", hint="Try another --opset.")
    result.seconds = time.perf_counter() - started
    import onnxruntime
    import transformers

    info = {"source_model_dir": str(model_dir), "opset": opset, "max_length": clf.max_length,
            "torch": torch.__version__, "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__, **result.to_dict()}
    info["onnx_dir"] = str(final_dir)
    info["files"] = {k: str(final_dir / v.name) for k, v in result.files.items()}
    (out_dir / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    for path in out_dir.iterdir():  # durable before the swap makes them the export
        atomic.fsync_file(path)
    atomic.swap_dir(out_dir, final_dir, trash)
    result.onnx_dir = final_dir
    result.files = {k: final_dir / v.name for k, v in result.files.items()}
    return result
