import json

import pytest

from emotune.errors import ConfigError
from emotune.experiments import benchmark


@pytest.mark.parametrize("suite", sorted(benchmark.SUITES))  # the classic suites; affect suites differ
def test_every_suite_builds_from_the_presets(suite, tmp_path):
    plan = benchmark.build_suite(suite, out_dir=tmp_path)
    keys = {r.key for r in plan.runs}
    assert {"tfidf", "embed-head", "minilm", "mpnet", "smollm2-lora", "smollm2-prompt"} <= keys
    for r in plan.runs:
        assert r.run_dir.parent == tmp_path / "runs"
        if r.kind == "stage":  # an intermediate run (transfer's stage 1) trains on its own data
            continue
        # every run of a suite shares the split (only samples of train / eval may differ)
        split = r.config.data.split
        assert split == plan.runs[0].config.data.split and r.config.data.dataset == plan.runs[0].config.data.dataset
    seeds = {r.config.training.seed for r in plan.runs if r.key == "minilm"}
    assert len(seeds) == benchmark.SUITES[suite].seeds
    assert [r for r in plan.runs if r.key == "smollm2-prompt"][0].seed is None
    # a model that sees a sample of train says so (and how many rows) in the table's note
    for r in plan.runs:
        if r.config.data.max_train:
            assert f"{r.config.data.max_train:,}" in r.note, (r.key, r.note)
    # full budget: every model sees the whole train split; GoEmotions adds a same-budget pair on a sample (its
    # LLM and MiniLM on the same 10,000 rows), beside the full-budget rows of both
    sampled = {"goemotions": {"smollm2-lora-10k", "minilm-10k"}}.get(suite, set())
    assert {r.key for r in plan.runs if r.config.data.max_train is not None} == sampled
    assert "smollm2-features" in keys
    # the slow models run one seed, and say so (ISEAR's SmolLM2 LoRA, 17 min a training, runs every seed)
    for slow in ("mpnet", "smollm2-lora"):
        runs = [r for r in plan.runs if r.key == slow]
        if suite == "isear" and slow == "smollm2-lora":
            assert len(runs) == len(seeds) and "1 seed" not in runs[0].note
        else:
            assert len(runs) == 1 and "1 seed" in runs[0].note


def test_semeval_ec_chooses_every_models_thresholds_for_its_ranking_metric(tmp_path):
    # E-c is ranked by sample Jaccard: every run (and so the ensemble built from them) tunes its per-label
    # thresholds on dev for it; the other multi-label suite keeps macro-F1, its own ranking metric
    for quick in (False, True):
        plan = benchmark.build_suite("semeval-ec", quick=quick, out_dir=tmp_path)
        assert {r.config.training.thresholds_metric for r in plan.runs} == {"jaccard_samples"}
    go = benchmark.build_suite("goemotions", out_dir=tmp_path)
    assert {r.config.training.thresholds_metric for r in go.runs} == {"f1_macro"}


def test_quick_plan_and_selection(tmp_path):
    plan = benchmark.build_suite("isear", quick=True, out_dir=tmp_path)
    assert [r.run_dir.name for r in plan.runs] == [
        "isear-tfidf-s42", "isear-tfidf-s43", "isear-lexicon", "isear-embed-head-s42", "isear-embed-head-s43",
        "isear-minilm-s42", "isear-minilm-s43"]
    minilm = plan.runs[-1].config
    assert minilm.data.max_train == 48 and minilm.training.epochs == 1 and minilm.data.max_eval == 60
    assert plan.runs[0].config.data.max_train == 300
    one = benchmark.build_suite("isear", quick=True, models=["tfidf"], seeds=1, out_dir=tmp_path)
    assert [r.run_dir.name for r in one.runs] == ["isear-tfidf-s42"]


def test_unknown_suite_model_or_seeds():
    with pytest.raises(ConfigError, match="Unknown benchmark suite 'iser'") as exc:
        benchmark.build_suite("iser")
    assert "Did you mean 'isear'?" in str(exc.value)
    with pytest.raises(ConfigError, match="no model 'minilim'") as exc:
        benchmark.build_suite("isear", models=["minilim"])
    assert "minilm" in str(exc.value)
    with pytest.raises(ConfigError, match="at least 1"):
        benchmark.build_suite("isear", seeds=0)


