"""Runs trained on "<emotion>: <text>" inputs (data.text_prefix_col): per-emotion metrics when trained,
one intensity per emotion when served (predict, annotate, the API's label set)."""

import csv
import json

import numpy as np
import pytest

from emotune.errors import ConfigError
from emotune.inference.annotate import annotate_file, load_annotators
from emotune.inference.predict import predict_texts, read_output
from emotune.models.inputs import PrefixedClassifier
from emotune.runs import Run
from emotune.serving.registry import ModelRegistry
from emotune.config import RunConfig
from emotune.training.trainer import train

WORDS = {"anger": ("furious", "rage", "livid"), "joy": ("delighted", "thrilled", "happy")}


def _intensity_csv(path, n=60, seed=0):
    """Per row: an emotion, a text whose intensity words say how strongly, and the intensity."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "emotion", "intensity"])
        for i in range(n):
            emo = ("anger", "joy")[i % 2]
            strong = rng.random() < 0.5
            word = WORDS[emo][i % 3]
            text = f"row {i} I am {'extremely ' * 3 if strong else 'a little '}{word} about item {i * 7 + 3}"
            w.writerow([text, emo, round((0.85 if strong else 0.2) + rng.normal(0, 0.03), 3)])
    return path


@pytest.fixture(scope="module")
def prefixed_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefixed")
    data = _intensity_csv(root / "intensity.csv")
    cfg = RunConfig.from_dict({
        "name": "intensity-tfidf", "output_dir": str(root / "runs"),
        "data": {"dataset": str(data), "text_col": "text", "target_cols": ["intensity"],
                 "text_prefix_col": "emotion"},
        "model": {"backend": "tfidf"}, "training": {"seed": 0, "metric": "pearson"}})
    return train(cfg, progress=False)


def test_training_records_the_values_and_scores_each_one(prefixed_run):
    run = prefixed_run.run_dir
    summary = json.loads((run / "data.json").read_text())
    assert summary["text_prefix"] == {"column": "emotion", "values": ["anger", "joy"]}
    test = prefixed_run.metrics["test"]
    assert {"pearson_anger", "pearson_joy", "spearman_anger", "pearson_mean_emotion"} <= set(test)
    assert test["pearson_mean_emotion"] == pytest.approx((test["pearson_anger"] + test["pearson_joy"]) / 2)


def test_served_run_answers_every_emotion(prefixed_run):
    run = prefixed_run.run_dir
    assert Run.open(run).input_spec.text_prefix.values == ("anger", "joy")
    clf = Run.open(run).load().view()
    assert isinstance(clf, PrefixedClassifier)
    assert clf.label_set.names == ("anger", "joy")
    texts = ["I am extremely extremely extremely furious", "I am a little happy"]
    scores = clf.predict_proba(texts)
    assert scores.shape == (2, 2)
    # the anger column is the plain model asked about "anger: <text>"
    direct = np.asarray(clf.clf.predict_proba([f"anger: {t}" for t in texts])).ravel()
    assert np.allclose(scores[:, 0], direct)
    assert scores[0, 0] > scores[1, 0]  # strong words, higher intensity
    pred = predict_texts(clf, texts)
    assert [name for name, _ in pred[0].scores] == ["anger", "joy"]
    # the API's model list says the same before the weights are loaded
    assert ModelRegistry([run]).entry(None).label_set.names == ("anger", "joy")


def test_annotate_every_emotion_or_one(prefixed_run, tmp_path):
    run = prefixed_run.run_dir
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("I am extremely extremely extremely livid\nI am a little thrilled\n", encoding="utf-8")
    anns = load_annotators([run, f"{run}#joy"])
    out = tmp_path / "out.jsonl"
    annotate_file(anns, corpus, out)
    rows = read_output(out)
    assert len(rows) == 2
    assert {"intensity-tfidf:anger", "intensity-tfidf:joy", "intensity-tfidf#joy:intensity"} <= set(rows[0])
    for r in rows:
        assert r["intensity-tfidf:joy"] == pytest.approx(r["intensity-tfidf#joy:intensity"])
    assert rows[0]["intensity-tfidf:anger"] > rows[1]["intensity-tfidf:anger"]


def test_unknown_value_and_plain_runs_are_refused(prefixed_run, tfidf_run):
    with pytest.raises(ConfigError, match="'sadness' is not one of the emotion values this run was trained on") as err:
        load_annotators([f"{prefixed_run.run_dir}#sadness"])
    assert "anger, joy" in err.value.hint
    with pytest.raises(ConfigError, match="takes neither"):
        load_annotators([f"{tfidf_run}#joy"])
