import json
import subprocess
import sys
from pathlib import Path

import pytest

from emotune.experiments import benchmark
from emotune.experiments.results import (BEGIN, END, check_alternative, check_target, load_records, publish,
                                         render, suite_record, suite_table, update_markdown)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    return benchmark.run_suite("isear", quick=True, out_dir=out, models=["tfidf", "lexicon"], seeds=2, jobs=1,
                               progress=False, report=False, cv=False, n_resamples=50).results


def test_suite_record_has_the_published_shape(quick_results):
    rec = suite_record(quick_results, commit="abc1234", date="2026-12-03T00:00:00+00:00")
    assert rec["suite"] == "isear" and rec["primary_metric"] == "f1_macro" and rec["commit"] == "abc1234"
    tfidf = next(m for m in rec["models"] if m["model"] == "tfidf")
    assert tfidf["kind"] == "single" and tfidf["seeds"] == 2
    assert tfidf["train_rows"] == 300 and tfidf["train_rows_available"] == 5966  # --quick samples train
    lo, hi = tfidf["test"]["f1_macro"]["ci95"]
    assert lo <= tfidf["test"]["f1_macro"]["mean"] <= hi
    assert set(tfidf["dev"]) >= {"f1_macro", "accuracy"} and tfidf["epochs"] is None
    lexicon = next(m for m in rec["models"] if m["model"] == "lexicon")
    assert lexicon["train_rows"] is None and lexicon["seeds"] == 1
    # the table's second column is the suite's own second metric (MELD: weighted F1, its literature's)
    assert rec["secondary_metric"] == "accuracy"
    import sklearn  # the library versions that decide the scores are part of the machine the table names

    assert f"scikit-learn {sklearn.__version__}" in rec["machine"]
    head = suite_table(dict(rec, secondary_metric="f1_weighted")).splitlines()[0]
    assert "| f1_weighted |" in head and "accuracy" not in head


def test_publish_refuses_a_quick_suite(quick_results, tmp_path):
    from emotune.errors import ConfigError

    with pytest.raises(ConfigError, match="not --quick"):
        publish(quick_results, tmp_path)


def test_tables_are_generated_from_the_files(quick_results, tmp_path):
    full = dict(quick_results, quick=False)
    path = publish(full, tmp_path / "results")
    assert path.name == "isear.json" and load_records(tmp_path / "results")[0]["suite"] == "isear"
    (tmp_path / "results" / "targets.json").write_text(json.dumps({"isear": {"before": "old numbers", "targets": [
        {"text": "best >= 0.99", "before": "0.5", "best": "f1_macro", "kind": "single", "min": 0.99},
        {"text": "tfidf above lexicon", "above": ["tfidf", "lexicon"]}]}}))
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nIntro.\n\n## Older section\n\ntext\n")
    assert update_markdown(md, tmp_path / "results")
    text = md.read_text()
    assert text.index(BEGIN) < text.index("## Older section") and END in text
    assert "Before: old numbers" in text and "| tfidf |" in text and "**300 of 5,966**" in text
    assert "| **no** |" in text and "| yes |" in text  # 0.99 missed; TF-IDF beats the lexicon
    # a run of part of the suite says what it left out
    assert "**Partial run** (not run in this invocation: embed-head, minilm)." in text
    assert "for this invocation (every run trained in it, the report included)." in text  # nothing was reused
    assert not update_markdown(md, tmp_path / "results")  # idempotent


def test_targets():
    rec = {"primary_metric": "f1_macro", "models": [
        {"model": "a", "kind": "single", "test": {"f1_macro": {"mean": 0.7, "std": 0}}},
        {"model": "ensemble", "kind": "ensemble", "test": {"f1_macro": {"mean": 0.75, "std": 0}}}]}
    assert check_target(rec, {"best": "f1_macro", "kind": "single", "min": 0.71}) == ("0.700 (a)", False)
    assert check_target(rec, {"best": "f1_macro", "kind": "any", "min": 0.73}) == ("0.750 (ensemble)", True)
    assert check_target(rec, {"above": ["a", "b"]})[1] is None
    assert check_target(None, {"best": "f1_macro", "min": 0})[1] is None
    # a number on fewer seeds than the suite's says so (the targets are means over the suite's seeds)
    fewer = dict(rec, suite_seeds=3, models=[dict(rec["models"][0], seeds=1), rec["models"][1]])
    assert check_target(fewer, {"best": "f1_macro", "kind": "single", "min": 0.6}) == ("0.700 (a, 1 of 3 seeds)", True)
    assert check_target(fewer, {"best": "f1_macro", "kind": "any", "min": 0.6})[0] == "0.750 (ensemble)"