def test_benchmark_resumes_finished_runs(tmp_path):
    kw = dict(quick=True, out_dir=tmp_path, models=["tfidf", "lexicon"], seeds=1, progress=False, report=False,
              cv=False, n_resamples=50)
    first = benchmark.run_suite("isear", **kw)
    stamp = json.loads((tmp_path / "runs" / "isear-tfidf-s42" / "metrics.json").read_text())["finished_at"]
    second = benchmark.run_suite("isear", **kw)
    assert json.loads((tmp_path / "runs" / "isear-tfidf-s42" / "metrics.json").read_text())["finished_at"] == stamp
    assert [r["model"] for r in second.results["models"]] == ["tfidf", "lexicon"]  # no ensemble unless selected
    assert first.results["models"][0]["primary"] == second.results["models"][0]["primary"]
    # the second invocation trained nothing: its wall time is not the suite's (the wall target ignores it)
    assert first.results["reused_runs"] == [] and second.results["reused_runs"] == ["isear-lexicon", "isear-tfidf-s42"]
    # TF-IDF is seeded (the suite's 2 quick seeds), the lexicon is not (one run whatever --seeds says)
    assert [r["planned_seeds"] for r in second.results["models"]] == [2, 1]
    assert second.results["cross_validation"] == {"folds": 3, "skipped": True}
    lexicon = second.results["models"][1]  # learns nothing from train: no train rows or time in the table
    assert lexicon["train_rows"] is None and lexicon["train_seconds"] is None
    assert second.results["models"][0]["train_rows"] == 300
    assert "3-fold cross-validation of the best model: not run this time" in (tmp_path / "results.md").read_text()


def test_quick_isear_benchmark_end_to_end(tmp_path):
    # default jobs (one per core): embed-head's later seeds still start after its first (cache_primers)
    res = benchmark.run_suite("isear", quick=True, out_dir=tmp_path, progress=False, n_resamples=200)
    rows = {r["model"]: r for r in res.results["models"]}
    assert list(rows) == ["tfidf", "lexicon", "embed-head", "minilm", "ensemble"]
    for key, row in rows.items():
        assert row["status"] == "ok", (key, row.get("note"))
        assert row["eval_rows"] == 60 and 0 <= row["primary"]["mean"] <= 1
        assert row["ci"]["low"] <= row["primary"]["mean"] + 1e-9
    assert rows["tfidf"]["primary"]["n"] == 2 and rows["lexicon"]["primary"]["n"] == 1
    assert rows["minilm"]["train_rows"] == 48 and rows["tfidf"]["train_rows"] == 300
    assert rows["tfidf"]["texts_per_s"] > 0
    # the second embed-head seed embeds the same train/dev texts: read from the cache, and said so
    assert rows["embed-head"]["reused_embeddings"] >= 1 and rows["tfidf"]["reused_embeddings"] == 0
    assert "by dev" in rows["ensemble"]["note"]
    assert (tmp_path / "runs" / "isear-ensemble" / "metrics.json").is_file()  # named like every run of the suite
    cv = res.results["cross_validation"]
    assert cv["folds"] == 3 and len(cv["per_fold"]) == 3
    # the folds' fitting time is the suite's too (its 3-hour bound counts it)
    folds = sorted((tmp_path / "cv").glob("*/fold_*"))
    assert len(folds) == 3 and cv["train_seconds"] == pytest.approx(
        sum(json.loads((f / "metrics.json").read_text())["fit_seconds"] for f in folds), abs=0.051)
    md = (tmp_path / "results.md").read_text()
    assert "| model | f1_macro (mean ± std, seeds) | 95% CI | accuracy | train time | predict texts/s |" in md
    assert "3-fold cross-validation" in md and "assert_no_leakage" in md
    html = (tmp_path / "report" / "index.html").read_text()
    assert "emotune benchmark: isear (quick)" in html and "embed-head" in html
    assert json.loads((tmp_path / "results.json").read_text())["report"] == "report/index.html"


