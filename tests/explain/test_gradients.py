"""Integrated Gradients on tiny random transformers (and the real MiniLM, slow)."""

import numpy as np
import pytest
import torch

from emotune.explain import explain_texts, resolve_method
from emotune.explain.gradients import integrated_gradients
from emotune.explain.words import words_of
from emotune.runs import Run

TEXT = "i feel happy today because we won"  # words only: every non-special token belongs to a word


def _baseline_output(clf, text: str, col: int) -> float:
    tok = clf.tokenizer
    enc = tok([text], return_tensors="pt", return_special_tokens_mask=True)
    special = enc.pop("special_tokens_mask").bool()
    ids = torch.where(special, enc["input_ids"], torch.full_like(enc["input_ids"], tok.pad_token_id))
    with torch.no_grad():
        logits = clf.model(input_ids=ids, attention_mask=enc["attention_mask"]).logits
    return float(torch.softmax(logits, -1)[0, col])


def test_word_scores_add_up_to_the_change_from_the_baseline(tiny_encoder_run):
    clf = Run.open(tiny_encoder_run).load()
    assert resolve_method(clf) == "integrated-gradients"
    probs = clf.predict_proba([TEXT])[0]
    col = int(np.argmax(probs))
    [scores] = integrated_gradients(clf, [TEXT], [words_of(TEXT)], [col], n_steps=64)
    assert scores.shape == (len(words_of(TEXT)),)
    change = probs[col] - _baseline_output(clf, TEXT, col)
    assert scores.sum() == pytest.approx(change, abs=max(2e-3, 0.05 * abs(change)))


def test_batched_texts_get_the_scores_they_get_alone(tiny_encoder_run):
    clf = Run.open(tiny_encoder_run).load()
    texts = [TEXT, "a short one", "the dog barked at night and i was afraid"]
    together = explain_texts(clf, texts, batch_size=3)
    alone = [explain_texts(clf, [t], batch_size=1)[0] for t in texts]
    for a, b in zip(together, alone):
        np.testing.assert_allclose([w["score"] for w in a.words], [w["score"] for w in b.words], atol=1e-4)


def test_causal_lm_lora_is_explained_with_gradients(tmp_path):
    from emotune.config import CausalLMModelConfig, TrainingConfig
    from emotune.models.causal_lm import CausalLMClassifier
    from tests.fixtures.toy import templated
    from tests.tiny_models import build_tiny

    data = templated("single_label")
    clf = CausalLMClassifier(data.label_set, CausalLMModelConfig(name=str(build_tiny("llama", tmp_path / "llama"))),
                             TrainingConfig(epochs=1, max_steps=1, batch_size=8, max_length=32, threads=1))
    clf.fit(data)
    [e] = explain_texts(clf, ["we won the match and i was so happy"], label=data.label_set.names[0])
    assert e.method == "integrated-gradients"
    assert [w["word"] for w in e.words] == "we won the match and i was so happy".split()
    assert any(w["score"] != 0 for w in e.words)


@pytest.mark.slow
def test_minilm_scores_words_with_gradients(minilm_run):
    clf = Run.open(minilm_run).load()
    [e] = explain_texts(clf, ["I passed my exam and I am so happy!"])
    assert e.method == "integrated-gradients"
    assert len(e.words) == 9 and all(np.isfinite(w["score"]) for w in e.words)
    assert sum(abs(w["score"]) for w in e.words) > 0
