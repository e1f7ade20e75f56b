"""The benchmark runner: every run of a suite, one table and one report.

The suites are data (:mod:`emotune.experiments.suites`); :func:`build_suite` plans a suite's runs
and ``run_suite``

1. prepares each distinct data config once and asserts that no normalised dev/test text occurs
   in train (:func:`emotune.data.splits.assert_no_leakage`);
2. trains every run that is not finished yet (a benchmark that was stopped continues where it
   stopped; a failure such as a model that is not available offline becomes a table note);
3. measures prediction throughput once per model;
4. builds an ensemble of the best models, chosen by their **dev** score, and cross-validates the
   best model (isear);
5. writes ``results.json``, ``results.md`` (model, primary metric mean ± std over seeds, 95% CI,
   accuracy or Jaccard, train time, texts/s, rows used, notes) and the comparison report.

A model that cannot fit the suite's time trains on a fixed sample, LLM prompting is scored on one; the table's
``train rows`` / ``eval rows`` / ``note`` columns say so. ``--quick``: a smoke version of a minute or two.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from emotune.data.labels import Task
from emotune.errors import EmotuneError
from emotune import runs as rd
from emotune.config import EnsembleModelConfig, RunConfig
from emotune.experiments.suites import SUITES as ALL_SUITES
from emotune.experiments.suites import RunSpec, SuitePlan, SuiteSpec, build_suite

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
REPORT_DIR = "report"
SLOW_BACKENDS = ("prompt", "instruct")  # LLM scoring/generation: throughput timed on 64 texts, not 200
MEASURE_FILE = "measurements.json"
QUICK_FOLDS = 3
QUICK_ENSEMBLE = 2  # members
QUICK_EXPLAIN = 10  # test texts explained per model for the report's "words that drive each emotion" (--quick)
QUICK_CV_BACKENDS = ("tfidf",)  # --quick cross-validates the TF-IDF model only (seconds, not minutes)

# the suites that compare backends on one dataset and add an ensemble (and cross-validation)
SUITES: dict[str, SuiteSpec] = {name: s for name, s in ALL_SUITES.items() if s.ensemble_size}


@dataclass
class BenchmarkResult:
    out_dir: Path
    results: dict
    table_markdown: str
    report: Path | None


# the table's second column: the metric a task's literature ranks by next to the primary one
# (a suite may name its own: conversations are ranked by weighted F1, neutral dominates them)
SECONDARY = {Task.SINGLE: "accuracy", Task.MULTI: "jaccard_samples", Task.REGRESSION: "spearman"}


def suite_names() -> list[str]:
    return list(ALL_SUITES)


# -- running ----------------------------------------------------------------------------------------
def _data_key(cfg: RunConfig) -> str:
    return json.dumps(cfg.data.model_dump(mode="json"), sort_keys=True)


def _prepare_checked(cfg: RunConfig, cache: dict, say) -> object:
    """Prepared data for a run's data config (shared by runs with the same one), leakage-checked."""
    from emotune.data.pipeline import prepare_data
    from emotune.data.splits import assert_no_leakage

    key = _data_key(cfg)
    if key not in cache:
        data = prepare_data(cfg.data)
        assert_no_leakage(data.test, data.train)
        assert_no_leakage(data.dev, data.train)
        say(f"  data: train {len(data.train):,} / dev {len(data.dev):,} / test {len(data.test):,} rows; "
            "no normalised dev/test text occurs in train")
        cache[key] = data
    return cache[key]


def _measure_throughput(run_dir: Path, texts: Sequence[str], n: int = 200, batch_size: int = 64) -> float | None:
    """Texts per second of the saved model on up to ``n`` test texts (after a small warm-up).

    Measured here rather than taken from the trainer's timing of its test scoring: embeddings of
    long text lists are cached (the second seed of embed-head "predicts" test from the cache), and
    fewer than 256 texts are never cached.
    """
    texts = list(texts)[:n]
    if not texts:
        return None
    clf = rd.Run.open(run_dir).load()
    clf.predict_proba(texts[:4], batch_size=batch_size)
    t0 = time.perf_counter()
    clf.predict_proba(texts, batch_size=batch_size)
    return len(texts) / max(time.perf_counter() - t0, 1e-9)


