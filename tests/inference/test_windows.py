import numpy as np
import pytest

from emotune.config import ContextConfig
from emotune.data.labels import LabelSet, Task
from emotune.inference.windows import aggregate, expand, predict_proba_long, token_windows, windower_for, word_windows
from emotune.models.inputs import InputSpec
from tests.tiny_models import _tokenizer_for


class _Keyword:
    """A classifier that scores a window 'joy' when it contains 'happy' and 'anger' when it contains 'furious'."""

    input_spec = InputSpec()
    max_length = None  # the protocol's defaults (EmotionClassifier): no length limit, no tokenizer
    tokenizer = None

    def __init__(self, task=Task.SINGLE, max_length=None, tokenizer=None):
        self.label_set = LabelSet(("joy", "anger"), task)
        self.task = task
        if max_length:
            self.max_length = max_length
        if tokenizer is not None:
            self.tokenizer = tokenizer
        self.seen: list[str] = []

    def predict_proba(self, texts, batch_size=None):
        self.seen.extend(texts)
        out = []
        for t in texts:
            joy, anger = float("happy" in t), float("furious" in t)
            out.append([0.9, 0.1] if joy and not anger else [0.1, 0.9] if anger and not joy else [0.5, 0.5])
        return np.array(out)


def test_word_windows_overlap_and_cover_everything():
    text = " ".join(f"w{i}" for i in range(100))
    windows = word_windows(text, 40)
    assert len(windows) > 1 and windows[0].startswith("w0 ") and windows[-1].endswith("w99")
    assert all(len(w.split()) <= 40 for w in windows)
    assert set(" ".join(windows).split()) == set(text.split())  # nothing dropped
    assert windows[1].split()[0] in windows[0].split()  # consecutive windows overlap
    assert word_windows("short text", 40) == ["short text"]


def test_token_windows_fit_the_model_and_cover_the_text():
    tok = _tokenizer_for("bert")
    clf = _Keyword(max_length=24, tokenizer=tok)
    text = "I was happy at the start. " * 5 + "Then he lied to me and I was furious. " * 5
    [windows] = windower_for(clf)([text])
    assert len(windows) > 2
    assert all(len(tok(w)["input_ids"]) <= 24 for w in windows)  # special tokens included
    assert all(w in text for w in windows)  # substrings of the original: nothing rewritten
    joined = " ".join(windows)
    assert all(word in joined for word in ("happy", "furious", "lied"))
    assert token_windows("I was happy", tok, 20) == ["I was happy"]


def test_long_text_mean_for_single_label_max_for_multi_label():
    text = ("I was happy. " * 30) + ("I was furious. " * 30)
    single = _Keyword(Task.SINGLE, max_length=16)
    scores, counts = predict_proba_long(single, [text, "happy"])
    assert counts[0] > 2 and counts[1] == 1
    assert np.allclose(scores.sum(axis=1), 1)
    assert 0.1 < scores[0, 0] < 0.9 and 0.1 < scores[0, 1] < 0.9  # both halves count
    assert np.allclose(scores[1], [0.9, 0.1])

    multi = _Keyword(Task.MULTI, max_length=16)
    scores, _ = predict_proba_long(multi, [text])
    assert np.allclose(scores[0], [0.9, 0.9])  # joy somewhere and anger somewhere: both present


def test_backends_without_a_length_limit_see_the_whole_text():
    clf = _Keyword()
    text = "happy " * 5000
    assert windower_for(clf) is None
    w = expand(clf, [text])
    assert w.windows == [text] and w.counts.tolist() == [1]


def test_aggregate_keeps_rows_when_nothing_was_split():
    scores = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert np.allclose(aggregate(Task.MULTI, scores, np.array([0, 1]), 2), scores)


@pytest.mark.parametrize("task", [Task.SINGLE, Task.MULTI, Task.REGRESSION])
def test_aggregate_shapes(task):
    scores = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    out = aggregate(task, scores, np.array([0, 0, 1]), 2)
    assert out.shape == (2, 2)
    expected_first = [0.6, 0.8] if task == Task.MULTI else [0.4, 0.6]
    assert np.allclose(out[0], expected_first) and np.allclose(out[1], [0.5, 0.5])


def test_context_runs_read_the_end_of_their_input_instead_of_windows():
    tok = _tokenizer_for("bert")
    clf = _Keyword(max_length=16, tokenizer=tok)
    clf.input_spec = InputSpec(context=ContextConfig(window=2))  # what training on dialogue context saves
    history = "Monica: I am happy. " * 40
    assert windower_for(clf) is None
    w = expand(clf, [history + ">> Ross: I am furious."])
    assert w.counts.tolist() == [1]  # one input, truncated from the left by the model, like in training