def test_suites_given_as_run_configs_use_the_same_runner(tmp_path):
    assert "meld" not in benchmark.SUITES  # a suite of presets: no ensemble, no cross-validation
    plan = benchmark.build_suite("meld", quick=True, out_dir=tmp_path)
    assert plan.runs and all(r.run_dir.parent == tmp_path / "runs" for r in plan.runs)
    assert "tfidf" in {r.key for r in plan.runs}
    assert "meld" in benchmark.suite_names()
    with pytest.raises(ConfigError, match="Did you mean 'meld'"):
        benchmark.build_suite("mled")


def test_instruct_suite_pairs_multi_and_single_task_runs_on_the_same_rows(tmp_path):
    from emotune.experiments.benchmark import RunSpec, _multi_vs_single

    from emotune.data.labels import LabelSet, Task
    from tests.fixtures.toy import RUN_MULTI as MULTI, RUN_REG as REG, make_run

    VOC = LabelSet(("-3", "-2", "-1", "0", "1", "2", "3"), Task.SINGLE, "semeval-v-oc")

    runs = [make_run(tmp_path, "instruct-multi", MULTI, skill=0.8, dataset="semeval-ec"),
            make_run(tmp_path, "instruct-single-ec", MULTI, skill=0.3, seed=7, dataset="semeval-ec"),
            make_run(tmp_path, "instruct-multi-v-reg", REG, skill=0.5, dataset="semeval-v-reg"),
            make_run(tmp_path, "instruct-single-v-reg", REG, skill=0.5, seed=9, dataset="semeval-v-reg",
                     test_seed=5),  # scored on other rows: no paired test
            make_run(tmp_path, "instruct-multi-ei-oc", dataset="semeval-ei-oc"),  # no single-task partner
            # ordinal classes: compared by macro-F1 and by SemEval's Pearson over the class values
            make_run(tmp_path, "instruct-multi-v-oc", VOC, skill=0.7, dataset="semeval-v-oc"),
            make_run(tmp_path, "instruct-single-v-oc", VOC, skill=0.4, seed=3, dataset="semeval-v-oc")]
    from emotune.config import RunConfig

    specs = [RunSpec(r.name, None, RunConfig.load(r / "config.yaml"), r) for r in runs]
    rows = _multi_vs_single(specs, n_resamples=200)
    assert [(r["task"], r["metric"]) for r in rows] == [("ec", "f1_macro"), ("v-reg", "pearson"),
                                                        ("v-oc", "f1_macro"), ("v-oc", "pearson_oc_expected")]
    assert rows[3]["value_a"] > rows[3]["value_b"]
    ec = rows[0]
    assert ec["n"] == 300 and ec["diff"] > 0.1 and ec["low"] <= ec["diff"] <= ec["high"] and ec["p_value"] < 0.05
    assert ec["value_a"] > ec["value_b"]
    assert "different test rows" in rows[1]["error"]


def test_a_view_evaluated_as_loaded_is_not_a_training_and_a_multi_task_run_says_what_it_saw(tmp_path):
    """instruct: the multi-task model's views (training.epochs=0) report no train rows, epochs or time of
    their own; the multi-task row names its rows per task (read from its history)."""
    import json

    from emotune.config import RunConfig
    from emotune.experiments.benchmark import RunSpec, SuitePlan, _collect
    from emotune.experiments.suites import SUITES, with_overrides
    from tests.fixtures.toy import RUN_MULTI as MULTI, RUN_REG as REG, make_run

    multi = make_run(tmp_path, "instruct-multi", MULTI, dataset="semeval-ec")
    (multi / "history.jsonl").write_text(json.dumps({"epoch": 1, "rows": {"ec": 1760, "v-reg": 600}}) + "\n")
    view = make_run(tmp_path, "instruct-multi-v-reg", REG, dataset="semeval-v-reg")
    view_cfg = with_overrides(RunConfig.load(view / "config.yaml"), ["training.epochs=0"])
    specs = [RunSpec("multi", 42, RunConfig.load(multi / "config.yaml"), multi),
             RunSpec("multi-v-reg", 42, view_cfg, view)]
    plan = SuitePlan(SUITES["instruct"], False, tmp_path, specs, 1)
    res = _collect(plan, specs, {}, {}, None, 50, None, 0.0)
    rows = {r["model"]: r for r in res["models"]}
    assert rows["multi"]["train_rows"] == 1000 and "trained on ec 1,760, v-reg 600 rows" in rows["multi"]["note"]
    v = rows["multi-v-reg"]
    assert v["train_rows"] is None and v["train_seconds"] is None and v["epochs"] is None
    assert "trained on" not in v["note"]


