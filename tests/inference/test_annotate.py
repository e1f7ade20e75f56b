"""`annotate_file`: several runs' columns per row, streamed, resumable, with a summary and review rows."""

import csv
import json

import numpy as np
import pytest

from emotune.data.labels import LabelSet, Task
from emotune.errors import ConfigError, DataError
from emotune.models.tfidf import TfidfClassifier
from emotune.inference.annotate import (
    Annotator, annotate_file, annotate_texts, load_annotators, parse_spec, summarize_output, write_review,
)
from emotune.inference.predict import read_output
from tests.fixtures import toy


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name, ds in (("emo", toy.single(12)), ("multi", toy.multi(100)), ("valence", toy.regression(100))):
        clf = TfidfClassifier(ds.label_set)
        clf.fit(ds)
        if ds.task == Task.MULTI:
            clf.thresholds = np.full(len(ds.label_set), 0.4)
        clf.save_pretrained(root / name / "model")
    return root


@pytest.fixture
def corpus(tmp_path):
    texts = toy.single(3, seed=7).texts
    path = tmp_path / "corpus.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text"])
        for i, t in enumerate(texts):
            w.writerow([f"r{i}", t])
        w.writerow(["empty", ""])
    return path, len(texts) + 1


def annotators(runs):
    return load_annotators([runs / "emo", runs / "multi", runs / "valence"])


def test_columns_per_task_and_values(runs, corpus, tmp_path):
    path, n = corpus
    anns = annotators(runs)
    assert [a.id for a in anns] == ["emo", "multi", "valence"]
    out = tmp_path / "out.jsonl"
    result = annotate_file(anns, path, out, chunk_size=5)
    assert (result.total, result.skipped, result.written) == (n, 0, n)
    rows = read_output(out)
    assert len(rows) == n and rows[0]["id"] == "r0"
    r = rows[0]
    assert r["emo:label"] in toy.ISEAR.names
    probs = [r[f"emo:p_{lab}"] for lab in toy.ISEAR.names]
    assert abs(sum(probs) - 1) < 1e-4 and r["emo:confidence"] == pytest.approx(max(probs), abs=1e-6)
    assert 0 <= r["emo:margin"] <= r["emo:confidence"]
    assert isinstance(r["multi:labels"], list) and set(r["multi:labels"]) <= set(toy.MULTI.names)
    assert all(r[f"multi:p_{lab}"] >= 0.4 for lab in r["multi:labels"])  # the run's tuned thresholds
    assert isinstance(r["valence:valence"], float)
    assert rows[-1]["emo:label"] is None and rows[-1]["valence:valence"] is None  # empty text: empty columns


def test_resume_skips_rows_already_written(runs, corpus, tmp_path):
    path, n = corpus
    anns = annotators(runs)
    full = tmp_path / "full.csv"
    annotate_file(anns, path, full)
    part = tmp_path / "part.csv"
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
    part.write_text("".join(lines[:1 + 7]) + lines[8][:25], encoding="utf-8")  # 7 rows + a torn 8th
    seen = []
    result = annotate_file(anns, path, part, chunk_size=4, on_total=lambda total, skip: seen.append((total, skip)))
    assert seen == [(n, 7)] and (result.skipped, result.written) == (7, n - 7)
    assert part.read_text(encoding="utf-8") == full.read_text(encoding="utf-8")
    again = annotate_file(anns, path, part)
    assert again.written == 0 and again.skipped == n


def test_resume_refuses_another_input_or_other_runs(runs, corpus, tmp_path):
    path, _ = corpus
    out = tmp_path / "out.jsonl"
    annotate_file(load_annotators([runs / "emo"]), path, out)
    with pytest.raises(DataError, match="written by other runs"):
        annotate_file(load_annotators([runs / "valence"]), path, out)
    other = tmp_path / "other.csv"
    other.write_text("text\nsomething else entirely\n" * 1, encoding="utf-8")
    with pytest.raises(DataError, match="has only 1"):
        annotate_file(load_annotators([runs / "emo"]), other, out)
    with pytest.raises(DataError, match="must differ"):
        annotate_file(load_annotators([runs / "emo"]), path, path)


def test_summary_and_review(runs, corpus, tmp_path):
    path, n = corpus
    anns = annotators(runs)
    out = tmp_path / "out.csv"
    annotate_file(anns, path, out)
    summary = summarize_output(anns, out, threshold=0.99, margin=0.0)
    emo = summary["runs"]["emo"]
    assert summary["rows"] == n and sum(emo["counts"].values()) == n - 1  # the empty row has no label
    assert set(emo["counts"]) == set(toy.ISEAR.names)
    assert summary["runs"]["valence"]["values"]["valence"]["n"] == n - 1
    assert sum(summary["runs"]["multi"]["counts"].values()) + summary["runs"]["multi"]["no_label"] >= n - 1
    # a 0.99 threshold makes every labelled row unsure; each review row says why
    unsure = [r for r in summary["review"] if any(x.startswith("emo:") for x in r["reasons"])]
    assert len(unsure) == n - 1
    assert all("top probability" in r["reasons"][0] for r in unsure)
    relaxed = summarize_output(anns, out, threshold=0.0, margin=0.0)
    assert relaxed["review"] == []
    review = write_review(summary["review"], tmp_path / "review.jsonl")
    first = json.loads(review.read_text(encoding="utf-8").splitlines()[0])
    assert first["row"] == 1 and first["text"] and first["reasons"]
    write_review(summary["review"], tmp_path / "review.csv")
    assert (tmp_path / "review.csv").read_text(encoding="utf-8").startswith("row,text,reasons")


