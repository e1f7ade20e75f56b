import json
import re

import numpy as np
import pytest

from emotune.data.dataset import EmotionDataset
from emotune.reports.eda import (
    FIGURES,
    SuffixLemmatizer,
    build_eda_report,
    distinctive_terms,
    groups,
    statistics,
    tokenize,
)
from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError

_JOY = ["I passed my exam and I am so happy", "We won the final, what a joyful day",
        "My sister got married, happy tears",
        "Got the job offer today, pure joy", "Laughing with friends at the beach, so happy"]
_ANGER = ["He lied to me again and I am furious", "The driver cut me off, I was so angry",
          "They insulted my family",
          "My boss blamed me unfairly, angry all day", "Someone stole my bike, I was furious"]
_FEAR = ["Walking home alone at night in the dark, afraid", "The plane shook and I was scared",
         "A dog chased me down the road, terrified", "I heard a noise in the house at night, afraid",
         "Waiting for the biopsy results, scared"]


def _single(n_per_class=4):
    texts, labels, splits = [], [], []
    for lab, pool in (("joy", _JOY), ("anger", _ANGER), ("fear", _FEAR)):
        for i in range(n_per_class):
            texts.append(f"{pool[i % len(pool)]} ({i})")
            labels.append(lab)
            splits.append("train" if i % 4 else "test")
    texts.append(texts[0])  # an exact duplicate, in another split than the original
    labels.append("joy")
    splits.append("train")
    ds = EmotionDataset.from_texts(texts, labels, LabelSet(("joy", "anger", "fear", "sadness"), name="t"), name="tiny")
    ds.frame["split"] = splits
    ds.frame["intensity"] = np.arange(len(ds)) % 4 + 1
    ds.frame["gender"] = ["female", "male"] * (len(ds) // 2) + ["female"] * (len(ds) % 2)
    return ds


def _multi():
    texts = _JOY + _ANGER + _FEAR + [a + " and " + b for a, b in zip(_JOY, _FEAR)]
    labels = [["joy"]] * 5 + [["anger"]] * 5 + [["fear"]] * 5 + [["joy", "fear"]] * 5
    labels[10] = ["anger", "fear"]
    ds = EmotionDataset.from_texts(texts, labels, LabelSet(("joy", "anger", "fear"), Task.MULTI), name="tiny-multi")
    return ds


def _figures_in(index_html):
    return set(re.findall(r'src="([^"]+\.png)"', index_html.read_text()))


def test_lemmatizer_only_produces_corpus_words():
    lem = SuffixLemmatizer({"feel", "run", "party", "box", "make", "hope", "anger", "us", "see"})
    assert [lem(w) for w in ["feeling", "running", "parties", "boxes", "making", "hoped", "angered", "felt"]] == \
        ["feel", "run", "party", "box", "make", "hope", "anger", "feel"]
    assert lem("during") == "during" and lem("nothing") == "nothing" and lem("bus") == "bus" and lem("seed") == "seed"


def test_tokenize_removes_stop_words_and_noise():
    toks = tokenize(["I was feeling angry at @bob http://x.co because they're late", "I feel fine"])
    assert toks[0] == ["feel", "angry", "late"]
    assert toks[1] == ["feel", "fine"]


def test_distinctive_terms_pick_the_class_words():
    ds = _single(n_per_class=5)
    terms = distinctive_terms(tokenize(ds.texts), groups(ds), min_count=2)
    assert "happy" in [w for w, _ in terms["joy"]]
    assert "afraid" in [w for w, _ in terms["fear"]] or "scare" in [w for w, _ in terms["fear"]]


def test_statistics_count_duplicates_and_metadata():
    stats = statistics(_single())
    quality = dict(stats["Quality"])
    assert quality["exact duplicate rows (same text as an earlier row)"] == "1"
    assert quality["texts found in more than one split (leakage)"] == "1"
    meta = dict(stats["Metadata"])
    assert "female" in meta["gender"] and "intensity" in meta
    assert "labels with no rows" in dict(stats["Labels"])  # 'sadness' is declared but unused


@pytest.mark.slow
def test_single_label_report_writes_every_figure(tmp_path):
    out = tmp_path / "eda"
    index = build_eda_report(_single(), out, max_points=20, progress=False)
    expected = {FIGURES[k] for k in ("class_distribution", "text_length", "top_terms", "wordclouds", "tsne",
                                     "centroid_similarity")}
    assert _figures_in(index) == expected
    for name in expected:
        assert (out / name).stat().st_size > 1000, name
    meta = json.loads((out / "eda.json").read_text())
    assert set(meta["figures"]) == expected and meta["statistics"]["Overview"]["rows"] == "13"
    html = index.read_text()
    assert "tiny" in html and "exact duplicate rows" in html and "all 13 texts" in html
    assert "happy" in meta["distinctive_lemmas"]["joy"]


@pytest.mark.slow
def test_multi_label_report_has_cooccurrence(tmp_path):
    index = build_eda_report(_multi(), tmp_path / "m", max_points=30, progress=False)
    figs = _figures_in(index)
    assert {FIGURES["label_cooccurrence"], FIGURES["labels_per_text"], FIGURES["tsne"]} <= figs
    assert "several" in dict(statistics(_multi())["Labels"])["labels per text"]


@pytest.mark.slow
def test_regression_report_adapts(tmp_path):
    rng = np.random.default_rng(0)
    texts = _JOY + _ANGER + _FEAR + _JOY + _ANGER + _FEAR
    targets = [(v, a) for v, a in zip(rng.uniform(1, 5, len(texts)), rng.uniform(1, 5, len(texts)))]
    ds = EmotionDataset.from_texts(texts, targets, LabelSet(("V", "A"), Task.REGRESSION), name="tiny-reg")
    index = build_eda_report(ds, tmp_path / "r", max_points=30, progress=False)
    figs = _figures_in(index)
    assert {FIGURES["target_histograms"], FIGURES["target_correlation"], FIGURES["tsne"]} <= figs
    assert FIGURES["class_distribution"] not in figs
    assert "target quartile" in index.read_text()


def test_existing_output_dir_is_refused(tmp_path):
    out = tmp_path / "eda"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="already exists and is not empty"):
        build_eda_report(_single(), out, max_points=10, progress=False)
    with pytest.raises(DataError, match="no rows"):
        build_eda_report(_single().subset([]), tmp_path / "empty", progress=False)