def test_a_wall_time_target_is_met_only_by_one_run_of_the_whole_suite():
    models = [{"model": "a", "kind": "single", "seeds": 3, "train_seconds": 3600.0, "test": {"f1_macro": {"mean": 0.7}}},
              {"model": "ensemble", "kind": "ensemble", "train_seconds": 1800.0, "test": {"f1_macro": {"mean": 0.8}}}]
    rec = {"primary_metric": "f1_macro", "suite_seeds": 3, "models": models,
           "invocations": [{"models": ["a", "ensemble"], "wall_seconds": 2.5 * 3600, "reused_runs": 0}]}
    assert check_target(rec, {"wall_hours": 3}) == ("2.5 h, one run of the whole suite", True)
    assert check_target(rec, {"wall_hours": 2})[1] is False
    # a model the suite caps at one seed (MPNet) or does not seed (TF-IDF) is whole with its one run
    capped = dict(rec, models=[*models, {"model": "b", "kind": "single", "seeds": 1, "planned_seeds": 1,
                                         "train_seconds": 60.0}],
                  invocations=[{"models": ["a", "b", "ensemble"], "wall_seconds": 2.5 * 3600, "reused_runs": 0}])
    assert check_target(capped, {"wall_hours": 3}) == ("2.5 h, one run of the whole suite", True)
    # an invocation that reused finished runs (or did not record it) measured only what was left: a bound
    for resumed in ({"reused_runs": 4}, {}):
        inv = dict({"models": ["a", "ensemble"], "wall_seconds": 60}, **resumed)
        text, met = check_target(dict(rec, invocations=[inv]), {"wall_hours": 3})
        assert text.startswith(">= 1.8 h") and met is None
    # measured over several invocations: a lower bound from the training times (3 seeds x 1 h + 0.5 h)
    split = dict(rec, invocations=[{"models": ["a"], "wall_seconds": 100}, {"models": ["ensemble"], "wall_seconds": 1}])
    text, met = check_target(split, {"wall_hours": 3})
    assert text.startswith(">= 1.8 h: its training times add up to 3.5 h of one core") and met is None
    assert check_target(split, {"wall_hours": 1})[1] is False
    # the cross-validation's and the teacher file's folds are training too: counted and named
    folds = dict(split, cross_validation={"model": "a", "folds": 5, "train_seconds": 1.5 * 3600},
                 teacher_train_seconds=3 * 3600)
    text, met = check_target(folds, {"wall_hours": 3})
    assert text.startswith(">= 4.0 h: its training times add up to 8.0 h of one core "
                           "(cross-validation 1.5 h, teacher file 3.0 h of it)") and met is False
    # a model left out, or run on fewer seeds, is named: the bound is then lower than the truth
    partial = dict(rec, not_run=["b"], models=[dict(models[0], seeds=1), models[1]])
    text, met = check_target(partial, {"wall_hours": 3})
    assert "1.5 h of one core, without b; models on fewer seeds" in text and met is None
    # a frozen-feature model that read an earlier run's cached embeddings: the wall time lacks the encoder's pass
    cached = dict(rec, models=[dict(models[0], reused_embeddings=3), models[1]])
    assert check_target(cached, {"wall_hours": 3}) == (
        "2.5 h, one run of the whole suite (a: embeddings cached by an earlier run, the encoder's pass not timed)", True)
    # seeds 43 and 44 reading what seed 42 of the same run cached: the pass is in the wall time
    same_run = dict(rec, models=[dict(models[0], reused_embeddings=2), models[1]])
    assert check_target(same_run, {"wall_hours": 3}) == ("2.5 h, one run of the whole suite", True)


@pytest.mark.parametrize("field, runs, says", [
    ("reused_embeddings", 2, "(2 of 2 runs head only: embeddings cached)"),  # the encoder's pass was an earlier run's
    # resumed from a checkpoint saved before the fit clock: the time before the resume is missing
    ("resumed_unclocked", 1, "(1 of 2 runs resumed from a checkpoint without a clock: only the part after the resume counted)"),
])
def test_a_train_time_that_misses_part_of_the_work_says_so(quick_results, field, runs, says):
    results = dict(quick_results, models=[dict(m, **{field: runs if m["model"] == "tfidf" else 0})
                                          for m in quick_results["models"]])
    rec = suite_record(results)
    tfidf, lexicon = (next(m for m in rec["models"] if m["model"] == k) for k in ("tfidf", "lexicon"))
    assert tfidf[field] == runs and field not in lexicon
    row = next(line for line in suite_table(rec).splitlines() if line.startswith("| tfidf |"))
    assert says in row