class _Generative:
    """A regression run whose answers can be invalid (the instruct backend's contract)."""

    label_set = LabelSet(("intensity",), Task.REGRESSION)
    thresholds = None

    def generation_stats(self):
        return {"answers": 0, "invalid": 0}

    def predict_values(self, texts, batch_size=None):
        values = np.array([0.25 if "exam" in t else np.nan for t in texts])
        return values, ~np.isnan(values)


def test_invalid_generated_answers_stay_empty_and_are_reviewed(tmp_path, corpus):
    path, n = corpus
    ann = Annotator("gen", "gen", _Generative())
    assert ann.columns() == ["gen:intensity", "gen:valid"]
    rows = annotate_texts([ann], ["after the exam I felt happy", "no number here", ""])
    assert rows[0] == {"gen:intensity": 0.25, "gen:valid": True}
    assert rows[1] == {"gen:intensity": None, "gen:valid": False}
    assert rows[2] == {"gen:intensity": None, "gen:valid": None}
    out = tmp_path / "gen.csv"
    annotate_file([ann], path, out)
    summary = summarize_output([ann], out)
    invalid = summary["runs"]["gen"]["invalid"]
    assert invalid > 0 and len(summary["review"]) == invalid
    assert summary["review"][0]["reasons"] == ["gen: invalid answer"]


def test_specs_and_errors(runs, tmp_path):
    assert parse_spec("runs/x#ei-reg:anger") == ("runs/x", "ei-reg", "anger")
    assert parse_spec("runs/x") == ("runs/x", None, None)
    with pytest.raises(ConfigError, match="only instruct runs"):
        load_annotators([f"{runs / 'emo'}#v-reg"])
    with pytest.raises(Exception, match="not found"):
        load_annotators([tmp_path / "nope"])
    with pytest.raises(ConfigError, match="No run"):
        load_annotators([])
    twice = load_annotators([runs / "emo", runs / "emo"])
    assert [a.id for a in twice] == ["emo", "emo-2"]


def test_context_runs_get_each_turn_with_its_preceding_turns(runs, tmp_path):
    """A run trained on dialogue context sees what `predict` gives it: turns across chunks, never
    another dialogue's; runs without context get the bare turn; a row without a speaker is named."""
    from emotune.inference.predict import predict_file
    from emotune.config import RunConfig
    from emotune.runs import Run

    ctx_run = tmp_path / "ctx"
    (ctx_run / "model").mkdir(parents=True)
    for f in (runs / "emo" / "model").iterdir():
        (ctx_run / "model" / f.name).write_bytes(f.read_bytes())
    # a run of the previous release: the context is in its config.yaml only, not in its model
    meta = json.loads((ctx_run / "model" / "emotune_model.json").read_text())
    del meta["input"]
    (ctx_run / "model" / "emotune_model.json").write_text(json.dumps(meta))
    RunConfig.from_dict({"name": "ctx", "data": {"dataset": "meld", "context": {"window": 2}}}).save(
        ctx_run / "config.yaml")
    seen: dict[str, list[str]] = {}

    def loader(run):
        clf = run.load()
        plain = clf.predict_proba

        def recorded(texts, batch_size=None):  # records what the model is given, then scores it
            seen.setdefault(str(run.path), []).extend(texts)
            return plain(texts, batch_size=batch_size)

        clf.predict_proba = recorded
        return clf

    turns = [("d1", 0, "A", "Hi there."), ("d1", 1, "B", "Hello!"), ("d2", 0, "A", "Go away."),
             ("d1", 2, "A", "How are you?"), ("d2", 1, "B", "Fine, I will.")]
    src = tmp_path / "dialogues.jsonl"
    src.write_text("".join(json.dumps({"dialogue_id": d, "turn": t, "speaker": s, "text": x}) + "\n"
                           for d, t, s, x in turns))
    anns = load_annotators([ctx_run, runs / "emo"], loader=loader)
    assert anns[0].context.window == 2 and anns[1].context is None
    res = annotate_file(anns, src, tmp_path / "out.jsonl", chunk_size=2)
    assert res.context == ["ctx"] and res.no_context == []
    assert seen[str(ctx_run)][3] == "A: Hi there. </s> B: Hello! </s> >> A: How are you?"
    assert seen[str(ctx_run)][4] == "A: Go away. </s> >> B: Fine, I will."
    assert seen[str(runs / "emo")] == [t[3] for t in turns]
    # the same probabilities as `emotune predict` on the file
    clf = Run.open(ctx_run).load().view()
    predict_file(clf, src, tmp_path / "pred.jsonl", context=clf.input_spec.context)
    for a, p in zip(read_output(tmp_path / "out.jsonl"), read_output(tmp_path / "pred.jsonl")):
        assert a["ctx:label"] == p["predicted"]
        assert a[f"ctx:p_{p['predicted']}"] == pytest.approx(p["scores"][p["predicted"]], abs=1e-5)
    # plain texts: labelled alone, and said so
    plain = tmp_path / "plain.txt"
    plain.write_text("Hi there.\nGo away.\n")
    assert annotate_file(anns, plain, tmp_path / "plain.jsonl").no_context == ["ctx"]
    # a turn without a speaker is named by file and row; the rows written before it stay
    bad = tmp_path / "bad.jsonl"
    rows = [json.loads(x) for x in src.read_text().splitlines()]
    del rows[3]["speaker"]
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"bad\.jsonl, row 4: no 'speaker' value"):
        annotate_file(anns, bad, tmp_path / "bad_out.jsonl", chunk_size=2)
    assert not (tmp_path / "bad_out.jsonl").exists()  # the rows before the bad one wait in the partial file
    assert len(read_output(tmp_path / ".bad_out.jsonl.partial")) == 2
