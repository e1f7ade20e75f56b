"""The model card (README.md) written into every run directory (cf. SetFit's ``model_card.py``).

Says what a reader needs to trust or distrust the numbers: the data and how it was split and
cleaned, the recipe, dev and test scores, the software versions and the machine.
"""

from __future__ import annotations

import json
from importlib import metadata

_LIBRARIES = ("emotune", "torch", "transformers", "scikit-learn", "peft", "numpy")
# Hyperparameters worth showing per backend family (the full config is in config.yaml).
_TRAINING_KEYS = ("epochs", "batch_size", "grad_accum", "learning_rate", "weight_decay", "warmup_ratio",
                  "max_length", "seed", "class_weights", "loss", "metric", "early_stopping_patience", "optimizer",
                  "precision", "head_epochs", "head_learning_rate", "max_steps", "thresholds")
_MODEL_KEYS = {
    "tfidf": ("word_ngrams", "char_ngrams", "C", "max_features"),
    "lexicon": (),
    "embed-head": ("name", "head", "head_hidden", "head_dropout"),
    "encoder": ("name", "head", "head_hidden", "head_dropout"),
    "causal-lm": ("name", "lora", "quantization", "double_quant", "gradient_checkpointing"),
    "seq2seq": ("name", "input_template", "max_target_length", "gradient_checkpointing"),
    "prompt": ("name", "prompt", "quantization"),
    "ensemble": ("members", "combine"),
    "instruct": ("name", "instruct", "lora", "quantization"),
}
_UNTRAINED = {"lexicon", "prompt", "ensemble"}


def library_versions() -> dict[str, str | None]:
    out = {}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:,.1f}"
    if isinstance(v, (dict, list, tuple)):
        return "`" + json.dumps(v, ensure_ascii=False) + "`"
    return str(v)


def _param(v) -> str:
    return f"{v:g}" if isinstance(v, float) else _fmt(v)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _notes_lines(notes: dict, depth: int = 0) -> list[str]:
    lines = []
    for k, v in (notes or {}).items():
        pad = "  " * depth
        if isinstance(v, dict) and v and depth < 2:
            lines.append(f"{pad}- {k}:")
            lines.extend(_notes_lines(v, depth + 1))
        elif isinstance(v, list) and v and all(isinstance(x, str) for x in v) and depth < 2:
            lines.append(f"{pad}- {k}:")
            lines.extend(f"{pad}  - {x}" for x in v)
        else:
            lines.append(f"{pad}- {k}: {_fmt(v)}")
    return lines


