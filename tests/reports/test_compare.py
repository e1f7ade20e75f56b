import json

import numpy as np
import pytest

from emotune.errors import ModelError
from emotune.reports import plots
from emotune.runs import Run
from emotune.reports.compare import build_comparison, compare_runs, group_runs, results_table
from tests.fixtures.toy import RUN_ISEAR as ISEAR, RUN_MULTI as MULTI, RUN_REG as REG, make_run


@pytest.fixture
def isear_runs(tmp_path):
    runs = []
    for seed in (1, 2):
        runs.append(make_run(tmp_path, f"isear-tfidf-s{seed}", skill=0.45, seed=seed, config_name="isear-tfidf"))
        runs.append(make_run(tmp_path, f"isear-minilm-s{seed}", skill=0.75, seed=seed, backend="encoder",
                             model_name="minilm", config_name="isear-minilm"))
    runs.append(make_run(tmp_path, "isear-lexicon", skill=0.15, backend="lexicon"))
    return runs


def test_runs_differing_only_in_seed_form_one_model(isear_runs):
    groups = group_runs([Run.open(r, finished=True) for r in isear_runs])
    assert {k: len(v) for k, v in groups.items()} == {"isear-tfidf": 2, "isear-minilm": 2, "isear-lexicon": 1}
    assert [r.seed for r in groups["isear-tfidf"]] == [1, 2]


def test_comparison_numbers(isear_runs):
    c = build_comparison([Run.open(r, finished=True) for r in isear_runs], n_resamples=200)
    by = {m["name"]: m for m in c["models"]}
    assert c["best_model"] == "isear-minilm" and c["best_by"] == "dev"
    tfidf = by["isear-tfidf"]
    per_run = [json.loads((r / "metrics.json").read_text())["test"]["f1_macro"] for r in isear_runs[0:4:2]]
    assert tfidf["metrics"]["f1_macro"]["mean"] == pytest.approx(np.mean(per_run))
    assert tfidf["metrics"]["f1_macro"]["std"] == pytest.approx(np.std(per_run, ddof=1))
    assert tfidf["ci"]["low"] <= tfidf["metrics"]["f1_macro"]["mean"] <= tfidf["ci"]["high"]
    assert tfidf["train_rows"] == 1000 and tfidf["eval_rows"] == 300
    assert by["isear-lexicon"]["train_rows"] is None  # learns nothing from train
    # significance: best against every other model
    sig = {s["model"]: s for s in c["significance"]}
    assert set(sig) == {"isear-tfidf", "isear-lexicon"}
    assert sig["isear-lexicon"]["diff"] > 0.3 and sig["isear-lexicon"]["p_value"] < 0.01
    assert sig["isear-lexicon"]["mcnemar"]["b"] > sig["isear-lexicon"]["mcnemar"]["c"]
    # strengths and weaknesses
    lex = by["isear-lexicon"]
    assert len(lex["best_labels"]) == 3 and lex["best_labels"][0]["value"] >= lex["worst_labels"][0]["value"]
    assert all(e["value"] < 0.5 for e in lex["below_threshold"]) and lex["below_threshold"]
    assert "guilt" in {p["true"] for p in by["isear-tfidf"]["confused_pairs"][:2]}
    ex = by["isear-tfidf"]["confused_pairs"][0]["examples"][0]
    assert ex["text"].startswith(("I felt", "When", "After", "My", "At")) and ex["true"] != ex["pred"]
    np.testing.assert_allclose(np.asarray(tfidf["confusion_normalized"]).sum(axis=1), 1.0, atol=1e-3)
    json.dumps({k: v for k, v in c.items() if not k.startswith("_")})


def test_compare_runs_writes_html_json_and_figures(isear_runs, tmp_path):
    out = tmp_path / "report"
    index = compare_runs(isear_runs, out, n_resamples=100)
    assert index == out / "index.html"
    html = index.read_text()
    for needle in ("isear-minilm", "Most confused pairs", "reliability diagram", "McNemar", "Labels under F1 0.5",
                   "&lt;b&gt;not bold&lt;/b&gt;"):
        assert needle in html
    assert "<b>not bold</b>" not in html  # texts are escaped
    figs = {p.name for p in (out / "figures").iterdir()}
    assert {"primary_ci.png", "per_label_bars.png", "heatmap.png", "box.png", "reliability.png",
            "confusion_isear-tfidf.png"} <= figs
    for name in figs:
        assert f"figures/{name}" in html
    data = json.loads((out / "comparison.json").read_text())
    assert data["n_runs"] == 5 and len(data["models"]) == 3


def test_existing_output_is_refused_unless_overwrite(isear_runs, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ModelError, match="already exists"):
        compare_runs(isear_runs[:2], out, n_resamples=20)
    compare_runs(isear_runs[:2], out, overwrite=True, n_resamples=20)
    assert not (out / "keep.txt").exists() and (out / "index.html").is_file()


def test_empty_and_bad_inputs(tmp_path):
    with pytest.raises(ModelError, match="Nothing to compare"):
        compare_runs([], tmp_path / "r")
    with pytest.raises(ModelError, match="not found"):
        compare_runs([tmp_path / "nope"], tmp_path / "r")
    unfinished = make_run(tmp_path, "half")
    (unfinished / "metrics.json").unlink()
    with pytest.raises(ModelError, match="unfinished"):
        compare_runs([unfinished], tmp_path / "r")