def test_a_target_can_also_be_read_from_a_recipe_comparison():
    # E-c: the suite decides for Jaccard; the same scores with thresholds chosen on dev for macro-F1 is a row of
    # a recipe comparison. The table shows both numbers and says where the second comes from.
    rec = {"suite": "ec", "primary_metric": "f1_macro", "models": [
        {"model": "ensemble", "kind": "ensemble", "seeds": 1, "test": {"f1_macro": {"mean": 0.571, "std": 0}}}]}
    recipes = [{"recipes": "thr", "rows": [
        {"label": "ens: grid", "primary_metric": "f1_macro", "dev": 0.63, "test": 0.606,
         "jaccard_samples": {"dev": 0.58, "test": 0.572}}]}]
    target = {"text": "macro-F1 >= 0.59", "best": "f1_macro", "min": 0.59,
              "alt": {"recipes": "thr", "row": "ens: grid", "why": "thresholds for macro-F1"}}
    assert check_alternative(recipes, target) == ("0.606 (ens: grid, thresholds for macro-F1; recipes-thr)", True)
    jac = dict(target, best="jaccard_samples")
    assert check_alternative(recipes, jac)[0].startswith("0.572") and check_alternative(recipes, {"best": "x"}) is None
    assert check_alternative([], target) == ("ens: grid (recipes-thr): not measured", None)
    assert check_alternative(recipes, dict(target, alt={"recipe": "thr"}))[1] is None  # a misspelt key: no crash
    row = next(line for line in render([rec], {"ec": {"targets": [target]}}, recipes).splitlines()
               if "macro-F1 >= 0.59" in line)
    assert "0.571 (ensemble); 0.606 (ens: grid" in row and row.endswith("| yes |")
    row = next(line for line in render([rec], {"ec": {"targets": [target]}}, []).splitlines() if ">= 0.59" in line)
    assert "not measured" in row and row.endswith("| **no** |")


