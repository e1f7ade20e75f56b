"""Label scoring: the batched, cached scores equal token log-probabilities summed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotune.models import label_scoring as ls
from tests.tiny_models import build_tiny

TEXTS = ["I passed my exam and I am so happy", "he lied",
         "The plane shook violently in the storm at night and I was afraid"]
LABELS = ["joy", "sadness", "anger", "disappointment"]


def _load_causal(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return _load_causal(build_tiny("llama", tmp_path_factory.mktemp("llama")))


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    path = build_tiny("t5", tmp_path_factory.mktemp("t5"))
    return AutoModelForSeq2SeqLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def _by_hand_causal(model, prompts, labels) -> np.ndarray:
    """One unpadded forward per (prompt, label): sum over label tokens of log p(token | everything before)."""
    out = np.zeros((len(prompts), len(labels)))
    with torch.no_grad():
        for i, p in enumerate(prompts):
            for j, lab in enumerate(labels):
                logp = torch.log_softmax(model(torch.tensor([p + lab])).logits[0].double(), dim=-1)
                out[i, j] = sum(float(logp[len(p) - 1 + t, tok]) for t, tok in enumerate(lab))
    return out


def _causal_case(tok, prefix: str = "Classify emotion: which one is it? "):
    prompts = [tok(prefix + t + " Answer:")["input_ids"] for t in TEXTS]
    labels = [tok(" " + lab, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for lab in LABELS]
    return prompts, labels


@pytest.mark.parametrize("tree", [True, False], ids=["label-tree", "cache-copies"])
def test_causal_scores_equal_summed_token_logprobs(tiny_llama, tree, monkeypatch):
    model, tok = tiny_llama
    monkeypatch.setattr(ls, "_custom_masks_ok", lambda m: tree)  # False: attention without custom masks
    prompts, labels = _causal_case(tok)
    labels.append([tok.eos_token_id])  # a one-token label next to multi-token ones
    assert len({len(p) for p in prompts}) == 3 and len({len(x) for x in labels}) > 1  # padding is exercised
    expected = _by_hand_causal(model, prompts, labels)
    for kwargs in ({}, {"batch_size": 1}, {"share_prefix": False}):
        got = ls.causal_logliks(model, prompts, labels, **kwargs)
        assert got.shape == (3, 5)
        np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=str(kwargs))


def test_the_prompt_cache_is_reused_when_the_model_takes_one(tiny_llama, monkeypatch):
    # transformers renamed forward()'s past_key_values to cache: the shared-prefix path must still be
    # taken (it was silently skipped, and every (prompt, label) pair ran as a full sequence)
    model, tok = tiny_llama
    assert ls._cache_arg(model) in ("cache", "past_key_values")
    prompts, labels = _causal_case(tok)
    expected = _by_hand_causal(model, prompts, labels)

    def no_full(*args, **kwargs):
        raise AssertionError("scored every pair as a full sequence")

    monkeypatch.setattr(ls, "_causal_full", no_full)
    np.testing.assert_allclose(ls.causal_logliks(model, prompts, labels), expected, atol=1e-4)


def test_eager_attention(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny("qwen2", tmp_path)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager").eval()
    prompts, labels = _causal_case(AutoTokenizer.from_pretrained(path))
    np.testing.assert_allclose(ls.causal_logliks(model, prompts, labels), _by_hand_causal(model, prompts, labels),
                               atol=1e-4)


def test_causal_without_shared_prefix(tiny_llama):
    model, tok = tiny_llama
    prompts = [tok(t)["input_ids"] for t in TEXTS]  # only BOS in common: left padding from the start
    labels = _causal_case(tok)[1]
    np.testing.assert_allclose(ls.causal_logliks(model, prompts, labels), _by_hand_causal(model, prompts, labels),
                               atol=1e-4)


def test_sliding_window_model_longer_than_its_window(tmp_path):
    model, tok = _load_causal(build_tiny("gemma3", tmp_path))  # window of 64 tokens
    assert ls.sliding_window(model) == 64
    prompts, labels = _causal_case(tok, prefix="Classify emotion: which one is it? " * 6)
    assert max(len(p) for p in prompts) > 64
    np.testing.assert_allclose(ls.causal_logliks(model, prompts, labels), _by_hand_causal(model, prompts, labels),
                               atol=1e-4)


def test_seq2seq_scores_equal_summed_token_logprobs(tiny_t5):
    model, tok = tiny_t5
    prompts = [f"Classify emotion: {t}" for t in TEXTS]
    label_ids = ls.seq2seq_label_ids(tok, LABELS, max_target_length=10)
    assert all(ids[-1] == tok.eos_token_id for ids in label_ids)  # scored as complete answers
    expected = np.zeros((3, 4))
    with torch.no_grad():
        for i, p in enumerate(prompts):
            enc = tok(p, return_tensors="pt")
            for j, lab in enumerate(label_ids):
                dec_in = torch.tensor([[model.config.decoder_start_token_id] + lab[:-1]])
                logp = torch.log_softmax(model(**enc, decoder_input_ids=dec_in).logits[0].double(), dim=-1)
                expected[i, j] = sum(float(logp[t, tk]) for t, tk in enumerate(lab))
    for bs in (1, 2, 32):
        np.testing.assert_allclose(ls.seq2seq_logliks(model, tok, prompts, label_ids, batch_size=bs), expected,
                                   atol=1e-4)


def test_scores_leave_training_mode_alone(tiny_llama):
    model, tok = tiny_llama
    prompts, labels = _causal_case(tok)
    model.train()
    try:
        a = ls.causal_logliks(model, prompts, labels)
        assert model.training
        b = ls.causal_logliks(model, prompts, labels)
        np.testing.assert_array_equal(a, b)  # dropout was off while scoring
    finally:
        model.eval()


def test_helpers():
    assert ls.common_prefix_length([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert ls.common_prefix_length([[5], [6]]) == 0
    np.testing.assert_allclose(ls.reduce_scores(np.array([[-2.0, -6.0]]), [1, 3], "mean"), [[-2.0, -2.0]])
    np.testing.assert_array_equal(ls.reduce_scores(np.array([[-2.0]]), [4], "sum"), [[-2.0]])
    with pytest.raises(ValueError):
        ls.reduce_scores(np.zeros((1, 1)), [1], "max")
    with pytest.raises(ValueError, match="same tokens"):
        ls.check_distinct([[1, 2], [1, 2]], ["a", "b"])
    with pytest.raises(ValueError, match="nothing"):
        ls.check_distinct([[]], ["a"])


def test_empty_inputs(tiny_llama):
    model, _ = tiny_llama
    assert ls.causal_logliks(model, [], [[1]]).shape == (0, 1)


def _by_hand_checklist(model, prompts, slots, choices) -> np.ndarray:
    """One unpadded forward per slot: the first-token odds of yes vs no, then the more likely answer appended."""
    out = np.zeros((len(prompts), len(slots)))
    with torch.no_grad():
        for i, p in enumerate(prompts):
            seq = list(p) + list(slots[0])
            for j in range(len(slots)):
                logits = model(torch.tensor([seq])).logits[0, -1].double()
                out[i, j] = float(torch.softmax(logits[[choices[0][0], choices[1][0]]], dim=-1)[1])
                if j + 1 < len(slots):
                    seq += list(choices[1] if out[i, j] >= 0.5 else choices[0]) + list(slots[j + 1])
    return out


@pytest.mark.parametrize("batch_size", [1, 8])
def test_checklist_scores_equal_a_greedy_chain_scored_by_hand(tiny_llama, batch_size):
    model, tok = tiny_llama
    prompts = [tok("Classify emotion: which ones? " + t + " Answer:")["input_ids"] for t in TEXTS]
    slots = [tok(("\n" if j else "") + f"{e}:", add_special_tokens=False)["input_ids"] for j, e in enumerate(LABELS)]
    choices = (tok(" no", add_special_tokens=False)["input_ids"], tok(" yes", add_special_tokens=False)["input_ids"])
    assert len({len(p) for p in prompts}) == 3 and len(choices[0]) != len(choices[1])  # ragged steps exercised
    expected = _by_hand_checklist(model, prompts, slots, choices)
    got = ls.checklist_scores(model, prompts, slots, choices, batch_size=batch_size)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert ((got > 0) & (got < 1)).all()
    with pytest.raises(ValueError, match="first token"):
        ls.checklist_scores(model, prompts, slots, (choices[0], choices[0]))
    assert ls.checklist_scores(model, [], slots, choices).shape == (0, len(LABELS))