def _reusable(spec: RunSpec, say) -> bool:
    """Whether the run finished earlier with the same config (then it is reused, not retrained)."""
    from emotune.training.trainer import config_differences

    if rd.is_finished(spec.run_dir):
        diffs = config_differences(rd.load_config(spec.run_dir), spec.config)
        if not diffs:
            say(f"[dim]= {spec.run_dir.name}: finished earlier, reused[/]")
            return True
        say(f"[yellow]! {spec.run_dir.name}: config changed ({diffs[0]}...), retraining[/]")
    return False


def _train_one(spec: RunSpec, data, say, progress: bool) -> dict:
    """Train one run in this process; ``{"status": "done" | "failed", ...}``."""
    from emotune.training.trainer import train

    try:
        train(spec.config, spec.run_dir, resume=True, overwrite=True, data=data, progress=progress)
    except EmotuneError as exc:
        say(f"[red]x {spec.run_dir.name} failed:[/] {exc.message}")
        return {"status": "failed", "error": exc.message}
    return {"status": "done"}


def _stored_seed(spec: RunSpec) -> int | None:
    """The training seed the run's own config.yaml records (None for a model that is not seeded)."""
    return rd.load_config(spec.run_dir).training.seed if spec.seed is not None else None


def _dev_primary(run_dir: Path) -> float | None:
    m = rd.load_metrics(run_dir)
    return (m.get("dev") or {}).get(m.get("primary_metric", "f1_macro"))


def follow_ups(spec: SuiteSpec, *, quick: bool, models: Sequence[str] | None, cv: bool) -> tuple[int, int]:
    """(ensemble members, cross-validation folds) a suite builds after its runs; 0 where it builds none."""
    members = (QUICK_ENSEMBLE if quick else spec.ensemble_size) if not models or "ensemble" in models else 0
    folds = (QUICK_FOLDS if quick else spec.cv_folds) if cv else 0
    return (members if spec.ensemble_size else 0), folds