def test_overwrite_keeps_the_users_files(tmp_path):
    out = tmp_path / "eda"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / FIGURES["label_cooccurrence"]).write_bytes(b"stale")
    # fewer than 5 points: no embeddings, so this stays a fast test
    index = build_eda_report(_single(), out, max_points=4, progress=False, overwrite=True)
    assert FIGURES["tsne"] not in _figures_in(index) and FIGURES["top_terms"] in _figures_in(index)
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / FIGURES["label_cooccurrence"]).exists()  # stale figure of an earlier report


def _cli(argv, capsys):
    from emotune.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    return e.value.code or 0, capsys.readouterr().err


def test_cli_unknown_dataset_is_a_clean_error(tmp_path, capsys):
    code, err = _cli(["eda", "isearr", "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "Unknown dataset 'isearr'" in err and "Did you mean 'isear'?" in err
    assert not (tmp_path / "x").exists()


def test_cli_refuses_a_non_empty_out_dir(tmp_path, capsys):
    data = tmp_path / "d.csv"
    data.write_text("text,label\n" + "".join(f"text number {i},{'joy' if i % 2 else 'anger'}\n" for i in range(8)))
    out = tmp_path / "report"
    out.mkdir()
    (out / "index.html").write_text("old")
    code, err = _cli(["eda", str(data), "--text-col", "text", "--label-col", "label", "--out", str(out)], capsys)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert (out / "index.html").read_text() == "old"
