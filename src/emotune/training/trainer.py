"""Train one configuration into a run directory (layout: :mod:`emotune.runs`).

``train(RunConfig.load("configs/isear-tfidf.yaml"))`` prepares the data (clean, dedup, split,
leakage check), fits the configured backend, tunes multi-label thresholds on dev, scores dev and
test, and writes config, history, predictions, the model and its card. ``metrics.json`` is
written last: a directory without it is an unfinished run, which ``train`` resumes.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from rich.console import Console

from emotune.data.dataset import EmotionDataset, PreparedData
from emotune.data.labels import Task
from emotune.errors import ConfigError, DataError, EmotuneError, ModelError
from emotune import atomic
from emotune import runs as rd
from emotune import runtime
from emotune.config import RunConfig
from emotune.data.pipeline import check_labels_covered, check_no_leakage, prepare_data

console = Console(stderr=True)

# Keys that may differ between an interrupted run and its resumption.
_RESUME_IGNORED = {"output_dir", "description"}


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict  # the content of metrics.json ({} on the ranks other than 0 under torchrun)
    main_process: bool = True  # False on the ranks other than 0 (rank 0 scores and writes the run)

    @property
    def primary(self) -> str:
        return self.metrics["primary_metric"]

    def score(self, split: str = "test", metric: str | None = None) -> float | None:
        return self.metrics.get(split, {}).get(metric or self.primary)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _oom_error(config: RunConfig, step: str) -> ModelError:
    name = config.model.name or config.model.backend
    return ModelError(
        f"Out of memory while {step}: {name} with batch size {config.training.batch_size} and max length "
        f"{config.training.max_length} does not fit on this machine",
        hint="Lower training.batch_size (raise training.grad_accum to keep the effective batch), lower "
             "training.max_length, enable model.gradient_checkpointing, use 4-bit QLoRA "
             "(configs/isear-mistral7b-qlora.yaml shows the settings) or a smaller preset "
             "(configs/isear-minilm.yaml).",
    )


@contextmanager
def _oom_as_user_error(config: RunConfig, step: str):
    """Memory errors become user errors with a hint (the rest propagate)."""
    try:
        yield
    except EmotuneError:
        raise
    except Exception as exc:  # noqa: BLE001
        if _is_oom(exc):
            raise _oom_error(config, step) from None
        raise


# -- the run directory -------------------------------------------------------------------------
def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_differences(old: RunConfig, new: RunConfig) -> list[str]:
    """Dotted keys whose values differ, as ``key: old -> new`` (resume-irrelevant keys skipped)."""
    a, b = _flat(old.model_dump(mode="json")), _flat(new.model_dump(mode="json"))
    diffs = []
    for key in sorted(set(a) | set(b)):
        if key.split(".")[0] in _RESUME_IGNORED:
            continue
        if a.get(key) != b.get(key):
            diffs.append(f"{key}: {a.get(key)!r} -> {b.get(key)!r}")
    return diffs


def _clear(path: Path) -> None:
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _sibling(run_dir: Path, what: str) -> Path:
    """A hidden folder next to ``run_dir`` (same file system, so renames are atomic)."""
    return run_dir.parent / f".{run_dir.name}.{what}"


def _recover_swap(run_dir: Path) -> None:
    """Finish or undo a swap that a crash interrupted (see :func:`_swap_in`)."""
    atomic.recover_swap(run_dir, _sibling(run_dir, "replaced"))


def _swap_in(new: Path, run_dir: Path) -> None:
    """Replace the finished run in ``run_dir`` with the finished run in ``new`` in one step (a rename
    exchange where the system has one), so that ``run_dir`` always holds one whole finished run."""
    atomic.swap_dir(new, run_dir, _sibling(run_dir, "replaced"))


def _prepare_run_dir(config: RunConfig, run_dir: Path, resume: bool, overwrite: bool) -> tuple[bool, Path]:
    """Create or validate ``run_dir``; return (resuming an unfinished run?, the folder to train in).

    A finished run being overwritten stays in place until its replacement is finished: the new
    one is trained in a hidden sibling and swapped in at the end (a bad dataset or a crash leaves
    the old run as it was).
    """
    _recover_swap(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ModelError(f"Run directory {run_dir} exists and is a file")
    if not run_dir.exists() or not any(run_dir.iterdir()):
        run_dir.mkdir(parents=True, exist_ok=True)
        return False, run_dir
    if not rd.is_run_dir(run_dir):
        # never empty a folder we did not create
        raise ModelError(f"{run_dir} exists, is not empty and is not an emotune run directory",
                         hint="Choose another --run-dir or output_dir / name.")
    if rd.is_finished(run_dir):
        if not overwrite:
            raise ModelError(
                f"{run_dir} already holds a finished run",
                hint="Pass --overwrite (overwrite=True) to replace it, or choose another name / --run-dir "
                     "(e.g. --set name=my-run-2).",
            )
        staging = _sibling(run_dir, "new")
        if staging.exists():
            shutil.rmtree(staging)  # an earlier --overwrite that did not finish
        staging.mkdir()
        return False, staging
    if not resume:
        _clear(run_dir)
        return False, run_dir
    atomic.remove_temps(run_dir)  # half-written files of the interrupted run: never read, now gone
    old = rd.load_config(run_dir)
    diffs = config_differences(old, config)
    if diffs and overwrite:  # --overwrite replaces what the folder holds; the same config resumes even then
        _clear(run_dir)
        return False, run_dir
    if diffs:
        raise ConfigError(
            f"{run_dir} holds an unfinished run with a different config ({len(diffs)} keys differ): "
            + "; ".join(diffs[:8]) + (" ..." if len(diffs) > 8 else ""),
            hint="Resume with the same config, start over with --no-resume, or choose another --run-dir.",
        )
    return True, run_dir


def _plain(obj):
    """JSON for what backends put in history and metrics: numpy numbers and arrays, sets; else text."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    return str(obj)


