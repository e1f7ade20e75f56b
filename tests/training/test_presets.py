"""Every preset in configs/ must load, name a real backend and a model the zoo knows."""

from pathlib import Path

import pytest

from emotune.models.registry import BACKENDS
from emotune.config import RunConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRESETS = sorted(CONFIGS.glob("*.yaml"))
REQUIRED = [
    "isear-minilm", "isear-mpnet", "isear-tfidf", "isear-embed-head", "isear-lexicon", "isear-smollm2-lora",
    "isear-smollm2-prompt", "isear-smollm2-fewshot", "isear-mistral7b-qlora", "isear-llama2-lora",
    "isear-flan-t5-small", "isear-roberta", "isear-distilbert", "isear-distilroberta", "isear-xlmr-two-stage",
    "goemotions-minilm", "goemotions-tfidf", "goemotions-embed-head", "semeval-ec-minilm", "semeval-ec-tfidf",
    "dair-emotion-minilm", "dair-emotion-tfidf", "goemotions-gemma2b-lora", "goemotions-qwen2.5-1.5b-lora",
    "goemotions-llama3.2-1b-lora", "isear-mistral7b-zeroshot",
]


def test_required_presets_exist():
    missing = sorted(set(REQUIRED) - {p.stem for p in PRESETS})
    assert not missing


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_preset_loads_and_names_known_things(path):
    from emotune.models.zoo import get_preset

    cfg = RunConfig.load(path)
    assert cfg.name == path.stem and cfg.description
    assert cfg.model.backend in BACKENDS
    if cfg.model.backend in ("tfidf", "ensemble"):
        assert cfg.model.name is None
    else:
        assert cfg.model.name and (get_preset(cfg.model.name) or "/" in cfg.model.name), cfg.model.name
    if cfg.data.dataset == "isear":
        assert cfg.data.split.group_by == "respondent_id"  # respondent-disjoint splits for ISEAR


def test_every_zoo_recipe_has_a_preset():
    from emotune.models.zoo import PRESETS as ZOO

    names = {p.name for p in PRESETS}
    missing = sorted(p.default_recipe for p in ZOO.values() if p.default_recipe and p.default_recipe not in names)
    assert not missing


def test_the_main_job_keeps_its_published_recipe():
    cfg = RunConfig.load(CONFIGS / "isear-minilm.yaml")
    assert (cfg.model.backend, cfg.model.name) == ("encoder", "minilm")
    t = cfg.training
    # chosen on dev: benchmarks/results/recipes-isear-minilm.json
    assert (t.epochs, t.batch_size, t.learning_rate, t.max_length) == (4, 16, 1e-4, 128)
    q = RunConfig.load(CONFIGS / "isear-mistral7b-qlora.yaml")
    assert (q.model.quantization, q.model.lora.r, q.model.lora.alpha, q.training.optimizer) == \
        ("4bit", 32, 64, "paged_adamw_32bit")