def run_suite(name: str, *, quick: bool = False, out_dir: str | Path | None = None, models: Sequence[str] | None = None,
              seeds: int | None = None, n_resamples: int = 1000, progress: bool = True, report: bool = True,
              cv: bool = True, ensemble: bool = True, jobs: int | None = None,
              explain_texts: int | None = None) -> BenchmarkResult:
    """Train, measure and compare every run of a suite (resumable); see the module docstring.

    ``explain_texts``: test texts the report explains per model ("words that drive each emotion"; default
    100, 0 leaves that section out: Integrated Gradients through an LLM takes minutes per model on a CPU).
    ``jobs`` runs that many trainings at once, each in its own process pinned to one core with one
    thread (:mod:`emotune.training.parallel`; default: one per CPU); ``jobs=1`` trains in this
    process, one run after the other.
    """
    from rich.console import Console

    from emotune.training.parallel import default_jobs, train_parallel

    console = Console(stderr=True)
    say = (lambda msg: console.print(msg, highlight=False)) if progress else (lambda msg: None)
    plan = build_suite(name, quick=quick, models=models, seeds=seeds, out_dir=out_dir)
    out = plan.out_dir
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    measure_path = out / MEASURE_FILE
    measurements = json.loads(measure_path.read_text(encoding="utf-8")) if measure_path.is_file() else {}
    say(f"[bold]Benchmark {name}{' (quick)' if quick else ''}[/]: {len(plan.runs)} runs -> {out}")

    jobs = default_jobs() if jobs is None else jobs
    if jobs < 1:
        raise EmotuneError(f"--jobs must be at least 1 (got {jobs})")
    data_cache: dict = {}
    status: dict[str, dict] = {}
    todo: list[RunSpec] = []
    students = [s for s in plan.runs if s.kind == "student"]  # trained after the ensemble, on its teacher file
    for spec in plan.runs:
        _prepare_checked(spec.config, data_cache, say)  # leakage check of every data config, once, up front
        if spec.kind == "student":
            continue
        if _reusable(spec, say):
            status[str(spec.run_dir)] = {"status": "reused"}
        else:
            todo.append(spec)
    if jobs > 1 and todo:  # even one run: a pinned one-thread worker, timed as the others
        status.update(train_parallel(todo, jobs, say))
        todo = []
    for spec in todo:
        say(f"[bold]> {spec.run_dir.name}[/] ({spec.config.model.backend}"
            + (f" {spec.config.model.name}" if spec.config.model.name else "") + ")")
        status[str(spec.run_dir)] = _train_one(spec, _prepare_checked(spec.config, data_cache, say), say,
                                               progress=False)

    finished = [s for s in plan.runs if s.kind != "student" and rd.is_finished(s.run_dir)
                and status[str(s.run_dir)]["status"] != "failed"]
    ref_rows = _reference_eval_rows(finished)

    # ensemble of the best models by DEV score (never test), from runs on the reference test set
    n_members, folds = follow_ups(plan.suite, quick=quick, models=models, cv=cv)
    if ensemble and n_members and finished:
        ens = _ensemble_spec(plan, finished, ref_rows)
        if ens is not None:
            members = ", ".join(Path(m).name for m in ens.config.model.members)
            say(f"[bold]> {ens.run_dir.name}[/] (ensemble of {members})")
            data = _prepare_checked(ens.config, data_cache, say)
            status[str(ens.run_dir)] = ({"status": "reused"} if _reusable(ens, say)
                                        else _train_one(ens, data, say, progress=False))
            plan.runs.append(ens)
            if rd.is_finished(ens.run_dir) and status[str(ens.run_dir)]["status"] != "failed":
                finished.append(ens)
    if students:
        ens_dir = next((s.run_dir for s in finished if s.kind == "ensemble"), None)
        status.update(_train_students(plan, students, ens_dir, jobs, say))
        finished += [s for s in students if status[str(s.run_dir)]["status"] != "failed" and rd.is_finished(s.run_dir)]

    # throughput once per model (it does not depend on the seed), kept across resumed benchmarks
    for key in dict.fromkeys(s.key for s in finished):
        first = next(s for s in finished if s.key == key)
        run_metrics = rd.load_metrics(first.run_dir)
        stamp = run_metrics.get("finished_at")
        if measurements.get(first.run_dir.name, {}).get("finished_at") == stamp:
            continue
        try:
            texts = rd.load_predictions(first.run_dir, "test").texts or []
            slow = first.config.model.backend in SLOW_BACKENDS
            speed = _measure_throughput(first.run_dir, texts, n=32 if quick else (64 if slow else 200))
            measurements[first.run_dir.name] = {"texts_per_s": speed, "finished_at": stamp}
        except (EmotuneError, OSError) as exc:
            measurements[first.run_dir.name] = {"texts_per_s": None, "error": str(exc), "finished_at": stamp}
        measure_path.write_text(json.dumps(measurements, indent=2) + "\n", encoding="utf-8")

    cv_result = None
    skipped_folds = 0 if cv else follow_ups(plan.suite, quick=quick, models=models, cv=True)[1]
    if folds and finished:
        cv_result = _cross_validate_best(plan, finished, folds, data_cache, say, jobs)
    elif skipped_folds:
        cv_result = {"folds": skipped_folds, "skipped": True}

    results = _collect(plan, finished, status, measurements, ref_rows, n_resamples, cv_result, started, jobs)
    table = _table(results)
    (out / RESULTS_JSON).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report_path = None
    in_report = [s for s in finished if _eval_rows(s.run_dir) == ref_rows and s.kind != "stage"]
    if report and in_report:
        from emotune.reports.compare import compare_runs

        # one report per dataset: a suite over several tasks (instruct) compares like with like
        by_dataset: dict[str, list[RunSpec]] = {}
        for s in in_report:
            by_dataset.setdefault(s.config.data.dataset, []).append(s)
        reports = {}
        for dataset, specs in by_dataset.items():
            folder = out / (REPORT_DIR if len(by_dataset) == 1 else f"{REPORT_DIR}-{dataset}")
            groups = {str(s.run_dir): s.key for s in specs}
            meas = {str(s.run_dir.resolve()): measurements.get(s.run_dir.name, {}) for s in specs}
            title = f"emotune benchmark: {name}{' (quick)' if quick else ''}" + (
                f", {dataset}" if len(by_dataset) > 1 else "")
            path = compare_runs([s.run_dir for s in specs], folder, overwrite=True, groups=groups, title=title,
                                n_resamples=n_resamples, measurements=meas, explain_texts=explain_texts if explain_texts is not None
                                else QUICK_EXPLAIN if quick else 100)
            reports[dataset] = str(path.relative_to(out))
            report_path = report_path or path
        results["report"] = ", ".join(reports.values())
    results["wall_seconds"] = round(time.time() - started, 1)  # the whole invocation, report included
    (out / RESULTS_JSON).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / RESULTS_MD).write_text(_markdown(results, table), encoding="utf-8")
    say(f"Done in {results['wall_seconds']:.0f} s")
    return BenchmarkResult(out, results, table, report_path)