def render_model_card(config, data: dict, metrics: dict, history: list[dict] | None = None, *, config_file: str,
                      history_file: str) -> str:
    """The card's Markdown; ``config_file`` / ``history_file``: the run directory's file names it points to."""
    backend = config.model.backend
    label_set = data.get("label_set", {})
    primary = metrics.get("primary_metric", "f1_macro")
    title = f"# {config.name}"
    headline = ", ".join(f"{s} {primary} **{metrics[s][primary]:.4f}**" for s in ("dev", "test")
                         if s in metrics and primary in metrics[s])
    parts = [title, "",
             f"{config.description}".strip() or f"A `{backend}` emotion classifier trained with emotune.", "",
             f"- Task: {data.get('task')}, {len(label_set.get('names', []))} label(s) "
             f"({label_set.get('name') or 'labels'}): {', '.join(label_set.get('names', []))}",
             f"- Result: {headline}" if headline else "- Result: (no scores)", "",
             "Load it with `emotune.load_run(\"<this directory>\")` or serve it with `emotune serve <this directory>`.",
             ""]

    parts += ["## Data", "", f"- Dataset: `{config.data.dataset}`"]
    sizes = data.get("sizes", {})
    parts.append("- Sizes: " + ", ".join(f"{s} {n:,}" for s, n in sizes.items()))
    sampling = {k: getattr(config.data, k) for k in ("max_train", "max_eval", "cap", "label_map") if getattr(config.data, k)}
    if sampling:
        parts.append("- Sampling / mapping (the scores are for this subset): " + _fmt(sampling))
    split = config.data.split
    parts.append(f"- Split (where the dataset has no official one): dev {split.dev}, test {split.test}, seed {split.seed}, "
                 f"dedup {split.dedup}, grouped by {split.group_by or 'nothing'}")
    if data.get("notes"):
        parts += ["- Preparation notes (cleaning, deduplication, leakage checks):"]
        parts += ["  " + line for line in _notes_lines(data["notes"])]
    counts = data.get("label_counts") or {}
    if counts.get("train"):
        names = label_set.get("names", list(counts["train"]))
        parts += ["", _table(["label"] + list(counts), [[n] + [counts[s].get(n, 0) for s in counts] for n in names])]
    parts.append("")

    parts += ["## Recipe", "", f"- Backend: `{backend}`" + (f", base model `{config.model.name}`" if config.model.name else "")]
    model = config.model.model_dump(mode="json")
    keys = _MODEL_KEYS.get(backend, ())
    if keys:
        parts.append("- Model: " + ", ".join(f"{k}={_param(model[k])}" for k in keys if k in model and k != "name"))
    if backend not in _UNTRAINED and backend != "tfidf":
        t = config.training.model_dump(mode="json")
        parts.append("- Training: " + ", ".join(f"{k}={_param(t[k])}" for k in _TRAINING_KEYS if k in t))
    elif backend == "tfidf":
        parts.append(f"- Training: class_weights={config.training.class_weights}, seed={config.training.seed}")
    else:
        parts.append("- Not trained on this data (no weights were fitted).")
    layout = metrics.get("distributed")
    if layout:  # how the torch backends' batches were spread over processes (torchrun, README "Scaling out")
        how = f" ({layout['strategy']}, {layout['backend']})" if layout.get("backend") else ""
        parts.append(f"- Processes: {layout['world_size']}{how}; per-device batch {layout['per_device_batch_size']} "
                     f"x gradient accumulation {layout['grad_accum']} x {layout['world_size']} process(es) "
                     f"= effective batch {layout['effective_batch']}")
    if metrics.get("thresholds") is not None:
        parts.append(f"- Decision thresholds tuned on dev ({config.training.thresholds}): {_fmt(metrics['thresholds'])}")
    init = metrics.get("init_from")
    if init:
        parts.append(f"- Initialised from run `{init.get('run')}` ({init.get('dataset')}, {init.get('labels')} labels): "
                     "its fine-tuned body, a fresh classification head (intermediate-task transfer)")
    dist = metrics.get("distillation")
    if dist:
        teachers = ", ".join(f"{t.get('name')} ({t.get('backend')}" + (f" {t['model']}" if t.get("model") else "")
                             + f", seed {t.get('seed')})" for t in dist.get("teachers") or [])
        parts.append(f"- Distilled from the teacher file `{dist.get('teacher')}` (sha256 {str(dist.get('sha256'))[:12]}, "
                     f"{dist.get('rows')} rows): "
                     + ("in-sample probabilities (the teachers were trained on these rows)" if dist.get("in_sample")
                        else f"{dist.get('folds')}-fold out-of-fold probabilities") + f" of {teachers}; "
                     f"alpha {dist.get('alpha')} x hard-label loss + (1 - alpha) x teacher loss, temperature "
                     f"{dist.get('temperature')}")
    parts.append(f"- The full configuration is in `{config_file}`.")
    parts.append("")

    parts += ["## Scores", ""]
    score_splits = [s for s in ("dev", "test") if s in metrics]
    if score_splits:
        keys = list(metrics[score_splits[0]])
        parts.append(_table(["metric"] + score_splits, [[k] + [metrics[s].get(k, float("nan")) for s in score_splits]
                                                        for k in keys]))
        per = (metrics.get("per_class") or {}).get("test") or (metrics.get("per_class") or {}).get("dev")
        which = "test" if (metrics.get("per_class") or {}).get("test") else "dev"
        if per and all(n in per for n in label_set.get("names", [])):
            first = per[label_set["names"][0]]
            cols = [c for c in ("precision", "recall", "f1-score", "pearson", "spearman", "mae", "support") if c in first]
            parts += ["", f"Per label ({which}):", "",
                      _table(["label"] + cols, [[n] + [per[n][c] for c in cols] for n in label_set["names"]])]
    if history:
        parts += ["", f"Training history: {len(history)} rows in `{history_file}`."]
    parts.append("")

    versions = library_versions()
    machine = metrics.get("machine", {})
    parts += ["## Environment", "",
              "- Libraries: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v),
              f"- Machine: {machine.get('platform', '?')}, {machine.get('cpu_count', '?')} cores"
              + (f", GPU {machine['gpu']}" if machine.get("gpu") else ", no GPU")
              + (f", torch threads {machine['torch_threads']}" if machine.get("torch_threads") else ""),
              f"- Wall time: {metrics.get('wall_seconds', 0):.0f} s (fitting {metrics.get('fit_seconds', 0):.0f} s)"
              + (f"; prediction {metrics['predict_texts_per_s']:,.0f} texts/s" if metrics.get("predict_texts_per_s") else ""),
              f"- Date: {metrics.get('finished_at', '?')}", ""]
    return "\n".join(parts)
