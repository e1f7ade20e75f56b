"""An exported encoder run by OpenVINO: the ONNX classifier's tokenising and batching, another runtime.

``emotune export RUN --openvino [--int8]`` (:mod:`emotune.export.openvino`) converts the run's ONNX
graph to OpenVINO's own files (``RUN/openvino/model.xml`` + ``model.bin``; with ``--int8`` an
NNCF-quantised ``model.int8.xml`` + ``.bin``, activations and weights in int8) beside the tokenizer.
``Run.open(RUN).load(runtime="openvino", int8=...)`` loads them into :class:`OpenVinoClassifier`.
Only ``.xml``/``.bin``/JSON files are read: no pickles.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from emotune.errors import ModelError
from emotune.models.onnx import OnnxClassifier
from emotune.runtime import available_cpus

FP32_FILE = "model.xml"
INT8_FILE = "model.int8.xml"
#: sequence lengths are padded up to a multiple of this (see OpenVinoClassifier._batches)
LENGTH_STEP = 16
MISSING_HINT = "pip install 'emotune[openvino]' (OpenVINO runtime; NNCF too for --int8 exports)"


def import_openvino():
    """The ``openvino`` module, or a :class:`ModelError` that says how to install it."""
    try:
        import openvino
    except ImportError:
        raise ModelError("The OpenVINO runtime is not installed", hint=MISSING_HINT) from None
    return openvino


def compile_config(threads: int) -> dict:
    """CPU plugin settings for a server or an offline job that owns ``threads`` cores.

    f32 as the precision of whatever is not int8: OpenVINO would otherwise pick bf16 on CPUs that
    have it, which moves the fp32 graph's scores away from torch's; the int8 graph ran as fast with
    f32 as with bf16 on the development machine (BENCHMARKS.md).
    """
    return {"INFERENCE_NUM_THREADS": int(threads), "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32"}


class OpenVinoClassifier(OnnxClassifier):
    """An exported encoder served by OpenVINO's CPU plugin; same protocol, no torch at inference time."""

    backend = "openvino"

    def __init__(self, label_set, model_config=None, training_config=None):
        super().__init__(label_set, model_config, training_config)
        self.compiled = None
        self._local = threading.local()  # an infer request is not thread-safe: one per calling thread

    def describe(self) -> str:
        return f"openvino:{self.model_config.name or ''}"

    @classmethod
    def from_files(cls, model_file: str | Path, tokenizer_dir: str | Path, meta: dict, *,
                   max_length: int | None = None, threads: int | None = None) -> OpenVinoClassifier:
        ov = import_openvino()
        from transformers import AutoTokenizer

        label_set, model_config, training_config = cls.configs_from_meta(meta)
        clf = cls(label_set, model_config, training_config)
        clf._restore_common(meta)
        if max_length or (meta.get("encoder") or {}).get("max_length"):
            clf._max_length = int(max_length or meta["encoder"]["max_length"])
        try:
            core = ov.Core()
            clf.compiled = core.compile_model(core.read_model(str(model_file)), "CPU",
                                              compile_config(threads or available_cpus()))
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError with its own message
            raise ModelError(f"Cannot load the OpenVINO model {model_file}: {str(exc).strip().splitlines()[0]}",
                             hint="Export it again with `emotune export RUN --openvino`.") from None
        clf.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        clf.onnx_file = Path(model_file)  # the file the predictions come from, whatever its format
        return clf

    def _batches(self, order: list[int], batch_size: int, lengths):
        """Power-of-two batch sizes (13 texts: 8 + 4 + 1) and, in :meth:`_padded_length`, lengths
        rounded up to :data:`LENGTH_STEP`: OpenVINO prepares (and keeps, ~4 MiB each) kernels for
        every new input shape, which made a server that saw every (texts, tokens) pair 3x slower
        and 2.5x larger than onnxruntime (BENCHMARKS.md); a few dozen shapes are prepared once."""
        for chunk in super()._batches(order, batch_size, lengths):
            while chunk:
                size = 1 << (len(chunk).bit_length() - 1)
                yield chunk[:size]
                chunk = chunk[size:]

    def _padded_length(self, longest: int) -> int:
        rounded = -(-longest // LENGTH_STEP) * LENGTH_STEP
        return rounded if rounded <= self.max_length else longest

    def _forward(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        # copy: the output tensor is the request's own buffer, overwritten by its next call
        return np.array(request.infer(feeds)[0], dtype=np.float32, copy=True)

    @classmethod
    def _load(cls, path: Path, meta: dict, **kwargs) -> OpenVinoClassifier:
        raise ModelError("Load OpenVINO exports with emotune.runs.Run.open(RUN).load(runtime='openvino')")
