"""Compare finished runs from their stored predictions: numbers, figures, an HTML report.

``compare_runs(["runs/a", "runs/b"], "reports/ab")`` writes ``index.html``, ``comparison.json``
and ``figures/*.png``. Runs whose configs differ only in the training seed form one *model*:
its scores are the mean ± std over those seeds, its bootstrap interval is that of the
seed-mean on resampled test rows, and its confusion matrix and calibration pool the seeds.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotune._version import __version__
from emotune.data.labels import LabelSet, Task
from emotune.errors import ModelError
from emotune.reports import plots
from emotune.reports.words import driving_words_section
from emotune.evaluation.calibration import calibration_summary
from emotune.metrics import (
    PRIMARY,
    classification_report,
    compute_metrics,
    confused_pairs,
    confusion,
    decide,
)
from emotune.evaluation.stats import (
    DEFAULT_RESAMPLES,
    aggregate,
    correctness,
    format_ci,
    format_mean_std,
    mcnemar,
    resample_indices,
    resampled_values,
)

F1_THRESHOLD = 0.5
_SEED_SUFFIX = re.compile(r"([-_.]?(seed|s)[-_]?\d+)$", re.IGNORECASE)
_IGNORED_KEYS = {"name", "description", "output_dir"}


# -- grouping -------------------------------------------------------------------------------------
def _group_key(record) -> str:
    cfg = record.config.model_dump(mode="json")
    for k in _IGNORED_KEYS:
        cfg.pop(k, None)
    cfg.get("training", {}).pop("seed", None)
    cfg.get("training", {}).pop("threads", None)
    return json.dumps(cfg, sort_keys=True)


def _group_label(records) -> str:
    names = {r.config.name for r in records}
    if len(names) == 1:
        return _SEED_SUFFIX.sub("", names.pop()) or records[0].name
    stripped = {_SEED_SUFFIX.sub("", r.name) for r in records}
    if len(stripped) == 1:
        return stripped.pop()
    stripped = {_SEED_SUFFIX.sub("", n) for n in names}
    return stripped.pop() if len(stripped) == 1 else records[0].name


def group_runs(records: Sequence, groups: Mapping[str, str] | None = None) -> dict[str, list]:
    """``{model name: [runs]}``: explicit ``groups`` (run dir -> name) or runs equal but for the seed."""
    out: dict[str, list] = {}
    if groups:
        by_path = {str(Path(k).resolve()): v for k, v in groups.items()}
        for r in records:
            out.setdefault(by_path.get(str(r.path.resolve()), r.name), []).append(r)
        return out
    keyed: dict[str, list] = {}
    for r in records:
        keyed.setdefault(_group_key(r), []).append(r)
    for runs in keyed.values():
        label = _group_label(runs)
        if label in out:  # two different configs that share a name: keep both, tell them apart
            label = f"{label} ({runs[0].name})"
        out[label] = sorted(runs, key=lambda r: (r.seed, r.name))
    return out


def _same_rows_other_inputs(a, b) -> bool:
    """Same dataset, split settings and eval sample: the rows are the same even if the model inputs differ
    (conversation context prepends previous turns to each utterance)."""
    da, db = a.config.data, b.config.data
    return (da.dataset == db.dataset and da.split == db.split and da.max_eval == db.max_eval
            and da.label_map == db.label_map and da.options == db.options)


def check_comparable(records: Sequence, split: str = "test") -> list[str]:
    """Same label set and the same test rows for every run, else a ModelError that names the odd ones.

    Returns notes (e.g. that the model inputs differ although the rows are the same).
    """
    if not records:
        raise ModelError("Nothing to compare: give at least one run directory")
    first = records[0]
    for r in records[1:]:
        if r.label_set.names != first.label_set.names or r.task != first.task:
            names_a = first.label_set.name or list(first.label_set.names)
            names_b = r.label_set.name or list(r.label_set.names)
            raise ModelError(
                f"Runs {first.path} and {r.path} use different label sets ({names_a} vs {names_b})",
                hint="Only runs that predict the same labels can be compared; evaluate one on the other's "
                     "dataset with `emotune evaluate RUN --dataset NAME` when a label mapping exists.",
            )
    for r in records:
        if not r.has_split(split):
            raise ModelError(f"Run {r.path} has no stored {split} predictions "
                             f"({r.path / 'predictions' / (split + '.npz')})")
    notes: list[str] = []
    ref = first.predictions(split)
    for r in records[1:]:
        p = r.predictions(split)
        same = p.y_true.shape == ref.y_true.shape and np.array_equal(p.y_true, ref.y_true)
        if same and ref.texts is not None and p.texts is not None and list(ref.texts) != list(p.texts):
            same = _same_rows_other_inputs(first, r)
            if same:
                notes.append(f"{r.name} saw other inputs than {first.name} for the same {split} rows "
                             "(e.g. conversation context); gold labels are identical.")
        if not same:
            n_a, n_b = len(ref.y_true), len(p.y_true)
            detail = "different rows" if n_a == n_b else f"{n_a} vs {n_b} rows"
            raise ModelError(
                f"Runs {first.path} and {r.path} were evaluated on different {split} sets ({detail})",
                hint="Compare runs trained on the same dataset and split (same data.split settings and max_eval).",
            )
    return notes


# -- numbers ----------------------------------------------------------------------------------------
@dataclass
class ModelResult:
    name: str
    runs: list
    metrics: dict  # aggregate(): key -> {mean, std, n, values}
    per_label: np.ndarray  # (n_runs, n_labels): F1 (classification) or Pearson (regression)
    report_rows: list[dict]
    ci: dict
    resampled: np.ndarray = field(repr=False)  # seed-mean primary metric per bootstrap resample
    dev: dict | None = None
    pooled: dict = field(default_factory=dict)
    representative: object = None


def _per_label(label_set: LabelSet, report: dict) -> list[float]:
    key = "pearson" if label_set.task == Task.REGRESSION else "f1-score"
    return [float(report[n][key]) for n in label_set.names]


def _report_rows(label_set: LabelSet, reports: list[dict]) -> list[dict]:
    """Classification-report rows with mean ± std over the seeds' reports."""
    rows = []
    if label_set.task == Task.REGRESSION:
        cols = ("pearson", "spearman", "mae")
        keys = list(label_set.names)
    else:
        cols = ("precision", "recall", "f1-score")
        avg = ["micro avg", "macro avg", "weighted avg"] + (["samples avg"] if label_set.task == Task.MULTI else [])
        keys = list(label_set.names) + avg
    for key in keys:
        row = {"label": key, "is_average": key not in label_set.names}
        for c in cols:
            vals = [rep[key][c] for rep in reports]
            row[c] = {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
                      "n": len(vals)}
        row["support"] = int(reports[0][key].get("support", 0))
        rows.append(row)
    if label_set.task == Task.SINGLE:
        vals = [rep["accuracy"] for rep in reports]
        rows.append({"label": "accuracy", "is_average": True, "accuracy": {
            "mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, "n": len(vals)},
            "support": int(reports[0]["macro avg"]["support"])})
    return rows


def _pooled(label_set: LabelSet, runs: list, split: str = "test") -> dict:
    """Decisions of all seeds stacked (confusions, calibration), as if one run saw the test set n_seeds times."""
    ys, decided, scores, owner = [], [], [], []
    for i, r in enumerate(runs):
        p = r.predictions(split)
        ys.append(p.y_true)
        d = decide(label_set, p.scores, p.thresholds)
        decided.append(np.eye(len(label_set))[d] if label_set.task == Task.SINGLE else d.astype(float))
        scores.append(p.scores)
        owner.append(np.full(len(p.y_true), i))
    y = np.concatenate(ys)
    out = {"y": y, "decided": np.concatenate(decided), "owner": np.concatenate(owner), "n": len(ys[0])}
    if label_set.is_classification:
        # decided is one-hot / 0-1 so the default decision rule reproduces each run's own decisions
        out["confusion"] = confusion(label_set, y, out["decided"], normalize="true")
        out["calibration"] = calibration_summary(label_set, y, np.concatenate(scores))
    return out


def _model_result(name: str, runs: list, label_set: LabelSet, idx: np.ndarray, split: str = "test") -> ModelResult:
    primary = PRIMARY[label_set.task]
    per_run, reports, per_label, resampled = [], [], [], []
    for r in runs:
        p = r.predictions(split)
        per_run.append(compute_metrics(label_set, p.y_true, p.scores, p.thresholds))
        rep = classification_report(label_set, p.y_true, p.scores, p.thresholds)
        reports.append(rep)
        per_label.append(_per_label(label_set, rep))
        resampled.append(resampled_values(p.y_true, p.scores, primary, label_set=label_set,
                                          thresholds=p.thresholds, idx=idx))
    for m, r in zip(per_run, runs):
        if r.train_seconds is not None:
            m["train_seconds"] = r.train_seconds
        if r.throughput is not None:
            m["texts_per_s"] = r.throughput
    agg = aggregate(per_run)
    seed_mean = np.mean(resampled, axis=0)
    low, high = np.nanquantile(seed_mean, [0.025, 0.975])
    ci = {"metric": primary, "value": agg[primary]["mean"], "low": float(low), "high": float(high),
          "n_resamples": int(idx.shape[0])}
    dev = None
    dev_rows = [r.metrics.get("dev") for r in runs]
    if all(isinstance(d, dict) and isinstance(d.get(primary), (int, float)) for d in dev_rows):
        dev = aggregate(dev_rows)
    elif all(r.has_split("dev") for r in runs):
        dev = aggregate([compute_metrics(label_set, r.predictions("dev").y_true, r.predictions("dev").scores,
                                         r.predictions("dev").thresholds) for r in runs])
    scores_primary = [m[primary] for m in per_run]
    rep_run = runs[int(np.argsort(scores_primary)[(len(runs) - 1) // 2])]  # the median seed
    return ModelResult(name, runs, agg, np.asarray(per_label), _report_rows(label_set, reports), ci, seed_mean,
                       dev, _pooled(label_set, runs, split), rep_run)


def _fmt(x, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{digits}f}"


def build_comparison(records: Sequence, *, groups: Mapping[str, str] | None = None, split: str = "test",
                     n_resamples: int = DEFAULT_RESAMPLES, f1_threshold: float = F1_THRESHOLD,
                     seed: int = 0, examples: int = 3, top_pairs: int = 8) -> dict:
    """All numbers of the comparison, plus the per-model results the figures need (``_models``)."""
    notes = check_comparable(records, split)
    label_set = records[0].label_set
    task = label_set.task
    primary = PRIMARY[task]
    ref = records[0].predictions(split)
    n = len(ref.y_true)
    if n == 0:
        raise ModelError(f"The stored {split} predictions of {records[0].path} are empty")
    idx = resample_indices(n, n_resamples, seed)
    grouped = group_runs(records, groups)
    models = [_model_result(name, runs, label_set, idx, split) for name, runs in grouped.items()]

    # the "best" model is chosen on dev when every model has dev scores: choosing on test and then
    # testing its lead on the same test set would flatter it
    if all(m.dev is not None for m in models):
        best = max(models, key=lambda m: m.dev[primary]["mean"])
        best_by = "dev"
    else:
        best = max(models, key=lambda m: m.metrics[primary]["mean"])
        best_by = "test"
    significance = []
    for m in models:
        if m is best:
            continue
        diffs = best.resampled - m.resampled
        observed = best.metrics[primary]["mean"] - m.metrics[primary]["mean"]
        lo, hi = np.nanquantile(diffs, [0.025, 0.975])
        row = {"model": m.name, "diff": observed, "low": float(lo), "high": float(hi),
               "p_value": (int(np.sum(np.abs(diffs - observed) >= abs(observed))) + 1) / (len(diffs) + 1)}
        if task != Task.REGRESSION:
            pa, pb = best.representative.predictions(split), m.representative.predictions(split)
            row["mcnemar"] = mcnemar(correctness(label_set, pa.y_true, pa.scores, pa.thresholds),
                                     correctness(label_set, pb.y_true, pb.scores, pb.thresholds))
            row["mcnemar_runs"] = [best.representative.name, m.representative.name]
        significance.append(row)

    texts = next((r.predictions(split).texts for r in records if r.predictions(split).texts is not None), None)
    names = list(label_set.names)
    out_models = []
    for m in models:
        per_label_mean = m.per_label.mean(axis=0)
        order = np.argsort(-per_label_mean, kind="stable")
        label_rows = {row["label"]: row for row in m.report_rows}
        key = "pearson" if task == Task.REGRESSION else "f1-score"

        def _label_entry(j, label_rows=label_rows, per_label_mean=per_label_mean):
            row = label_rows[names[j]]
            entry = {"label": names[j], "value": float(per_label_mean[j]), "support": row["support"]}
            for c in ("precision", "recall", "f1-score", "pearson", "spearman", "mae"):
                if c in row:
                    entry[c] = row[c]["mean"]
            return entry

        k = min(3, len(names))
        entry = {
            "name": m.name,
            "runs": [str(r.path) for r in m.runs],
            "run_names": [r.name for r in m.runs],
            "seeds": [r.seed for r in m.runs],
            "backend": m.runs[0].backend,
            "model_name": m.runs[0].config.model.name,
            "metrics": {k_: {"mean": v["mean"], "std": v["std"], "n": v["n"]} for k_, v in m.metrics.items()},
            "dev": (None if m.dev is None else
                    {k_: {"mean": v["mean"], "std": v["std"], "n": v["n"]} for k_, v in m.dev.items()}),
            "ci": m.ci,
            "per_label": {"metric": key, "mean": dict(zip(names, per_label_mean.tolist())),
                          "std": dict(zip(names, (m.per_label.std(axis=0, ddof=1) if len(m.runs) > 1
                                                  else np.zeros(len(names))).tolist())),
                          "runs": m.per_label.tolist()},
            "report": m.report_rows,
            "best_labels": [_label_entry(j) for j in order[:k]],
            "worst_labels": [_label_entry(j) for j in order[::-1][:k]],
            # an ensemble, the lexicon and zero-shot prompting learn nothing from the train split
            "train_rows": m.runs[0].rows("train") if learns_from_train(m.runs[0].config.model) else None,
            "eval_rows": n,
            "representative_run": m.representative.name,
        }
        if task != Task.REGRESSION:
            entry["below_threshold"] = [_label_entry(j) for j in order[::-1] if per_label_mean[j] < f1_threshold]
            entry["calibration"] = m.pooled["calibration"]
            entry["confusion_normalized"] = np.asarray(m.pooled["confusion"]).round(4).tolist()
            pairs = confused_pairs(label_set, m.pooled["y"], m.pooled["decided"], top=top_pairs,
                                   examples=examples * len(m.runs))
            for pair in pairs:
                seen, shown = set(), []
                for row_i in pair.pop("examples"):
                    run_i, text_i = int(m.pooled["owner"][row_i]), row_i % n
                    if text_i in seen:
                        continue
                    seen.add(text_i)
                    pred = m.pooled["decided"][row_i]
                    gold = m.pooled["y"][row_i]
                    shown.append({
                        "row": text_i,
                        "text": texts[text_i] if texts is not None else None,
                        "true": (names[int(gold)] if task == Task.SINGLE
                                 else [names[j] for j in np.flatnonzero(gold)]),
                        "pred": (names[int(np.argmax(pred))] if task == Task.SINGLE
                                 else [names[j] for j in np.flatnonzero(pred)]),
                        "run": m.runs[run_i].name,
                    })
                    if len(shown) >= examples:
                        break
                pair["examples"] = shown
            entry["confused_pairs"] = pairs
        out_models.append(entry)

    under_all = []
    if task != Task.REGRESSION:
        means = np.vstack([m.per_label.mean(axis=0) for m in models])
        under_all = [names[j] for j in range(len(names)) if np.all(means[:, j] < f1_threshold)]
    return {
        "title": None,
        "generated": _dt.datetime.now().isoformat(timespec="seconds"),
        "emotune_version": __version__,
        "dataset": records[0].config.data.dataset,
        "label_set": label_set.to_dict(),
        "task": task.value,
        "split": split,
        "n_eval": n,
        "n_runs": len(records),
        "primary_metric": primary,
        "n_resamples": n_resamples,
        "f1_threshold": f1_threshold,
        "best_model": best.name,
        "best_by": best_by,
        "models": out_models,
        "significance": significance,
        "labels_under_threshold_for_all": under_all,
        "notes": notes,
        "_models": models,
    }


# -- figures + HTML -------------------------------------------------------------------------------------
def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def make_figures(comparison: dict, fig_dir: Path) -> dict:
    """Write the PNGs; return ``{figure key: path relative to the report}``."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    models = comparison["models"]
    names = comparison["label_set"]["names"]
    task = Task(comparison["task"])
    primary = comparison["primary_metric"]
    metric_word = "Pearson r" if task == Task.REGRESSION else "F1"
    figs: dict = {}

    def rel(p: Path) -> str:
        return f"{fig_dir.name}/{p.name}"

    figs["primary_ci"] = rel(plots.bars_with_ci(
        [m["name"] for m in models], [m["ci"]["value"] for m in models], [m["ci"]["low"] for m in models],
        [m["ci"]["high"] for m in models], fig_dir / "primary_ci.png",
        title=f"{primary} on {comparison['split']} (mean over seeds) with 95% bootstrap CI", ylabel=primary))
    per_label = {m["name"]: m["per_label"]["mean"] for m in models}
    errors = {m["name"]: m["per_label"]["std"] for m in models if len(m["runs"]) > 1} or None
    figs["per_label_bars"] = rel(plots.grouped_bars(
        per_label, fig_dir / "per_label_bars.png", title=f"Per-label {metric_word} by model", ylabel=metric_word,
        errors=errors, threshold=comparison["f1_threshold"] if task != Task.REGRESSION else None))
    matrix = np.array([[m["per_label"]["mean"][n] for n in names] for m in models])
    vmin = min(0.0, float(matrix.min()))
    if len(names) > 12:  # many labels: one row per label reads better than a long thin strip
        figs["heatmap"] = rel(plots.heatmap(
            matrix.T, names, [m["name"] for m in models], fig_dir / "heatmap.png",
            title=f"{metric_word}: label x model", cmap="viridis", vmin=vmin, vmax=1.0, colorbar_label=metric_word))
    else:
        figs["heatmap"] = rel(plots.heatmap(
            matrix, [m["name"] for m in models], names, fig_dir / "heatmap.png",
            title=f"{metric_word}: model x label", cmap="viridis", vmin=vmin, vmax=1.0, colorbar_label=metric_word))
    spread = {n: [v[j] for m in models for v in m["per_label"]["runs"]] for j, n in enumerate(names)}
    n_points = sum(len(m["runs"]) for m in models)
    figs["box"] = rel(plots.box_per_label(
        spread, fig_dir / "box.png", ylabel=metric_word,
        title=f"{metric_word} per label across {len(models)} model(s) and {n_points} run(s)"))
    if task != Task.REGRESSION:
        figs["reliability"] = rel(plots.reliability_diagram(
            {m["name"]: m["calibration"] for m in models}, fig_dir / "reliability.png",
            title=f"Reliability ({models[0]['calibration']['kind']}, seeds pooled)"))
        figs["confusion"] = {}
        for m in models:
            title = f"{m['name']}: confusion (row-normalised" + (", seeds pooled)" if len(m["runs"]) > 1 else ")")
            if task == Task.MULTI:
                title = f"{m['name']}: share of texts with true label (row) given label (column)"
            figs["confusion"][m["name"]] = rel(plots.confusion_matrix(
                m["confusion_normalized"], names, fig_dir / f"confusion_{_slug(m['name'])}.png", title=title))
    else:
        figs["scatter"] = {}
        for mr in comparison["_models"]:
            p = mr.representative.predictions(comparison["split"])
            figs["scatter"][mr.name] = rel(plots.scatter_true_pred(
                p.y_true[:, 0], p.scores[:, 0], fig_dir / f"scatter_{_slug(mr.name)}.png",
                title=f"{mr.name} ({mr.representative.name})", name=names[0]))
    return figs


def _jinja_env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("emotune.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["f3"] = lambda x: _fmt(x, 3)
    env.filters["f2"] = lambda x: _fmt(x, 2)
    env.filters["ms"] = _fmt_mean_std
    env.filters["pval"] = lambda p: "–" if p is None else ("< 0.001" if p < 0.001 else f"{p:.3f}")
    env.filters["labels"] = lambda v: ", ".join(v) if isinstance(v, list) else str(v)
    env.filters["secs"] = _fmt_seconds
    return env


def _fmt_mean_std(d, digits: int = 3) -> str:
    """``{"mean", "std", "n"}`` as "0.612 ± 0.010", or just the mean for a single run."""
    if not d:
        return "–"
    return format_mean_std(d["mean"], d["std"] if d.get("n", 2) > 1 else None, digits)


def _fmt_seconds(s) -> str:
    if s is None or not np.isfinite(s):
        return "–"
    if s < 90:
        return f"{s:.1f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def render_html(comparison: dict, figures: dict, path: Path) -> Path:
    html = _jinja_env().get_template("compare.html.j2").render(c=comparison, figs=figures, Task=Task)
    path.write_text(html, encoding="utf-8")
    return path


def _json_ready(comparison: dict) -> dict:
    return {k: v for k, v in comparison.items() if not k.startswith("_")}


def compare_runs(run_dirs: Sequence[str | Path], out_dir: str | Path, overwrite: bool = False, *,
                 groups: Mapping[str, str] | None = None, title: str | None = None,
                 n_resamples: int = DEFAULT_RESAMPLES, f1_threshold: float = F1_THRESHOLD,
                 measurements: Mapping[str, Mapping] | None = None, explain_texts: int = 100) -> Path:
    """Write the HTML comparison report of finished runs into ``out_dir``; return ``index.html``.

    ``groups`` names models explicitly (run dir -> model name) instead of grouping by config;
    ``measurements`` adds numbers a benchmark measured per run dir (``{"texts_per_s": ...}``);
    ``explain_texts``: test texts explained per model for "words that drive each emotion" (0: none).
    """
    from emotune.runs import Run

    if not run_dirs:
        raise ModelError("Nothing to compare: give at least one run directory")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise ModelError(f"Output directory {out_dir} already exists and is not empty",
                             hint="Pass --overwrite to replace it, or choose another --out.")
    seen, records = set(), []
    for d in run_dirs:
        r = Run.open(d, finished=True)
        if r.path.resolve() not in seen:
            seen.add(r.path.resolve())
            records.append(r)
    comparison = build_comparison(records, groups=groups, n_resamples=n_resamples, f1_threshold=f1_threshold)
    comparison["title"] = title or f"emotune comparison: {comparison['dataset']}"
    comparison["driving_words"] = driving_words_section(comparison, records, n_texts=explain_texts)
    if measurements:
        for m in comparison["models"]:
            speeds = [measurements.get(str(Path(r).resolve()), {}).get("texts_per_s") for r in m["runs"]]
            speeds = [s for s in speeds if s is not None]
            if speeds:  # measured by the caller (a benchmark): preferred over the trainer's own timing
                m["metrics"]["texts_per_s"] = {"mean": float(np.mean(speeds)), "std": float(np.std(speeds)),
                                               "n": len(speeds)}
    # build next to the target and swap at the end: a failure never leaves half a report behind
    staging = out_dir.with_name(out_dir.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        figures = make_figures(comparison, staging / "figures")
        (staging / "comparison.json").write_text(json.dumps(_json_ready(comparison), indent=2) + "\n", encoding="utf-8")
        render_html(comparison, figures, staging / "index.html")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
    return out_dir / "index.html"


# -- Markdown results table (benchmarks) ------------------------------------------------------------------
def learns_from_train(model_config) -> bool:
    """Whether a run learns from its train split (an ensemble, the lexicon and zero-shot prompting do not)."""
    return not (model_config.backend in ("ensemble", "lexicon")
                or (model_config.backend == "prompt" and not model_config.prompt.shots))


def results_table(rows: Sequence[Mapping], primary: str = "f1_macro") -> str:
    """A Markdown table of benchmark rows.

    Each row: ``model``, ``primary`` ({mean, std, n}), ``ci`` ({low, high} or None), ``secondary``
    (name, {mean, std}), ``train_seconds``, ``texts_per_s``, ``train_rows``, ``eval_rows``, ``note``.
    """
    sec_name = next((r["secondary"][0] for r in rows if r.get("secondary")), "accuracy")
    # a suite over several tasks (instruct: classification and regression) names each row's metrics
    mixed = (len({r["primary_metric"] for r in rows if r.get("primary_metric")}) > 1
             or len({r["secondary"][0] for r in rows if r.get("secondary")}) > 1)
    head = ["model", "metric (mean ± std, seeds)" if mixed else f"{primary} (mean ± std, seeds)", "95% CI",
            "second metric" if mixed else sec_name, "train time", "predict texts/s", "train rows", "eval rows", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for r in rows:
        p = r.get("primary") or {}
        n = p.get("n", 1)
        several = bool(n and n > 1)
        prim = format_mean_std(p.get("mean"), p.get("std") if several else None) + (f" (n={n})" if several else "")
        ci = r.get("ci")
        sec = r.get("secondary")
        sec_cell = (format_mean_std(sec[1]["mean"], sec[1].get("std") if sec[1].get("n", 1) > 1 else None)
                    if sec else "–")
        if mixed:
            prim = f"{r.get('primary_metric')} {prim}" if p else prim
            sec_cell = f"{sec[0]} {sec_cell}" if sec else sec_cell
        cells = [
            str(r["model"]), prim if p else "–",
            format_ci(ci["low"], ci["high"]) if ci else "–",
            sec_cell,
            _fmt_seconds(r.get("train_seconds")),
            "–" if r.get("texts_per_s") is None else f"{r['texts_per_s']:.0f}",
            "–" if r.get("train_rows") is None else str(r["train_rows"]),
            "–" if r.get("eval_rows") is None else str(r["eval_rows"]),
            str(r.get("note") or "").replace("|", "/"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
