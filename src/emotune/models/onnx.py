"""An exported encoder served by onnxruntime: another predictor behind the classifier protocol.

``emotune export RUN --onnx`` (:mod:`emotune.export.onnx`) writes ``RUN/onnx/model.onnx`` (and
``model.int8.onnx``) with the tokenizer files; ``Run.open(RUN).load(onnx=True, int8=...)`` loads
them into :class:`OnnxClassifier`: callers switch backends with one flag and nothing else changes
(the sentence-transformers ``backend="onnx"`` idea). No torch at inference time. The softmax /
sigmoid stays outside the graph so that both paths share one definition of the scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotune.data.labels import Task
from emotune.errors import ModelError
from emotune.metrics import scores_from_logits
from emotune.models.base import EmotionClassifier
from emotune.runtime import available_cpus

FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
INPUT_NAMES = ("input_ids", "attention_mask")


#: a batch is cut where padding would exceed this fraction of its real tokens (see OnnxClassifier._batches)
PAD_SLACK = 0.1


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
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # one chain of nodes: no inter-op pool
        opts.log_severity_level = 3
        try:
            clf.session = ort.InferenceSession(str(onnx_file), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ModelError(f"Cannot load the ONNX model {onnx_file}: {exc}",
                             hint="Export it again with `emotune export RUN --onnx`.") from None
        clf.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        clf.onnx_file = Path(onnx_file)
        return clf

    def _forward(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """(batch, n_labels) logits of one padded batch; the one place a runtime is called."""
        return self.session.run(["logits"], feeds)[0]

    def predict_logits(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, len(self.label_set)), dtype=np.float32)
        batch_size = max(1, batch_size or int(self.training_config.eval_batch_size) or 64)
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length)
        order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))  # least padding
        out: list[np.ndarray | None] = [None] * len(texts)
        lengths = [len(ids) for ids in enc["input_ids"]]
        for idx in self._batches(order, batch_size, lengths):
            rows = [{k: enc[k][i] for k in INPUT_NAMES} for i in idx]
            batch = self.tokenizer.pad(rows, padding="max_length",
                                       max_length=self._padded_length(max(len(r["input_ids"]) for r in rows)),
                                       return_tensors="np")
            feeds = {k: np.asarray(batch[k], dtype=np.int64) for k in INPUT_NAMES}
            logits = self._forward(feeds)
            for j, i in enumerate(idx):
                out[i] = logits[j]
        return np.stack(out).astype(np.float32)

    def _batches(self, order: list[int], batch_size: int, lengths: Sequence[int]):
        """Consecutive runs of the length-sorted indices, ``batch_size`` at most, cut where padding
        would add more than :data:`PAD_SLACK` to the tokens the texts cost in batches of their own.

        On a CPU a padded token costs as much as a real one and a bigger batch saves little per text
        (MiniLM int8, one thread: 3.4 ms a text alone, 5.4 ms a text in batches of 16 random ISEAR
        texts), so a server's micro-batch of mixed lengths runs as a few batches of similar length."""
        group: list[int] = []
        alone = 0  # tokens the group's texts would cost each in a batch of its own
        for i in order:  # ascending length: text i sets the group's padded length if it joins
            own = self._padded_length(lengths[i])
            if group and (len(group) == batch_size or own * (len(group) + 1) > (1 + PAD_SLACK) * (alone + own)):
                yield group
                group, alone = [], 0
            group.append(i)
            alone += own
        if group:
            yield group

    def _padded_length(self, longest: int) -> int:
        """Sequence length of a batch whose longest text has ``longest`` tokens (onnxruntime: that one)."""
        return longest

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return scores_from_logits(self.task, self.predict_logits(texts, batch_size=batch_size))

    def fit(self, train, dev=None, *, output_dir=None, resume=False) -> list[dict]:
        raise ModelError("An ONNX export cannot be trained; train the encoder run and export it again")

    def _save(self, path: Path) -> dict:
        raise ModelError("An ONNX classifier is saved by `emotune export`, not save_pretrained")

    @classmethod
    def _load(cls, path: Path, meta: dict, **kwargs) -> OnnxClassifier:
        raise ModelError("Load ONNX exports with emotune.runs.Run.open(RUN).load(onnx=True)")