def test_different_label_sets_or_test_sets_are_refused(tmp_path):
    a = make_run(tmp_path, "a")
    b = make_run(tmp_path, "b", MULTI)
    with pytest.raises(ModelError, match="different label sets"):
        compare_runs([a, b], tmp_path / "r1")
    c = make_run(tmp_path, "c", test_seed=999)
    with pytest.raises(ModelError, match="different test sets"):
        compare_runs([a, c], tmp_path / "r2")
    d = make_run(tmp_path, "d", n_test=250)
    with pytest.raises(ModelError, match="300 vs 250 rows"):
        compare_runs([a, d], tmp_path / "r3")


def test_same_rows_with_other_inputs_are_comparable(tmp_path):
    import json as _json

    a = make_run(tmp_path, "utt")
    b = make_run(tmp_path, "ctx", backend="encoder")
    texts = _json.loads((b / "predictions" / "test_texts.json").read_text())
    (b / "predictions" / "test_texts.json").write_text(_json.dumps(["previous turn </s> >> " + t for t in texts]))
    c = build_comparison([Run.open(a, finished=True), Run.open(b, finished=True)], n_resamples=20)
    assert c["notes"] and "other inputs" in c["notes"][0]


def test_multi_label_and_regression_reports(tmp_path):
    multi = [make_run(tmp_path, f"m-{b}", MULTI, skill=k, backend=b) for b, k in (("tfidf", 0.4), ("encoder", 0.8))]
    html = compare_runs(multi, tmp_path / "rm", n_resamples=50).read_text()
    assert "Jaccard" in html and "exact label set" in html
    reg = [make_run(tmp_path, f"r-{b}", REG, skill=k, backend=b) for b, k in (("tfidf", 0.4), ("encoder", 0.8))]
    index = compare_runs(reg, tmp_path / "rr", n_resamples=50)
    html = index.read_text()
    assert "Pearson" in html and "McNemar" not in html
    assert (tmp_path / "rr" / "figures" / "scatter_r-encoder.png").is_file()


def test_single_run_without_texts_or_timings(tmp_path):
    run = make_run(tmp_path, "solo", texts=False, train_seconds=None, texts_per_s=None)
    html = compare_runs([run], tmp_path / "r", n_resamples=20).read_text()
    assert "Only one model" in html and "no stored texts" in html


def test_plots_write_pngs(tmp_path):
    names = list(ISEAR.names)
    vals = {"a": dict(zip(names, np.linspace(0.2, 0.8, 7))), "b": dict(zip(names, np.linspace(0.3, 0.9, 7)))}
    outs = [
        plots.grouped_bars(vals, tmp_path / "g.png", errors={"a": dict(zip(names, [0.02] * 7))}, threshold=0.5),
        plots.bars_with_ci(["a", "b"], [0.5, 0.6], [0.45, 0.55], [0.55, 0.65], tmp_path / "ci.png"),
        plots.box_per_label({n: [0.1, 0.5, 0.9] for n in names}, tmp_path / "box.png"),
        plots.heatmap(np.random.default_rng(0).random((3, 28)), ["x", "y", "z"], [f"l{i}" for i in range(28)],
                      tmp_path / "h.png"),
        plots.confusion_matrix(np.eye(7), names, tmp_path / "cm.png"),
        plots.reliability_diagram({"a": {"prob_pred": [0.2, 0.8], "prob_true": [0.3, 0.7], "counts": [5, 5],
                                         "ece": 0.1}}, tmp_path / "rel.png"),
        plots.scatter_true_pred([1, 2, 3], [1.1, 1.9, 3.2], tmp_path / "sc.png"),
        plots.grouped_bars({"a": {"V": -0.2, "A": 0.5}}, tmp_path / "neg.png", ylabel="Pearson r"),
    ]
    for p in outs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_results_table_markdown():
    md = results_table([
        {"model": "tfidf", "primary": {"mean": 0.55, "std": 0.01, "n": 3}, "ci": {"low": 0.52, "high": 0.58},
         "secondary": ("accuracy", {"mean": 0.56, "std": 0.01, "n": 3}), "train_seconds": 4.2, "texts_per_s": 1500.4,
         "train_rows": 5800, "eval_rows": 750, "note": ""},
        {"model": "prompt", "primary": {"mean": 0.2, "std": 0.0, "n": 1}, "ci": None, "secondary": None,
         "train_seconds": None, "texts_per_s": 3.0, "train_rows": 0, "eval_rows": 300, "note": "fixed sample | slow"},
    ])
    lines = md.strip().splitlines()
    assert lines[0].startswith("| model | f1_macro (mean ± std, seeds) | 95% CI | accuracy |")
    assert "| tfidf | 0.550 ± 0.010 (n=3) | [0.520, 0.580] | 0.560 ± 0.010 | 4.2 s | 1500 | 5800 | 750 |" in md
    assert "fixed sample / slow" in lines[-1] and "| 0.200 |" in lines[-1]


def test_results_table_names_each_rows_metric_when_tasks_differ():
    md = results_table([
        {"model": "multi", "primary_metric": "f1_macro", "primary": {"mean": 0.41, "std": 0.0, "n": 1},
         "ci": {"low": 0.35, "high": 0.47}, "secondary": ("jaccard_samples", {"mean": 0.38, "n": 1})},
        {"model": "multi-v-reg", "primary_metric": "pearson", "primary": {"mean": 0.52, "std": 0.0, "n": 1},
         "ci": {"low": 0.44, "high": 0.6}, "secondary": ("spearman", {"mean": 0.5, "n": 1})},
    ])
    assert md.splitlines()[0].startswith("| model | metric (mean ± std, seeds) | 95% CI | second metric |")
    assert "| multi | f1_macro 0.410 | [0.350, 0.470] | jaccard_samples 0.380 |" in md
    assert "| multi-v-reg | pearson 0.520 | [0.440, 0.600] | spearman 0.500 |" in md