def test_benchmarks_md_is_what_the_result_files_say():
    """The committed BENCHMARKS.md's generated block matches benchmarks/results/*.json."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "tables.py"), "--check"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_recipe_tables_render_each_change(tmp_path):
    from emotune.experiments.results import load_recipe_records, render_recipes

    rec = {"recipes": "isear-minilm", "date": "2026-12-03T17:00:00+00:00", "note": "one core each", "chosen": "A",
           "rows": [{"label": "baseline", "changes": [], "dev": 0.674, "test": 0.673, "epochs_trained": 3,
                     "best_epoch": 3, "dev_curve": [0.62, 0.66, 0.674], "fit_seconds": 450.0},
                    {"label": "A", "changes": ["training.epochs: 3 -> 6"], "dev": 0.69, "test": 0.68,
                     "epochs_trained": 6, "best_epoch": 5, "dev_curve": [0.6, 0.69], "fit_seconds": 900.0}]}
    (tmp_path / "recipes-isear-minilm.json").write_text(json.dumps(rec))
    (tmp_path / "isear.json").write_text("{}")  # not a recipe file: ignored
    text = render_recipes(load_recipe_records(tmp_path))
    assert "Chosen on dev: A" in text and "| A | training.epochs: 3 -> 6 | 0.690 | 0.680 | 6 (5) |" in text
    assert "15.0 min" in text and render_recipes([]) == ""
    # a row re-scored from saved predictions (benchmarks/thresholds.py) trained nothing: dashes, not "None"
    rec["rows"] = [{"label": "tfidf: 0.01 grid", "changes": ["thresholds: 0.01 grid"], "dev": 0.5, "test": 0.47,
                    "epochs_trained": None, "best_epoch": None, "dev_curve": [], "fit_seconds": None}]
    text = render_recipes([rec])
    assert "| tfidf: 0.01 grid | thresholds: 0.01 grid | 0.500 | 0.470 | – | – | – |" in text and "None" not in text
    # a cross-validation fold: its held-out part is its dev split, it has no test split
    rec["rows"] = [{"label": "fold 4, seed 43", "changes": ["training.seed: 42 -> 43"], "dev": 0.68, "test": None,
                    "epochs_trained": 1, "best_epoch": 1, "dev_curve": [0.68], "fit_seconds": 960.0}]
    text = render_recipes([rec])
    assert "| fold 4, seed 43 | training.seed: 42 -> 43 | 0.680 | – | 1 (1) | 0.680 | 16.0 min |" in text
    assert "None" not in text


def _model(name, score, seeds=1, kind="single"):
    return {"model": name, "kind": kind, "seeds": seeds, "test": {"f1_macro": {"mean": score, "std": 0.0}},
            "dev": {"f1_macro": score}, "note": ""}


def _record(models, not_run, commit, date, wall=60.0):
    return {"suite": "isear", "commit": commit, "date": date, "machine": "Linux, 2 CPU(s)", "primary_metric": "f1_macro",
            "jobs": 1, "seeds": 1, "suite_seeds": 3, "not_run": not_run, "wall_seconds": wall,
            "cross_validation": None, "models": models}


def test_publishing_part_of_a_suite_keeps_the_models_it_did_not_run(quick_results, tmp_path):
    dest = tmp_path / "results"
    full = dict(quick_results, quick=False)  # tfidf + lexicon, 2 seeds
    publish(full, dest)
    first = json.loads((dest / "isear.json").read_text())
    assert {m["model"] for m in first["models"]} == {"tfidf", "lexicon"} and len(first["invocations"]) == 1
    # a later invocation ran only the lexicon: tfidf keeps its entry and the commit it was measured at
    only_lexicon = dict(full, models=[r for r in full["models"] if r["model"] == "lexicon"],
                        not_run=full["not_run"] + ["tfidf"])
    publish(only_lexicon, dest)
    merged = json.loads((dest / "isear.json").read_text())
    assert [m["model"] for m in merged["models"]] == [m["model"] for m in first["models"]]
    assert "tfidf" not in merged["not_run"] and set(merged["not_run"]) == set(full["not_run"])
    tfidf = next(m for m in merged["models"] if m["model"] == "tfidf")
    assert tfidf["test"] == next(m for m in first["models"] if m["model"] == "tfidf")["test"]
    assert tfidf["commit"] == first["commit"] and tfidf["date"] == first["date"]
    assert [i["models"] for i in merged["invocations"]] == [["tfidf"], ["lexicon"]]


def test_merged_records_replace_what_was_rerun_and_say_when_each_was_measured():
    from emotune.experiments.results import merge_records, render

    old = dict(_record([_model("tfidf", 0.60, 3), _model("minilm", 0.68, 3), _model("ensemble", 0.71, 1, "ensemble")],
                       ["mpnet"], "aaa1111", "2026-12-01T10:00:00+00:00", wall=3000), seeds=3)
    new = _record([_model("minilm", 0.70, 1), _model("mpnet", 0.73, 1)], ["tfidf", "lexicon"],
                  "bbb2222", "2026-12-02T11:00:00+00:00", wall=600)
    rec = merge_records(old, new)
    by = {m["model"]: m for m in rec["models"]}
    assert by["minilm"]["test"]["f1_macro"]["mean"] == 0.70 and by["minilm"]["commit"] == "bbb2222"  # rerun: replaced
    assert by["tfidf"]["commit"] == "aaa1111" and by["ensemble"]["commit"] == "aaa1111"  # not rerun: kept
    # the kept tfidf rests on 3 seeds, the rerun minilm on 1: the table is on 1 of the suite's 3 seeds
    assert rec["not_run"] == ["lexicon"] and rec["seeds"] == 1
    assert "fewer seeds than the suite plans: minilm 1 of 3, mpnet 1 of 3" in render([rec], {})
    # a later 3-seed run of minilm alone leaves mpnet (kept from the 1-seed invocation) on 1 seed: still partial
    again = dict(_record([_model("minilm", 0.69, 3)], ["tfidf", "lexicon", "mpnet", "ensemble"], "ccc3333",
                         "2026-12-03T11:00:00+00:00"), seeds=3)
    assert merge_records(rec, again)["seeds"] == 1
    only_full = merge_records(old, dict(again, not_run=["tfidf", "lexicon", "mpnet"]))  # tfidf (3 seeds) kept
    assert only_full["seeds"] == 3 and {m["model"] for m in only_full["models"]} == {"tfidf", "minilm", "ensemble"}
    assert [i["models"] for i in rec["invocations"]] == [["tfidf", "ensemble"], ["minilm", "mpnet"]]
    text = render([rec], {})
    assert "Measured in 2 invocations" in text and "commit aaa1111 on 2026-12-01 10:00 (tfidf, ensemble; wall 50 min)" in text
    # another suite's or another metric's file is replaced, not merged
    other = dict(old, primary_metric="accuracy")
    assert [m["model"] for m in merge_records(other, new)["models"]] == ["minilm", "mpnet"]


def test_a_model_kept_from_an_older_file_gets_the_seeds_the_suite_plans_for_it():
    from emotune.experiments.results import merge_records, render

    # a file from before planned_seeds: MPNet's one seed (its plan) read against the suite's three
    old = _record([_model("mpnet", 0.73, 1), _model("ensemble", 0.74, 1, "ensemble")], [], "aaa1111",
                  "2026-12-01T10:00:00+00:00")
    new = dict(_record([dict(_model("minilm", 0.70, 3), planned_seeds=3)], ["mpnet"], "bbb2222",
                       "2026-12-02T11:00:00+00:00"), planned_seeds={"minilm": 3, "mpnet": 1}, seeds=3)
    rec = merge_records(old, new)
    assert {m["model"]: m["planned_seeds"] for m in rec["models"]} == {"mpnet": 1, "minilm": 3, "ensemble": None}
    text = render([rec], {})
    assert "Partial run" not in text  # every model on the seeds planned for it
    short = merge_records(old, dict(new, models=[dict(new["models"][0], seeds=2)]))
    assert "(fewer seeds than the suite plans: minilm 2 of 3)" in render([short], {})


def test_publish_names_a_results_file_it_cannot_read(quick_results, tmp_path):
    from emotune.errors import ConfigError

    (tmp_path / "isear.json").write_text("{not json")
    with pytest.raises(ConfigError, match="isear.json: not a suite results file .Expecting"):
        publish(dict(quick_results, quick=False), tmp_path)
    assert (tmp_path / "isear.json").read_text() == "{not json"  # nothing already written is lost


def test_a_suite_over_several_tasks_keeps_each_rows_metric_and_its_multi_vs_single_table():
    """instruct: E-c rows are scored by macro-F1, V-reg rows by Pearson; the record and the table say which."""
    def row(model, metric, value, ci):
        return {"model": model, "status": "ok", "runs": [f"runs/{model}"], "primary_metric": metric,
                "ci": {"low": ci[0], "high": ci[1]}, "test": {metric: {"mean": value, "std": 0.0}},
                "dev": {metric: value - 0.01}, "train_rows": 200, "train_rows_available": 1181}

    pair = {"task": "v-reg", "metric": "pearson", "multi": "instruct-multi-v-reg", "single": "instruct-single-v-reg",
            "n": 200, "value_a": 0.61, "value_b": 0.52, "diff": 0.09, "low": 0.02, "high": 0.16, "p_value": 0.01}
    results = {"suite": "instruct", "seeds": 1, "suite_seeds": 1, "models": [
        row("multi", "f1_macro", 0.40, (0.37, 0.43)), row("multi-v-reg", "pearson", 0.61, (0.52, 0.69))],
        "multi_vs_single": [pair]}
    rec = suite_record(results, commit="abc1234", date="2026-12-04T00:00:00+00:00")
    assert rec["primary_metric"] == "f1_macro" and "primary_metric" not in rec["models"][0]
    vreg = rec["models"][1]
    assert vreg["primary_metric"] == "pearson" and vreg["test"]["pearson"]["ci95"] == [0.52, 0.69]
    table = suite_table(rec)
    assert "| multi-v-reg | 0.610 ± 0.000 (n=1, pearson) | [0.520, 0.690] |" in table
    assert "| multi | 0.400 ± 0.000 (n=1) | [0.370, 0.430] |" in table
    text = render([rec], {})
    assert "| v-reg | pearson | 0.610 | 0.520 | +0.090 [+0.020, +0.160] | 0.01 |" in text
    # publishing part of the suite later keeps the comparison it did not recompute
    from emotune.experiments.results import merge_records

    later = dict(rec, models=[dict(rec["models"][0], commit="def5678")], not_run=["multi-v-reg"])
    later.pop("multi_vs_single")
    assert merge_records(rec, later)["multi_vs_single"] == [pair]


def test_llm_speeds_below_ten_texts_a_second_keep_a_decimal():
    from emotune.experiments.results import _speed

    assert (_speed(0.49), _speed(7.0), _speed(12.4), _speed(2436.0), _speed(None)) == ("0.5", "7.0", "12", "2,436", "–")