def _eval_rows(run_dir: Path) -> int | None:
    return (rd.load_metrics(run_dir).get("sizes") or {}).get("test")


def _reference_eval_rows(finished: list[RunSpec]) -> int | None:
    """The test size most runs share (prompting on a sample has fewer rows and sits out the report). A stage run
    (transfer's first step) is scored on its own dataset's test split and never counts."""
    from collections import Counter

    sizes = Counter(n for n in (_eval_rows(s.run_dir) for s in finished if s.kind != "stage") if n is not None)
    if not sizes:
        return None
    return max(sizes, key=lambda n: (sizes[n], n))  # most runs; on a tie the larger test set


def _ensemble_spec(plan: SuitePlan, finished: list[RunSpec], ref_rows: int | None) -> RunSpec | None:
    by_key: dict[str, list[RunSpec]] = {}
    for s in finished:
        if s.kind == "model" and _eval_rows(s.run_dir) == ref_rows and _dev_primary(s.run_dir) is not None:
            by_key.setdefault(s.key, []).append(s)
    if len(by_key) < 2:
        return None
    ranked = sorted(by_key.items(), key=lambda kv: -np.mean([_dev_primary(s.run_dir) for s in kv[1]]))
    chosen = ranked[: QUICK_ENSEMBLE if plan.quick else plan.suite.ensemble_size]
    members = [max(runs, key=lambda s: _dev_primary(s.run_dir)) for _, runs in chosen]  # best seed by dev
    base = members[0].config
    name = f"{plan.suite.prefix or plan.suite.name}-ensemble"
    cfg = base.model_copy(update={"name": name, "description": f"benchmark {plan.suite.name}: ensemble"}, deep=True)
    cfg.model = EnsembleModelConfig(members=[str(m.run_dir.resolve()) for m in members], combine="mean")
    from emotune.metrics import PRIMARY

    primary = PRIMARY[rd.load_labels(members[0].run_dir).task]
    note = (f"mean of the probabilities of the best {len(members)} models by dev {primary}: "
            + ", ".join(m.key + (f" (seed {m.seed})" if m.seed is not None else "") for m in members))
    return RunSpec("ensemble", None, cfg, plan.out_dir / "runs" / name, note, kind="ensemble")


def _train_students(plan: SuitePlan, students: list[RunSpec], ens_dir: Path | None, jobs: int, say) -> dict:
    """The distilled models: the teacher file from the ensemble's members (out-of-fold on train; rebuilt when the
    members change), then the students (retrained when the file changed)."""
    from emotune.training.parallel import train_parallel
    from emotune.training.distill import build_teacher_file, read_teacher_file, teacher_configs

    path = Path(students[0].config.training.distill.teacher)
    if ens_dir is not None:
        members = [c.name for c in teacher_configs([ens_dir])]
        folds = QUICK_FOLDS if plan.quick else plan.suite.distill_folds
        old = read_teacher_file(path).provenance if path.is_file() else {}
        if [t.get("name") for t in old.get("teachers", [])] != members or old.get("folds") != folds:
            say(f"[bold]> teacher file[/] {path.name}: {folds}-fold out-of-fold probabilities of {', '.join(members)}")
            try:
                build_teacher_file([ens_dir], path, folds=folds, data_config=students[0].config.data,
                                   work_dir=path.parent / "work", progress=False, jobs=jobs, say=say)
            except EmotuneError as exc:
                say(f"[red]x teacher file failed:[/] {exc.message}")
                return {str(s.run_dir): {"status": "failed", "error": f"teacher file: {exc.message}"} for s in students}
    sha = read_teacher_file(path).summary()["sha256"] if path.is_file() else None
    status, todo = {}, []
    for spec in students:
        same_teacher = rd.is_finished(spec.run_dir) and (
            rd.load_metrics(spec.run_dir).get("distillation") or {}).get("sha256") == sha
        if same_teacher and _reusable(spec, say):
            status[str(spec.run_dir)] = {"status": "reused"}
        else:
            todo.append(spec)
    if jobs > 1 and todo:  # even one run: a pinned one-thread worker, timed as the others
        return {**status, **train_parallel(todo, jobs, say)}
    for spec in todo:
        say(f"[bold]> {spec.run_dir.name}[/] (student of {path.name})")
        status[str(spec.run_dir)] = _train_one(spec, None, say, progress=False)
    return status