def test_results_markdown_lists_each_emotion_of_a_prefixed_run():
    from emotune.experiments.benchmark import _grouped_lines

    def ms(v):
        return {"mean": v, "std": 0.01}

    results = {"models": [
        {"model": "ei-reg-minilm", "primary_metric": "pearson",
         "test": {"pearson": ms(0.69), "spearman": ms(0.68), "pearson_anger": ms(0.70), "pearson_joy": ms(0.73),
                  "spearman_anger": ms(0.6), "pearson_mean_emotion": ms(0.715)}},
        {"model": "emobank-minilm", "primary_metric": "pearson",  # multi-output targets are not groups
         "test": {"pearson": ms(0.55), "pearson_V": ms(0.73), "pearson_A": ms(0.52)}}]}
    lines = _grouped_lines(results)
    assert lines[0].startswith("**Per emotion**")
    assert lines[1:] == ["- ei-reg-minilm: mean per-emotion pearson 0.715 ± 0.010 (anger 0.700, joy 0.730)."]
    assert _grouped_lines({"models": [results["models"][1]]}) == []


def test_conversation_suites_report_weighted_f1_next_to_macro_f1(tmp_path):
    res = benchmark.run_suite("meld", quick=True, out_dir=tmp_path, models=["tfidf"], seeds=1, progress=False,
                              report=False, cv=False, n_resamples=50)
    row = res.results["models"][0]
    assert row["primary_metric"] == "f1_macro"
    name, value = row["secondary"]
    assert name == "f1_weighted" and value["mean"] == pytest.approx(row["test"]["f1_weighted"]["mean"])
    assert "| f1_macro (mean ± std, seeds) | 95% CI | f1_weighted |" in (tmp_path / "results.md").read_text()


def test_unparsable_answers_are_reported_in_the_table(tmp_path, monkeypatch):
    from emotune.models.tfidf import TfidfClassifier

    plain = TfidfClassifier.predict_proba

    def counting(self, texts, batch_size=None):  # as the instruct backend counts answers that are not numbers
        stats = self.__dict__.setdefault("invalid_stats", {"answers": 0, "invalid": 0})
        stats["answers"] += len(texts)
        stats["invalid"] += len(texts) // 4
        return plain(self, texts, batch_size=batch_size)

    monkeypatch.setattr(TfidfClassifier, "predict_proba", counting)
    monkeypatch.setattr(TfidfClassifier, "generation_stats", lambda self: dict(self.__dict__.get("invalid_stats", {})))
    # jobs=1: trained in this process, where the patch applies (a worker process imports the real class)
    res = benchmark.run_suite("emobank", quick=True, out_dir=tmp_path, models=["tfidf"], seeds=1, progress=False,
                              report=False, cv=False, n_resamples=50, jobs=1)
    note = res.results["models"][0]["note"]
    assert "unparsable answers: 25.0% of test, scored at the range midpoint" in note
    assert "unparsable answers: 25.0%" in (tmp_path / "results.md").read_text()


