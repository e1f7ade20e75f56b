"""Every preset in configs/ trains, scores and reloads end to end, on its real dataset.

The hub models of the research (Mistral-7B, Llama-2/3.2, Gemma, Qwen2.5, Flan-T5, RoBERTa,
DistilBERT, XLM-R, BGE) cannot be downloaded here, and the packaged ones are too slow for a
test of every preset, so each transformer is replaced by a tiny randomly initialised model of the
same architecture (``tests/tiny_models.py``); the recipe (backend, head, LoRA targets, two-stage
schedule, context window, task, thresholds...) is the preset's own. Data are a small fixed sample
of the preset's real dataset; QLoRA presets run their LoRA recipe unquantised (no CUDA here: the
QLoRA path itself is refused with a message, tested in tests/models/test_causal_lm.py), and the
DeepSpeed / FSDP presets in one plain process (refused likewise: tests/training/test_distributed.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotune import load_run
from emotune.models.zoo import get_preset
from emotune.config import RunConfig
from emotune.training.trainer import train
from tests.tiny_models import build_tiny

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRESETS = sorted(CONFIGS.glob("*.yaml"))

# zoo preset -> architecture of its tiny stand-in
ARCH = {
    "minilm": "bert", "bge-small": "bert", "mpnet": "mpnet", "roberta-base": "roberta", "distilbert": "distilbert",
    "distilroberta": "roberta", "xlm-roberta-large": "xlm-roberta", "flan-t5-small": "t5",
    "smollm2": "llama", "llama2-7b": "llama", "llama3.2-1b": "llama", "llama3.2-3b-instruct": "llama",
    "mistral-7b-instruct": "mistral", "gemma-2b": "gemma", "gemma3-270m": "gemma3", "qwen2.5-1.5b": "qwen2",
    "qwen2.5-14b-instruct": "qwen2",
}
SMALL = ["data.max_train=40", "data.max_eval=12", "training.epochs=1", "training.max_length=48",
         "training.batch_size=8", "training.eval_batch_size=16", "training.grad_accum=1",
         "training.early_stopping_patience=0", "training.precision=fp32"]


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-archs")
    cache: dict[str, Path] = {}

    def get(arch: str) -> Path:
        if arch not in cache:
            cache[arch] = build_tiny(arch, root / arch)
        return cache[arch]

    return get


def _small_config(path: Path, tiny_dirs) -> RunConfig:
    cfg = RunConfig.load(path)
    overrides = list(SMALL)
    name = cfg.model.name
    preset = get_preset(name) if name else None
    if preset is not None and preset.name in ARCH:
        overrides.append(f"model.name={tiny_dirs(ARCH[preset.name])}")
    if cfg.model.model_dump().get("quantization", "none") != "none":  # what the QLoRA refusal tells a CPU user to do
        overrides += ["model.quantization=none", "training.optimizer=adamw_torch_fused"]
    dist = cfg.training.distributed
    if dist.deepspeed is not None or dist.fsdp is not None:  # what the refusal without CUDA tells a CPU user to do
        overrides += ["training.distributed.deepspeed=null", "training.distributed.fsdp=null"]
    if getattr(cfg.model, "layers", None):  # a shallower student: 1 of the tiny stand-in's 2 layers
        overrides.append("model.layers=1")
    if cfg.model.backend == "instruct":  # keeps its own max_length: the instructions alone take ~100 tokens
        overrides = [o for o in overrides if not o.startswith("training.max_length")]
        overrides.append("model.instruct.max_per_task=24")
    return RunConfig.load(path, overrides)


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_trains_scores_and_reloads(path, tiny_dirs, tmp_path):
    cfg = _small_config(path, tiny_dirs)
    result = train(cfg, tmp_path / cfg.name, progress=False)
    metrics = result.metrics
    assert metrics["test"], f"{path.stem}: no test metrics"
    primary = metrics["primary_metric"]
    assert np.isfinite(metrics["test"][primary]) or primary in ("pearson", "spearman")

    clf = load_run(result.run_dir)
    texts = ["I was so happy when my sister came home.", "He lied to me and I was furious."]
    scores = clf.predict_proba(texts)
    assert scores.shape == (2, len(clf.label_set))
    again = load_run(result.run_dir).predict_proba(texts)
    np.testing.assert_allclose(scores, again, rtol=1e-5, atol=1e-6)