def _cross_validate_best(plan: SuitePlan, finished: list[RunSpec], folds: int, data_cache: dict, say,
                         jobs: int = 1) -> dict | None:
    from emotune.training.cv import cross_validate

    # a model capped at fewer seeds than the suite's (MPNet, the LLM: hours a run on 2 CPU cores) is too slow
    # for k more trainings: the cross-validation takes the best of the models that ran every seed
    slow = sorted(m.key for m in plan.suite.models if m.max_seeds is not None and m.max_seeds < plan.seeds)
    candidates = [s for s in finished
                  if s.kind == "model" and s.seed is not None and _dev_primary(s.run_dir) is not None
                  and (s.config.model.backend in QUICK_CV_BACKENDS if plan.quick else s.key not in slow)]
    if not candidates:
        return None
    by_key: dict[str, list[float]] = {}
    for s in candidates:
        by_key.setdefault(s.key, []).append(_dev_primary(s.run_dir))
    best_key = max(by_key, key=lambda k: np.mean(by_key[k]))
    spec = next(s for s in candidates if s.key == best_key)
    say(f"[bold]> {folds}-fold cross-validation of {best_key}[/] (best by dev)")
    try:
        summary = cross_validate(spec.config, folds, plan.out_dir / "cv" / f"{spec.config.name}-cv{folds}",
                                 progress=False, data=_prepare_checked(spec.config, data_cache, say), jobs=jobs, say=say)
    except EmotuneError as exc:
        say(f"[red]x cross-validation failed:[/] {exc.message}")
        return {"model": best_key, "folds": folds, "error": exc.message}
    return {"model": best_key, "folds": folds, "run_dir": str(summary.run_dir.relative_to(plan.out_dir)),
            "chosen_from": "the TF-IDF runs (--quick)" if plan.quick else (
                f"the models run with every seed ({', '.join(slow)}: too slow for {folds} more trainings)" if slow
                else "all models"),
            "primary_metric": summary.primary_metric, "mean": summary.mean, "std": summary.std,
            "per_fold": [f["metrics"].get(summary.primary_metric) for f in summary.per_fold], "notes": summary.notes,
            "train_seconds": round(rd.fit_seconds_under(summary.run_dir), 1)}