def test_seeds_are_read_from_each_runs_stored_config(tmp_path):
    from emotune.config import RunConfig
    from emotune.experiments.benchmark import RunSpec, _stored_seed

    from tests.fixtures.toy import make_run

    run = make_run(tmp_path, "isear-minilm", seed=7)  # no seed in the name: config.yaml says 7
    assert _stored_seed(RunSpec("minilm", 7, RunConfig.load(run / "config.yaml"), run)) == 7
    assert _stored_seed(RunSpec("lexicon", None, RunConfig.load(run / "config.yaml"), run)) is None
    # an affect suite's seeded model with one seed has no -s42 in its name, yet a seed
    plan = benchmark.build_suite("emobank", quick=True, out_dir=tmp_path)
    minilm = next(r for r in plan.runs if r.key == "minilm")
    assert minilm.run_dir.name == "emobank-minilm" and minilm.seed == minilm.config.training.seed == 42


def test_every_suite_is_one_declarative_spec():
    from emotune.experiments.suites import SUITES, SuiteSpec

    assert set(SUITES) == {"isear", "goemotions", "semeval-ec", "dair-emotion", "meld", "emorynlp", "ei-reg",
                           "emobank", "instruct"}
    assert all(isinstance(s, SuiteSpec) and s.models for s in SUITES.values())
    assert set(benchmark.suite_names()) == set(SUITES)


def test_isear_distils_the_ensemble_and_transfers_from_carer(tmp_path):
    plan = benchmark.build_suite("isear", out_dir=tmp_path)
    by_key = {}
    for r in plan.runs:
        by_key.setdefault(r.key, []).append(r)
    students = by_key["minilm-distilled"]
    assert {r.kind for r in students} == {"student"} and len(students) == 3
    teacher = students[0].config.training.distill.teacher
    assert teacher == str(tmp_path / "teachers" / "isear-ensemble-oof.jsonl")
    assert students[0].config.model.name == "minilm" and students[0].config.data == by_key["minilm"][0].config.data
    (stage1,) = by_key["minilm-carer-stage1"]
    assert stage1.kind == "stage" and stage1.config.data.dataset == "dair-emotion"
    assert stage1.config.data.label_map == "isear" and stage1.config.data.exclude_texts_of == ["isear"]
    transfer = by_key["minilm-transfer-carer"]
    assert {r.config.model.init_from for r in transfer} == {str(stage1.run_dir)}
    assert transfer[0].config.data == by_key["minilm"][0].config.data


def test_results_markdown_compares_student_teacher_and_transfer():
    from emotune.experiments.benchmark import _comparison_lines

    def row(model, mean, speed):
        return {"model": model, "primary_metric": "f1_macro", "primary": {"mean": mean, "std": 0.01, "n": 3},
                "texts_per_s": speed}

    results = {"models": [row("minilm", 0.60, 900), row("ensemble", 0.66, 40), row("minilm-distilled", 0.63, 900),
                          row("minilm-transfer-carer", 0.61, 900)]}
    text = "\n".join(_comparison_lines(results))
    assert "**Distillation**" in text and "minilm-distilled 0.630 ± 0.010 at 900 texts/s; ensemble 0.660" in text
    assert "**Transfer**" in text and "minilm-transfer-carer 0.610" in text


def test_cross_validation_skips_the_models_too_slow_for_every_seed(tmp_path, monkeypatch):
    """ISEAR's best model by dev is MPNet (one seed, 25 min a training on a core): five more trainings would
    not fit the suite's time, so the cross-validation takes the best of the models that ran every seed."""
    from emotune.training import cv

    plan = benchmark.build_suite("isear", models=["tfidf", "minilm", "mpnet"], out_dir=tmp_path)
    dev = {"tfidf": 0.61, "minilm": 0.69, "mpnet": 0.74}
    for spec in plan.runs:
        spec.run_dir.mkdir(parents=True)
        (spec.run_dir / "metrics.json").write_text(json.dumps(
            {"primary_metric": "f1_macro", "dev": {"f1_macro": dev[spec.key] + spec.config.training.seed / 1e4}}))
    chosen = []

    def fake_cv(config, folds, out, **_):
        chosen.append(config.name)
        return cv.CVSummary(run_dir=out, folds=folds, primary_metric="f1_macro", mean={"f1_macro": 0.7},
                            std={"f1_macro": 0.01}, per_fold=[{"metrics": {"f1_macro": 0.7}}] * folds)

    monkeypatch.setattr(cv, "cross_validate", fake_cv)
    monkeypatch.setattr(benchmark, "_prepare_checked", lambda *a: None)
    res = benchmark._cross_validate_best(plan, plan.runs, 5, {}, lambda *_: None)
    assert chosen == ["isear-minilm-s42"] and res["model"] == "minilm"
    assert res["chosen_from"] == "the models run with every seed (mpnet: too slow for 5 more trainings)"