def _write_json(path: Path, obj, indent: int | None = 2) -> None:
    atomic.write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=_plain) + "\n")


def _save_model(clf, run_dir: Path) -> Path:
    final, tmp = run_dir / rd.MODEL_DIR, run_dir / (rd.MODEL_DIR + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    clf.save_pretrained(tmp)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


def _save_predictions(run_dir: Path, split: str, ds: EmotionDataset, scores: np.ndarray, thresholds) -> None:
    pred_dir = run_dir / rd.PREDICTIONS_DIR
    pred_dir.mkdir(exist_ok=True)
    arrays = {"scores": np.asarray(scores, dtype=np.float32), "y_true": np.asarray(ds.y())}
    if thresholds is not None:
        arrays["thresholds"] = np.asarray(thresholds, dtype=np.float64)
    np.savez_compressed(pred_dir / f"{split}.npz", **arrays)
    _write_json(pred_dir / f"{split}_texts.json", ds.texts, indent=None)


def score_texts(clf, texts: Sequence[str], batch_size: int, desc: str, progress: bool = True,
                chunk: int = 1024) -> np.ndarray:
    """``predict_proba`` in chunks with a progress bar (long for LLM backends)."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, len(clf.label_set)))
    if not progress or len(texts) <= chunk:
        return np.asarray(clf.predict_proba(texts, batch_size=batch_size))
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    parts = []
    with Progress(TextColumn(desc), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True, console=console) as bar:
        task = bar.add_task(desc, total=len(texts))
        for start in range(0, len(texts), chunk):
            parts.append(np.asarray(clf.predict_proba(texts[start:start + chunk], batch_size=batch_size)))
            bar.advance(task, len(parts[-1]))
    return np.concatenate(parts, axis=0)


def data_summary(data: PreparedData, config: RunConfig) -> dict:
    out = {"dataset": config.data.dataset, "label_set": data.label_set.to_dict(), "task": data.label_set.task.value,
           "sizes": {s: len(getattr(data, s)) for s in ("train", "dev", "test")},
           "label_counts": {}, "notes": data.notes,
           "sha256": {s: rd.texts_digest(getattr(data, s).texts) for s in ("train", "dev", "test")}}
    if data.label_set.task != Task.REGRESSION:
        for s in ("train", "dev", "test"):
            counts = {n: 0 for n in data.label_set.names}
            for labs in getattr(data, s).frame["labels"]:
                for lab in labs:
                    counts[lab] = counts.get(lab, 0) + 1
            out["label_counts"][s] = counts
    col = config.data.text_prefix_col
    if col and col in data.train.frame.columns:  # what predict/annotate/serve ask such a run for each text
        out["text_prefix"] = {"column": col, "values": sorted({str(v) for v in data.train.frame[col]})}
    return out


# -- the steps of train() --------------------------------------------------------------------
def _prepare_data(config: RunConfig, data: PreparedData | None, say) -> PreparedData:
    """Clean, dedup and split (unless the caller passed its folds), then the coverage and leakage checks."""
    t0 = time.time()
    if data is None:
        say(f"Preparing data: {config.data.dataset}")
        data = prepare_data(config.data)
    check_labels_covered(data)
    check_no_leakage(data)
    _check_trainable(data, config, scored=("dev", "test"))
    sizes = _sizes(data)
    say(f"  {data.label_set.name or config.data.dataset}: {data.label_set.task.value}, {len(data.label_set)} labels; "
        f"train {sizes['train']:,} / dev {sizes['dev']:,} / test {sizes['test']:,} ({time.time() - t0:.1f} s)")
    return data


def _attach_teacher(config: RunConfig, data: PreparedData, say) -> tuple[PreparedData, dict | None]:
    """``training.distill``: every train row gets its teacher's probabilities (:mod:`emotune.training.distill`)."""
    if config.training.distill is None:
        return data, None
    from emotune.training.teacher import attach_teacher

    data, record = attach_teacher(data, config)
    say(f"  distilling from {record['teacher']} ({len(record.get('teachers') or [])} teacher(s), "
        + ("in-sample" if record.get("in_sample") else f"{record.get('folds')} folds")
        + f"; alpha {record['alpha']}, temperature {record['temperature']})")
    return data, record


def _check_trainable(data: PreparedData, config: RunConfig, scored: tuple[str, ...]) -> None:
    """Enough rows to fit a model and to score it: a run must not be marked finished without scores."""
    sizes = _sizes(data)
    where = f"{config.data.dataset}: train {sizes['train']} / dev {sizes['dev']} / test {sizes['test']} rows"
    hint = "Give more rows (a few dozen per label at least) or a split column with train, dev and test rows."
    if sizes["train"] < 2:
        raise DataError(f"Too few rows to train on ({where})", hint=hint)
    if data.label_set.task != Task.REGRESSION:
        seen = {lab for labs in data.train.frame["labels"] for lab in labs}
        if len(seen) < 2 and data.label_set.task == Task.SINGLE:
            raise DataError(f"Train holds a single label ({', '.join(seen) or 'none'}): a classifier needs at "
                            f"least two ({where})", hint=hint)
    if not any(sizes[s] for s in scored):
        raise DataError(f"No dev or test rows to score the model on ({where})", hint=hint)


def _sizes(data: PreparedData) -> dict[str, int]:
    return {s: len(getattr(data, s)) for s in ("train", "dev", "test")}


def _build_model(config: RunConfig, data: PreparedData, run_dir: Path, write: bool = True):
    """The backend's classifier; config, labels and data summary written first (by rank 0 alone under
    torchrun): they make ``run_dir`` a (resumable) run."""
    from emotune.models.registry import backend_class

    clf = backend_class(config.model.backend)(data.label_set, config.model, config.training)
    summary = data_summary(data, config)
    if write:
        config.save(run_dir / rd.CONFIG_FILE)
        data.label_set.save(run_dir / rd.LABELS_FILE)
        _write_json(run_dir / rd.DATA_FILE, summary)
    return clf, summary


def _fit(clf, config: RunConfig, data: PreparedData, run_dir: Path, resuming: bool, say) -> tuple[list, float]:
    """Fit on train (dev for early stopping) and append the new history rows; returns (history, seconds)."""
    say(f"Fitting {config.model.backend}" + (f" ({config.model.name})" if config.model.name else ""))
    runtime.start_fit_clock()  # a resumed backend sets it to its checkpoint's reading (models.hf.checkpoints)
    with _oom_as_user_error(config, "training"):
        history = clf.fit(data.train, data.dev, output_dir=run_dir / rd.CHECKPOINT_DIR, resume=resuming) or []
    fit_seconds = runtime.fit_elapsed()
    if not runtime.is_main_process():
        return history, fit_seconds
    # appended: a resumed backend may return the epochs it restored from its checkpoint again
    rows = rd.load_history(run_dir)
    seen = {json.dumps(r, sort_keys=True) for r in rows}
    rows += [row for row in history if json.dumps(row, sort_keys=True, default=_plain) not in seen]
    # rewritten whole, atomically: a kill mid-write never leaves a torn line for the resumed run to trip on
    atomic.write_text(run_dir / rd.HISTORY_FILE,
                      "".join(json.dumps(r, ensure_ascii=False, default=_plain) + "\n" for r in rows))
    say(f"  fitted in {fit_seconds:.1f} s")
    return history, fit_seconds


@dataclass
class _Scored:
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    invalid: dict[str, dict] = field(default_factory=dict)  # generated answers that did not parse (instruct regression views)


def _score_splits(clf, config: RunConfig, data: PreparedData, splits: list[str], progress: bool) -> _Scored:
    out = _Scored()
    bs = config.training.eval_batch_size
    with _oom_as_user_error(config, "predicting"):
        for split in splits:
            ds = getattr(data, split)
            t0 = time.time()
            before = clf.generation_stats() or {}
            out.scores[split] = score_texts(clf, ds.texts, bs, f"Scoring {split}", progress)
            out.seconds[split] = time.time() - t0
            after = clf.generation_stats() or {}
            answers = after.get("answers", 0) - before.get("answers", 0)
            if answers > 0:
                bad = after.get("invalid", 0) - before.get("invalid", 0)
                out.invalid[split] = {"invalid": float(bad), "invalid_rate": bad / answers}
    return out


def _tune_thresholds(clf, config: RunConfig, data: PreparedData, scored: _Scored) -> None:
    """Multi-label decision thresholds, chosen on dev (never on test)."""
    from emotune.metrics import tune_thresholds

    if data.label_set.task == Task.MULTI and len(data.dev):
        clf.thresholds = tune_thresholds(data.dev.y(), scored.scores["dev"], config.training.thresholds,
                                         config.training.thresholds_metric)


def _score_metrics(clf, config: RunConfig, data: PreparedData, scored: _Scored, run_dir: Path) -> dict:
    """metrics.json's scores (per split, per class, per text prefix); each split's predictions saved."""
    from emotune.metrics import PRIMARY, classification_report, compute_metrics, grouped_metrics

    label_set = data.label_set
    prefix_col = config.data.text_prefix_col
    metrics: dict = {"name": config.name, "task": label_set.task.value, "primary_metric": PRIMARY[label_set.task],
                     "backend": config.model.backend, "model": config.model.name, "dataset": config.data.dataset,
                     "sizes": _sizes(data)}
    per_class = {}
    for split, scores in scored.scores.items():
        ds = getattr(data, split)
        if len(ds) == 0:
            continue
        metrics[split] = compute_metrics(label_set, ds.y(), scores, clf.thresholds)
        metrics[split].update(scored.invalid.get(split, {}))  # scored as served (the midpoint), counted here
        if prefix_col and prefix_col in ds.frame.columns:  # one model for several emotions: each one's score too
            metrics[split].update(grouped_metrics(label_set, ds.y(), scores, ds.frame[prefix_col].tolist(),
                                                  prefix_col, clf.thresholds))
        per_class[split] = classification_report(label_set, ds.y(), scores, clf.thresholds)
        _save_predictions(run_dir, split, ds, scores, clf.thresholds)
    metrics["per_class"] = per_class
    metrics["thresholds"] = None if clf.thresholds is None else np.asarray(clf.thresholds).round(4).tolist()
    return metrics


def _set_input_spec(clf, config: RunConfig, summary: dict) -> None:
    """What predict/annotate/serve do to a raw text (prefix, dialogue context) travels with the model."""
    from emotune.models.inputs import InputSpec

    clf.input_spec = InputSpec.from_data_config(config.data, (summary.get("text_prefix") or {}).get("values"),
                                                reads_text_prefix=type(clf).reads_text_prefix)


def _timings(metrics: dict, fit_seconds: float, scored: _Scored, started: float) -> None:
    metrics["fit_seconds"] = round(fit_seconds, 2)
    if runtime.fit_resumed():  # "unclocked": its checkpoint had no clock, the time before the resume is missing
        metrics["fit_resumed"] = runtime.fit_resumed()
    timed = "test" if scored.seconds.get("test") else "dev"
    n = metrics["sizes"][timed]
    if scored.seconds.get(timed) and n:
        # batch prediction speed on the held-out split, on this machine (see "machine")
        metrics["predict_seconds"] = round(scored.seconds[timed], 3)
        metrics["predict_texts_per_s"] = round(n / max(scored.seconds[timed], 1e-9), 1)
    metrics["wall_seconds"] = round(time.time() - started, 2)
    metrics["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    metrics["machine"] = machine_info()


def _join_processes(config: RunConfig, final_dir: Path, resume: bool, overwrite: bool, clf_class):
    """Under torchrun: (processes, backend, resuming, folder) agreed by every rank; None when this rank has
    nothing to do (a backend that trains in one process, on a rank other than 0)."""
    from emotune.training import distributed

    if not clf_class.trains_distributed:
        if not runtime.is_main_process():
            console.print(f"rank {runtime.rank()}: the {config.model.backend} backend trains in one process; "
                          "rank 0 does the work", highlight=False)
            return None
        runtime.leave_distributed()  # rank 0 trains alone, as without torchrun
        return (1, None, *_prepare_run_dir(config, final_dir, resume, overwrite))
    backend = distributed.join(config.training.distributed)
    decision = None
    if runtime.is_main_process():  # rank 0 alone looks at and prepares the run directory
        try:
            resuming, folder = _prepare_run_dir(config, final_dir, resume, overwrite)
            decision = {"resuming": resuming, "folder": str(folder)}
        except Exception as exc:  # the other ranks wait for a decision: tell them, then stop
            distributed.share({"error": str(exc)})
            raise
    decision = distributed.share(decision)
    if "error" in decision:
        raise ConfigError(f"rank 0 stopped: {decision['error']}")
    return runtime.world_size(), backend, decision["resuming"], Path(decision["folder"])


def _write_card_and_metrics(run_dir: Path, config: RunConfig, summary: dict, metrics: dict, history: list) -> None:
    from emotune.training.model_card import render_model_card

    card = render_model_card(config, summary, metrics, history, config_file=rd.CONFIG_FILE,
                             history_file=rd.HISTORY_FILE)
    atomic.write_text(run_dir / rd.CARD_FILE, card)
    _write_json(run_dir / rd.METRICS_FILE, metrics)  # last: marks the run finished


# -- the entry point ---------------------------------------------------------------------------
def train(config: RunConfig, run_dir: str | Path | None = None, *, resume: bool = True, overwrite: bool = False,
          data: PreparedData | None = None, progress: bool = True, report_test: bool = True) -> TrainResult:
    """Fit ``config`` into ``run_dir`` (default ``{output_dir}/{name}``) and return its metrics.

    ``data`` skips data preparation (cross-validation passes its folds); ``report_test=False``
    is for callers that must not look at test.
    """
    started = time.time()
    run_dir = Path(run_dir) if run_dir is not None else Path(config.output_dir) / config.name
    final_dir = run_dir
    processes, pg_backend = 1, None
    if runtime.world_size() > 1:  # torchrun / accelerate launch: see emotune.training.distributed
        from emotune.models.registry import backend_class

        joined = _join_processes(config, final_dir, resume, overwrite, backend_class(config.model.backend))
        if joined is None:
            return TrainResult(final_dir, {}, main_process=False)
        processes, pg_backend, resuming, run_dir = joined
    else:
        resuming, run_dir = _prepare_run_dir(config, final_dir, resume, overwrite)
    main = runtime.is_main_process()
    progress = progress and main
    say = (lambda msg: console.print(msg, highlight=False)) if progress else (lambda msg: None)
    say(f"[bold]{'Resuming' if resuming else 'Training'}[/] {config.name} -> {final_dir}"
        + (f" ({processes} processes)" if processes > 1 else ""))

    runtime.set_seed(config.training.seed)
    runtime.setup_threads(config.training, only_explicit=True)

    data = _prepare_data(config, data, say)
    data, distilled = _attach_teacher(config, data, say)
    clf, summary = _build_model(config, data, run_dir, write=main)
    if processes > 1:
        from emotune.training.distributed import check_same_data

        check_same_data(summary)
    history, fit_seconds = _fit(clf, config, data, run_dir, resuming, say)
    if not main:  # rank 0 alone scores and writes, in one process: the metrics of a one-process run
        return TrainResult(final_dir, {}, main_process=False)
    scored = _score_splits(clf, config, data, ["dev", "test"] if report_test else ["dev"], progress)
    _tune_thresholds(clf, config, data, scored)
    metrics = _score_metrics(clf, config, data, scored, run_dir)
    if distilled:
        metrics["distillation"] = distilled
    if getattr(clf, "init_from", None):
        metrics["init_from"] = clf.init_from
    if getattr(clf, "reused_embeddings", None):  # fit_seconds then lacks the encoder's pass over these splits
        metrics["reused_embeddings"] = list(clf.reused_embeddings)
    _set_input_spec(clf, config, summary)
    _save_model(clf, run_dir)
    _timings(metrics, fit_seconds, scored, started)
    if clf.trains_distributed:
        from emotune.training.distributed import layout

        metrics["distributed"] = layout(config.training, processes, pg_backend)
    _write_card_and_metrics(run_dir, config, summary, metrics, history)
    if run_dir != final_dir:
        _swap_in(run_dir, final_dir)
        run_dir = final_dir

    primary = metrics["primary_metric"]
    parts = [f"{s} {primary} {metrics[s][primary]:.4f}" for s in scored.scores if s in metrics]
    say(f"[bold green]Done[/] in {metrics['wall_seconds']:.0f} s: " + ", ".join(parts))
    return TrainResult(run_dir, metrics)


def machine_info() -> dict:
    from emotune.training.model_card import library_versions

    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            # the versions that move scores: the same SmolLM2 LoRA seed on the same code scored 0.636 and 0.696
            # on two set-ups a day apart whose versions were not recorded
            "packages": {k: v for k, v in library_versions().items() if v}}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    return info