def _collect(plan: SuitePlan, finished: list[RunSpec], status: dict, measurements: dict, ref_rows: int | None,
             n_resamples: int, cv_result: dict | None, started: float, jobs: int = 1) -> dict:
    from emotune.metrics import PRIMARY
    from emotune.evaluation.stats import aggregate, resample_indices, resampled_values
    from emotune.training.distill import teacher_fit_seconds
    from emotune.training.trainer import machine_info

    rows = []
    suite_seeds = plan.suite.quick_seeds if plan.quick else plan.suite.seeds
    keys = list(dict.fromkeys(s.key for s in plan.runs))
    for key in keys:
        specs = [s for s in plan.runs if s.key == key]
        done = [s for s in specs if s in finished]
        failed = [st for st in (status.get(str(s.run_dir), {}) for s in specs) if st.get("status") == "failed"]
        row: dict = {"model": key, "runs": [str(s.run_dir.relative_to(plan.out_dir)) for s in done],
                     "seeds": [_stored_seed(s) for s in done], "note": specs[0].note, "status": "ok" if done else "failed"}
        if failed:
            row["note"] = "; ".join(x for x in [row["note"], f"failed: {failed[0].get('error')}"] if x)
        if not done:
            rows.append(row)
            continue
        records = [rd.Run.open(s.run_dir, finished=True) for s in done]
        ls = records[0].label_set
        primary = PRIMARY[ls.task]
        secondary = plan.suite.secondary or SECONDARY[ls.task]
        tests = [r.metrics.get("test") or {} for r in records]
        agg = aggregate(tests)
        dev = aggregate([r.metrics.get("dev") or {} for r in records])
        preds = [r.predictions("test") for r in records]
        idx = resample_indices(len(preds[0].y_true), n_resamples, seed=0)
        seed_mean = np.mean([resampled_values(p.y_true, p.scores, primary, label_set=ls, thresholds=p.thresholds,
                                              idx=idx) for p in preds], axis=0)
        lo, hi = np.nanquantile(seed_mean, [0.025, 0.975])
        fit = [r.train_seconds for r in records if r.train_seconds is not None]
        speed = next((measurements.get(s.run_dir.name, {}).get("texts_per_s") for s in done
                      if measurements.get(s.run_dir.name, {}).get("texts_per_s") is not None), None)
        sizes = records[0].metrics.get("sizes") or {}
        eval_rows = sizes.get("test")
        note = row["note"]
        if ref_rows is not None and eval_rows != ref_rows and done[0].kind != "stage":  # a stage's note says why
            note = "; ".join(x for x in [note, f"scored on {eval_rows} of {ref_rows} test rows: not in the report's "
                                               "significance tests"] if x)
        per_task = (records[0].history[-1].get("rows") if records[0].history else None) or {}
        if len(per_task) > 1 and _learns(specs[0]):  # a multi-task run: what it saw of each task
            note = "; ".join(x for x in [note, "trained on " + ", ".join(f"{t} {n:,}" for t, n in per_task.items())
                                         + " rows"] if x)
        if "invalid_rate" in agg:  # generated regression answers that did not parse (instruct)
            note = "; ".join(x for x in [note, f"unparsable answers: {agg['invalid_rate']['mean']:.1%} of test, "
                                               "scored at the range midpoint"] if x)
        row.update({
            "primary_metric": primary,
            "primary": {k: agg[primary][k] for k in ("mean", "std", "n")} if primary in agg else None,
            "ci": {"low": float(lo), "high": float(hi), "n_resamples": n_resamples},
            "secondary": ((secondary, {k: agg[secondary][k] for k in ("mean", "std", "n")})
                          if secondary in agg else None),
            "dev_primary": {k: dev[primary][k] for k in ("mean", "std", "n")} if primary in dev else None,
            "train_seconds": float(np.mean(fit)) if fit and (_learns(specs[0]) or key == "ensemble") else None,
            "texts_per_s": speed, "reused_embeddings": sum(bool(r.metrics.get("reused_embeddings")) for r in records),
            "resumed_unclocked": sum(r.metrics.get("fit_resumed") == "unclocked" for r in records),
            "train_rows": sizes.get("train") if _learns(specs[0]) else None, "eval_rows": eval_rows, "note": note,
            "kind": "ensemble" if key == "ensemble" else "single",
            "planned_seeds": next((m.seeds_for(suite_seeds) for m in plan.suite.models if m.key == key), None),
            "train_rows_available": ((records[0].data_info.get("notes") or {}).get("available") or {}).get(
                "train", sizes.get("train") if not specs[0].config.data.max_train else None),
            "epochs": specs[0].config.training.epochs if _trains_epochs(specs[0]) else None,
            "epochs_trained": [max((h.get("epoch") or 0 for h in r.history), default=0) for r in records] if _trains_epochs(specs[0]) else None,
            "dev": {k: v["mean"] for k, v in dev.items()}, "test": {k: {"mean": v["mean"], "std": v["std"]} for k, v in agg.items()},
        })
        rows.append(row)
    return {
        "suite": plan.suite.name, "quick": plan.quick, "seeds": plan.seeds, "jobs": jobs,
        # a run of part of the suite (--models, --seeds) says what it left out: its tables are not the suite's
        "suite_seeds": suite_seeds, "planned_seeds": {m.key: m.seeds_for(suite_seeds) for m in plan.suite.models},
        "not_run": [m.key for m in (plan.suite.quick_models if plan.quick and plan.suite.quick_models is not None
                                    else plan.suite.models) if m.key not in {s.key for s in plan.runs}],
        "started_at": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(time.time() - started, 1),  # again after the report; with reused runs not the suite's
        "reused_runs": sorted(Path(k).name for k, v in status.items() if v.get("status") == "reused"),
        "reference_eval_rows": ref_rows,
        "leakage_check": "assert_no_leakage(test, train) and (dev, train) passed for every data config",
        "machine": machine_info(),
        "models": rows, "cross_validation": cv_result, "report": None,  # fold times: in the 3-hour bound
        "teacher_train_seconds": teacher_fit_seconds([s.config for s in plan.runs if s.kind == "student"]),
        "multi_vs_single": _multi_vs_single(finished, n_resamples) or None,  # instruct's multi/single pairs
    }


