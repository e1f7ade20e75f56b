"""OpenVINO export of encoder runs (served by :class:`emotune.models.openvino.OpenVinoClassifier`).

``export_openvino("runs/isear-minilm", int8=True)`` converts the run's ONNX graph (exported first
when missing) and writes::

    runs/isear-minilm/openvino/
      model.xml, model.bin             fp32 graph in OpenVINO's own format
      model.int8.xml, model.int8.bin   NNCF post-training quantisation (with --int8): int8
                                       activations and weights, calibrated on the run's train texts
      tokenizer files, export.json     calibration, versions, and the parity check against torch

Why static int8 here and dynamic int8 in ``export/onnx.py``: on the development machine (AVX-512
VNNI) OpenVINO running the dynamically quantised ONNX graph was 3x slower than onnxruntime, and
its plain fp32 graph no faster than onnxruntime's int8; NNCF's calibrated graph was the fastest
path with the same macro-F1 (BENCHMARKS.md).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotune.errors import ModelError
from emotune.export.onnx import ExportResult, check_parity, export_onnx
from emotune.models.onnx import FP32_FILE as ONNX_FILE
from emotune.models.onnx import INPUT_NAMES
from emotune.models.openvino import FP32_FILE, INT8_FILE, MISSING_HINT, OpenVinoClassifier, import_openvino
from emotune.runs import PREDICTIONS_DIR, Run, load_splits

log = logging.getLogger(__name__)

EXPORT_INFO = "export.json"
#: texts NNCF runs through the graph to choose activation ranges (300 is NNCF's own default)
CALIBRATION_TEXTS = 300


def calibration_texts(source: Run, n: int) -> tuple[list[str], str]:
    """The first ``n`` train texts of the run (re-created from its config), or, when its data is not
    on this machine, its stored dev texts; and where they came from. Never test texts."""
    try:
        texts = list(load_splits(source.path).train.texts)
        where = "train split"
    except Exception as exc:  # noqa: BLE001 - data missing or changed: any loader error means "not here"
        dev = source.path / PREDICTIONS_DIR / "dev_texts.json"
        if not dev.is_file():
            raise ModelError(f"No texts to calibrate the int8 model of {source.path}: the train split cannot "
                             f"be re-created ({exc}) and {dev} is missing",
                             hint="Make the run's dataset available (EMOTUNE_DATA_DIR) and export again.") from None
        texts = [str(t) for t in json.loads(dev.read_text(encoding="utf-8"))]
        where = f"dev texts (train split unavailable: {type(exc).__name__})"
    texts = [t for t in texts if t.strip()][:n]
    if not texts:
        raise ModelError(f"No texts to calibrate the int8 model of {source.path}")
    return texts, where


def _quantize(ov, fp32_model, tokenizer, texts: list[str], max_length: int):
    try:
        import nncf
    except ImportError:
        raise ModelError("An int8 OpenVINO export needs NNCF", hint=MISSING_HINT) from None
    items = []
    for text in texts:  # one text per item: ranges seen on real lengths, no padding
        enc = tokenizer([text], truncation=True, max_length=max_length, return_tensors="np")
        items.append({k: np.asarray(enc[k], dtype=np.int64) for k in INPUT_NAMES})
    logging.getLogger("nncf").setLevel(logging.ERROR)
    return nncf.quantize(fp32_model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER,
                         preset=nncf.QuantizationPreset.MIXED, subset_size=len(items))


def _save(ov, model, path: Path) -> None:
    """Write ``path`` (.xml) and its .bin under temporary names first: a cut export is never loaded."""
    tmp = path.with_name(path.stem + ".tmp.xml")
    ov.save_model(model, str(tmp), compress_to_fp16=False)
    tmp.with_suffix(".bin").replace(path.with_suffix(".bin"))
    tmp.replace(path)


def export_openvino(run: str | Path, *, int8: bool = False, calibration: int = CALIBRATION_TEXTS,
                    texts: Sequence[str] | None = None, check: bool = True) -> ExportResult:
    """Write ``RUN/openvino/model.xml`` (and ``model.int8.xml`` with ``int8``) from the run's ONNX graph.

    ``texts``: calibration texts for ``int8`` instead of the run's first ``calibration`` train texts."""
    started = time.perf_counter()
    ov = import_openvino()
    source = Run.open(run)
    meta = source.meta
    if meta.get("backend") != "encoder":
        raise ModelError(f"{run} is a '{meta.get('backend')}' run: OpenVINO export is available for encoder runs only",
                         hint="Fine-tune an encoder (model.backend: encoder) to get a run you can export.")
    onnx_file = source.onnx_dir / ONNX_FILE
    if not onnx_file.is_file():  # also refuses non-encoder runs with export_onnx's message
        export_onnx(run, check=check)
    clf = source.load()
    out_dir = source.openvino_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    model = ov.convert_model(str(onnx_file))
    fp32 = out_dir / FP32_FILE
    _save(ov, model, fp32)
    clf.tokenizer.save_pretrained(out_dir)
    result = ExportResult(out_dir, {"fp32": fp32})
    info: dict = {}
    if int8:
        if texts is not None:
            texts, where = [str(t) for t in texts if str(t).strip()][:calibration], "given texts"
        else:
            texts, where = calibration_texts(source, calibration)
        if not texts:
            raise ModelError("No texts to calibrate the int8 model with")
        q = _quantize(ov, model, clf.tokenizer, texts, clf.max_length)
        _save(ov, q, out_dir / INT8_FILE)
        result.files["int8"] = out_dir / INT8_FILE
        info["calibration"] = {"texts": len(texts), "from": where, "method": "nncf.quantize, TRANSFORMER, MIXED"}
    if check:
        check_parity(clf, result, OpenVinoClassifier, out_dir, meta, what="The OpenVINO graph",
                     hint="Export the ONNX graph again (emotune export RUN --onnx) and retry.")
    result.seconds = time.perf_counter() - started
    done = result.to_dict()
    done["openvino_dir"] = done.pop("onnx_dir")
    info = {"source_onnx": str(onnx_file), "max_length": clf.max_length, "openvino": ov.__version__, **info, **done}
    (out_dir / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return result