def test_a_transfer_stage_never_sets_the_suites_test_size(tmp_path):
    # stage 1 of a transfer is scored on its own dataset's test split (CARER: 1,764 rows); the suite's models share
    # ISEAR's 750. Two seeds of the transfer model and the stage must not make 1,764 the reference the report uses.
    from emotune.runs import METRICS_FILE

    plan = benchmark.build_suite("isear", out_dir=tmp_path, models=["minilm-carer-stage1", "minilm-transfer-carer"],
                                 seeds=1)
    (stage,) = [r for r in plan.runs if r.kind == "stage"]
    (transfer,) = [r for r in plan.runs if r.kind != "stage"]
    for spec, rows in ((stage, 1764), (transfer, 750)):
        spec.run_dir.mkdir(parents=True)
        (spec.run_dir / METRICS_FILE).write_text(json.dumps({"sizes": {"test": rows}}))
    assert benchmark._reference_eval_rows([stage, transfer]) == 750
    assert benchmark._reference_eval_rows([stage]) is None


def test_parallel_suite_matches_the_serial_one(tmp_path):
    """Two pinned workers train the same runs to the same scores as one process, and the results say so."""
    kw = dict(quick=True, models=["tfidf", "lexicon"], seeds=2, progress=False, report=False, cv=False,
              n_resamples=50)
    serial = benchmark.run_suite("isear", out_dir=tmp_path / "serial", jobs=1, **kw)
    parallel = benchmark.run_suite("isear", out_dir=tmp_path / "parallel", jobs=2, **kw)
    assert parallel.results["jobs"] == 2 and serial.results["jobs"] == 1
    for name in ("isear-tfidf-s42", "isear-tfidf-s43", "isear-lexicon"):
        a = json.loads((tmp_path / "serial" / "runs" / name / "metrics.json").read_text())
        b = json.loads((tmp_path / "parallel" / "runs" / name / "metrics.json").read_text())
        assert a["test"] == pytest.approx(b["test"]) and a["dev"] == pytest.approx(b["dev"])
    # the torch threads a worker used: one (recorded by the run itself)
    machine = json.loads((tmp_path / "parallel" / "runs" / "isear-tfidf-s42" / "metrics.json").read_text())["machine"]
    assert machine.get("torch_threads") in (None, 1)
    # resumable: a second call reuses every run
    again = benchmark.run_suite("isear", out_dir=tmp_path / "parallel", jobs=2, **kw)
    assert [r["model"] for r in again.results["models"]] == ["tfidf", "lexicon"]


def test_one_run_left_trains_on_a_pinned_worker(tmp_path):
    """--jobs 2 with a single run to train still trains it on a one-thread worker, as the runs it is compared with
    (in this process it would take every core: a train time not comparable with the rest of the table)."""
    benchmark.run_suite("isear", out_dir=tmp_path, jobs=2, quick=True, models=["minilm"], seeds=1, progress=False,
                        report=False, cv=False, n_resamples=50)
    metrics = json.loads((tmp_path / "runs" / "isear-minilm-s42" / "metrics.json").read_text())
    assert metrics["machine"]["torch_threads"] == 1


def test_jobs_must_be_positive(tmp_path):
    from emotune.errors import EmotuneError

    with pytest.raises(EmotuneError, match="--jobs must be at least 1"):
        benchmark.run_suite("isear", quick=True, models=["lexicon"], seeds=1, out_dir=tmp_path, jobs=0,
                            progress=False, report=False, cv=False)