def _multi_vs_single(finished: list[RunSpec], n_resamples: int) -> list[dict]:
    """The instruct suite's question, task by task: the multi-task model vs the single-task one,
    paired on the same test rows (both score the same fixed sample)."""
    from emotune.metrics import PRIMARY, ordinal_values
    from emotune.evaluation.stats import paired_bootstrap
    from emotune.experiments.suites import instruct_pairs

    by_name = {s.run_dir.name: s for s in finished}
    out = []
    for task, multi, single in instruct_pairs(list(by_name)):
        a, b = rd.Run.open(by_name[multi].run_dir, finished=True), rd.Run.open(by_name[single].run_dir, finished=True)
        pa, pb = a.predictions("test"), b.predictions("test")
        # ordinal tasks (EI-oc, V-oc) also by SemEval's own metric, Pearson's r over the classes
        metrics = [PRIMARY[a.label_set.task]] + (["pearson_oc_expected"] if ordinal_values(a.label_set) is not None
                                                 else [])
        for metric in metrics:
            row = {"task": task, "metric": metric, "multi": multi, "single": single, "n": len(pa.y_true)}
            if pa.texts != pb.texts or not np.array_equal(np.asarray(pa.y_true), np.asarray(pb.y_true)):
                row["error"] = "the two runs were scored on different test rows: no paired test"
            else:
                row.update(paired_bootstrap(pa.y_true, pa.scores, pb.scores, metric, label_set=a.label_set,
                                            thresholds_a=pa.thresholds, thresholds_b=pb.thresholds,
                                            n_resamples=n_resamples))
            out.append(row)
    return out


def _trains_epochs(spec: RunSpec) -> bool:
    """Backends trained by the epoch loop (their epochs mean something in a table)."""
    return spec.config.model.backend in ("encoder", "causal-lm", "seq2seq", "instruct") and _learns(spec)


def _learns(spec: RunSpec) -> bool:
    """Whether the run learns from its train split: not an ensemble, the lexicon, zero-shot prompting, nor a
    trained model evaluated as loaded (``training.epochs=0``: the instruct suite's views of its multi-task model)."""
    from emotune.reports.compare import learns_from_train

    return learns_from_train(spec.config.model) and spec.config.training.epochs > 0


def _table(results: dict) -> str:
    from emotune.reports.compare import results_table

    primary = next((r["primary_metric"] for r in results["models"] if r.get("primary_metric")), "f1_macro")
    return results_table([r for r in results["models"]], primary=primary)


def _grouped_lines(results: dict) -> list[str]:
    """Runs trained on several emotions at once (``data.text_prefix_col``): each emotion's score and
    their mean, the number SemEval-2018 EI-reg ranks by (the table's number pools every emotion)."""
    from emotune.evaluation.stats import format_mean_std

    lines = []
    for r in results["models"]:
        test = r.get("test") or {}
        pm = r.get("primary_metric") or ""
        mean_key = next((k for k in test if k.startswith(f"{pm}_mean_")), None)
        if not pm or mean_key is None:
            continue
        column = mean_key[len(f"{pm}_mean_"):]
        groups = [k[len(pm) + 1:] for k in test if k.startswith(pm + "_") and k != mean_key
                  and not k.startswith(f"{pm}_mean_")]
        parts = ", ".join(f"{g} {test[f'{pm}_{g}']['mean']:.3f}" for g in sorted(groups))
        lines.append(f"- {r['model']}: mean per-{column} {pm} "
                     f"{format_mean_std(test[mean_key]['mean'], test[mean_key]['std'])} ({parts}).")
    if lines:
        lines.insert(0, f"**Per {column}** (test; the table pools every {column} into one score):")
    return lines


