"""The comparison report's "words that drive each emotion": per model, the words whose explanation
scores (:mod:`emotune.explain`, the model's ``auto`` method) add up highest over test texts
predicted as each label.

Explaining costs a pass per word (occlusion) or an Integrated Gradients path per text, so only
the first ``n_texts`` stored test texts are explained (the same for every model); a model that
cannot be loaded (or a regression run) gets a note instead of a table.
"""

from __future__ import annotations

from collections import defaultdict

from emotune.data.labels import Task
from emotune.errors import EmotuneError

DEFAULT_TEXTS = 100
TOP_WORDS = 8


def driving_words(run_dir, texts: list[str], *, top: int = TOP_WORDS, batch_size: int | None = None) -> dict:
    """``{"method", "n_texts", "labels": {label: [{"word", "score", "count"}, ...]}}`` for one run."""
    from emotune.explain import explain_texts
    from emotune.runs import Run

    clf = Run.open(run_dir).load().view()
    if clf.task == Task.REGRESSION:
        return {"note": "regression run: no labels to explain"}
    found = explain_texts(clf, texts, batch_size=batch_size)
    totals: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    for e in found:
        for w in e.words:
            entry = totals[e.label][w["word"].lower()]
            entry[0] += w["score"]
            entry[1] += 1
    labels = {}
    for label in clf.label_set.names:
        ranked = sorted(totals.get(label, {}).items(), key=lambda kv: -kv[1][0])[:top]
        labels[label] = [{"word": w, "score": round(s, 4), "count": n} for w, (s, n) in ranked if s > 0]
    return {"method": found[0].method if found else None, "n_texts": len(found), "labels": labels}


def driving_words_section(comparison: dict, records, *, n_texts: int = DEFAULT_TEXTS, split: str = "test") -> dict:
    """model name -> :func:`driving_words` of its first run (or ``{"note": why not}``)."""
    if n_texts <= 0:
        return {}
    stored = next((r.predictions(split).texts for r in records if r.predictions(split).texts is not None), None)
    out = {}
    for m in comparison["models"]:
        if stored is None:
            out[m["name"]] = {"note": f"no stored {split} texts to explain"}
            continue
        try:
            out[m["name"]] = driving_words(m["runs"][0], list(stored[:n_texts]))
        except EmotuneError as exc:
            out[m["name"]] = {"note": f"not explained: {exc.message}"}
    return out