# (title, the rows compared, what they answer): rows of the table side by side when the suite has all of them
COMPARISONS = (("Distillation", ("minilm-distilled", "ensemble", "minilm"),
                "student vs its teacher (the ensemble) vs plain MiniLM: ensemble quality at MiniLM speed?"),
               ("Transfer", ("minilm-transfer-carer", "minilm"),
                "MiniLM first fine-tuned on CARER mapped to ISEAR's labels vs MiniLM from its pretrained weights"))


def _comparison_lines(results: dict) -> list[str]:
    from emotune.evaluation.stats import format_mean_std

    rows = {r["model"]: r for r in results["models"] if r.get("primary")}
    lines = []
    for title, keys, question in COMPARISONS:
        if not all(k in rows for k in keys):
            continue
        pm = rows[keys[0]]["primary_metric"]
        parts = [f"{k} {format_mean_std(rows[k]['primary']['mean'], rows[k]['primary']['std'])}"
                 + (f" at {rows[k]['texts_per_s']:,.0f} texts/s" if rows[k].get("texts_per_s") else "") for k in keys]
        lines += [f"**{title}** ({question}) test {pm}: " + "; ".join(parts) + ".", ""]
    return lines


def _markdown(results: dict, table: str) -> str:
    from emotune.evaluation.stats import format_mean_std

    lines = [f"# Benchmark: {results['suite']}{' (quick)' if results['quick'] else ''}", "",
             f"Up to {results['seeds']} training seed(s) per trainable model (n= in the table; the notes say where a slow "
             "model ran fewer); test scores are mean ± sample std over the seeds; 95% CI: percentile bootstrap over test rows of the seed-mean. Ensemble members and the model "
             "cross-validated were chosen by dev score, never test.", "", table, ""]
    cv_res = results.get("cross_validation")
    if cv_res and "mean" in cv_res:
        pm = cv_res["primary_metric"]
        lines += [f"**{cv_res['folds']}-fold cross-validation of {cv_res['model']}** (best by dev among "
                  f"{cv_res.get('chosen_from', 'all models')}; train+dev re-split, test "
                  f"unused): {pm} {format_mean_std(cv_res['mean'][pm], cv_res['std'][pm])} "
                  f"(folds: {', '.join(f'{v:.3f}' for v in cv_res['per_fold'])}).", ""]
    elif cv_res and cv_res.get("skipped"):
        lines += [f"{cv_res['folds']}-fold cross-validation of the best model: not run this time (--no-cv).", ""]
    elif cv_res:
        lines += [f"Cross-validation of {cv_res['model']} failed: {cv_res.get('error')}", ""]
    pairs = results.get("multi_vs_single")
    if pairs:
        lines += ["**Multi-task vs single-task** (same backend, LoRA and per-task rows; paired bootstrap on the same "
                  "test rows; difference = multi - single):", "",
                  "| task | metric | multi-task | single-task | difference [95% CI] | p |", "|---|---|---:|---:|---|---:|"]
        for r in pairs:
            if "error" in r:
                lines.append(f"| {r['task']} | {r['metric']} | – | – | {r['error']} | – |")
            else:
                lines.append(f"| {r['task']} | {r['metric']} | {r['value_a']:.3f} | {r['value_b']:.3f} | "
                             f"{r['diff']:+.3f} [{r['low']:+.3f}, {r['high']:+.3f}] | {r['p_value']:.3f} |")
        lines.append("")
    lines += _comparison_lines(results)
    grouped = _grouped_lines(results)
    if grouped:
        lines += grouped + [""]
    lines += [f"- Leakage: {results['leakage_check']}.",
              f"- Machine: {results['machine'].get('platform')}, {results['machine'].get('cpu_count')} CPU(s)"
              + (f", GPU {results['machine']['gpu']}" if results["machine"].get("gpu") else "") + ".",
              f"- Wall time: {results['wall_seconds']:.0f} s (runs finished earlier were reused).",
              f"- Report: {results['report'] or 'not written'}.", ""]
    return "\n".join(lines)
