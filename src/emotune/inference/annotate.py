"""Annotate an unlabelled corpus with several runs at once: emotions, probabilities, intensities.

``annotate_file(["runs/meld-minilm", "runs/ei-reg-minilm"], "tweets.csv", "tweets.annotated.csv")``
adds, per run (column prefix ``<run id>:``):

=================  ===========================================================================
single-label run   ``label``, ``confidence`` (top probability), ``margin`` (top1 - top2), ``p_<label>``
multi-label run    ``labels`` (thresholded), ``confidence`` (smallest distance of a label's
                   probability to its threshold, doubled: 0 = a coin flip, 1 = certain), ``p_<label>``
regression run     one column per target (``intensity``, ``V`` ...); instruct runs add ``valid``
                   (False when the generated answer was not a number: the value is then empty)
=================  ===========================================================================

The input is read and the output written with :mod:`emotune.inference.predict`'s streaming
reader/writer (CSV/TSV/JSONL/plain text; chunks appended and fsynced to a hidden partial file that
replaces the output once complete), so an interrupted run resumes after the rows already written
and the output file is never half written. Texts get the same cleaning and long-text windows as
``emotune predict``, and a run trained with dialogue context gets each turn with its preceding
turns when the input has ``dialogue_id``/``turn``/``speaker`` fields (MELD-style files), as there.

Rows to review by hand: a classification run is *unsure* of a row when its top probability is
below ``threshold`` or the two best labels are within ``margin`` (single-label), or some label's
probability is within ``margin`` of its decision threshold (multi-label); an instruct regression
run is unsure when its answer was invalid. :func:`summarize_output` reads the finished output file
(all rows, resumed or not) and gives the label distribution per run, value statistics and the
unsure rows, which ``--review FILE`` writes out.

An instruct run answers several tasks: ``RUN#task`` picks one (``runs/instruct#v-reg``,
``runs/instruct#ei-reg:anger``). A run trained on ``"<emotion>: <text>"`` inputs
(``data.text_prefix_col``, the ei-reg suite) answers one intensity per emotion it was trained on,
or one emotion with ``RUN#anger`` (the classifier's ``view``, :mod:`emotune.models.inputs`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotune.data.labels import LabelSet, Task
from emotune.errors import ConfigError, DataError, writing
from emotune.inference.predict import CSV_SUFFIXES, DialogueContext, InputFile, OutputFile, iter_output, score_texts

SEP = ":"


@dataclass
class Annotator:
    """One run (or one task view of an instruct run) and the columns it writes."""

    id: str
    spec: str
    clf: object
    thresholds: np.ndarray | None = None
    context: object | None = None  # the run's data.context when it was trained with preceding turns

    @property
    def label_set(self) -> LabelSet:
        return self.clf.label_set

    @property
    def task(self) -> Task:
        return self.label_set.task

    @property
    def generative(self) -> bool:  # regression answers that can be invalid (instruct)
        return self.task == Task.REGRESSION and self.clf.generation_stats() is not None

    def columns(self) -> list[str]:
        names = self.label_set.names
        p = self.id + SEP
        if self.task == Task.SINGLE:
            return [p + "label", p + "confidence", p + "margin", *(p + "p_" + n for n in names)]
        if self.task == Task.MULTI:
            return [p + "labels", p + "confidence", *(p + "p_" + n for n in names)]
        return [p + n for n in names] + ([p + "valid"] if self.generative else [])


def parse_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``path[#task[:emotion]]`` -> (path, task, emotion)."""
    path, _, view = str(spec).partition("#")
    if not view:
        return path, None, None
    task, _, emotion = view.partition(":")
    return path, task or None, emotion or None


def load_annotators(specs: Sequence[str | Path], *, loader: Callable | None = None) -> list[Annotator]:
    """Load every run once; ids are the run folder names (plus ``#task``), made unique.

    ``loader(run)`` gives the classifier of a :class:`emotune.runs.Run` (default ``run.load()``).
    """
    from emotune.runs import Run

    if not specs:
        raise ConfigError("No run given", hint="e.g. emotune annotate runs/meld-minilm --input FILE --output FILE")
    loader = loader or Run.load
    out: list[Annotator] = []
    taken: set[str] = set()
    loaded: dict[str, object] = {}
    for spec in specs:
        path, task, emotion = parse_spec(str(spec))
        run = Run.open(path)
        run.meta  # a clear error for a missing/corrupt run before loading weights
        key = str(run.path.resolve())
        if key not in loaded:
            loaded[key] = loader(run)
        try:  # an instruct task, a prefix value ("anger: <text>" runs), or the run as trained
            clf = loaded[key].view(task, emotion)
        except ConfigError as exc:
            raise ConfigError(f"'{spec}': {exc.message}", hint=exc.hint) from None
        base = run.name + (f"#{task}" + (f":{emotion}" if emotion else "") if task else "")
        name, i = base, 2
        while name in taken:
            name, i = f"{base}-{i}", i + 1
        taken.add(name)
        thr = clf.thresholds
        out.append(Annotator(name, str(spec), clf, None if thr is None else np.asarray(thr, dtype=float),
                             clf.input_spec.context))
    return out


# -- scoring one chunk ----------------------------------------------------------------------------
def _fmt(x: float) -> float:
    return round(float(x), 6)


def annotate_texts(annotators: Sequence[Annotator], texts: Sequence[str], *, batch_size: int | None = None,
                   csv_out: bool = False, inputs: dict[str, list[str]] | None = None) -> list[dict]:
    """The annotation columns for ``texts`` (empty texts get empty columns).

    ``inputs``: what a run is given instead of the bare texts, by annotator id (dialogue turns with
    their preceding turns, for runs trained with context); already cleaned.
    """
    from emotune.data.cleaning import clean_text

    texts = [str(t or "") for t in texts]
    keep = [i for i, t in enumerate(texts) if t.strip()]
    rows: list[dict] = [{} for _ in texts]
    for a in annotators:
        cols = a.columns()
        for r in rows:
            r.update({c: None for c in cols})
        if not keep:
            continue
        p = a.id + SEP
        names = a.label_set.names
        given = (inputs or {}).get(a.id)
        if a.generative:
            values, valid = a.clf.predict_values([given[i] if given else clean_text(texts[i]) for i in keep],
                                                 batch_size=batch_size)
            for i, vals, ok in zip(keep, np.asarray(values, dtype=float).reshape(len(keep), -1), valid):
                rows[i].update({p + n: (_fmt(v) if ok else None) for n, v in zip(names, vals)})
                rows[i][p + "valid"] = bool(ok)
            continue
        scored = score_texts(a.clf, [given[i] if given else texts[i] for i in keep], batch_size=batch_size,
                             clean=not given)
        for i, s in zip(keep, scored):
            row = np.asarray(s.scores, dtype=float)
            r = rows[i]
            if a.task == Task.REGRESSION:
                r.update({p + n: _fmt(v) for n, v in zip(names, row)})
                continue
            r.update({p + "p_" + n: _fmt(v) for n, v in zip(names, row)})
            if a.task == Task.SINGLE:
                top = np.sort(row)[::-1]
                r[p + "label"] = s.labels[0]
                r[p + "confidence"] = _fmt(top[0])
                r[p + "margin"] = _fmt(top[0] - (top[1] if len(top) > 1 else 0.0))
            else:
                thr = a.thresholds if a.thresholds is not None else np.full(len(names), 0.5)
                r[p + "labels"] = ";".join(s.labels) if csv_out else list(s.labels)
                r[p + "confidence"] = _fmt(min(1.0, 2 * float(np.min(np.abs(row - thr)))))
    return rows


# -- the file -------------------------------------------------------------------------------------
@dataclass
class AnnotateResult:
    input: Path
    output: Path
    total: int
    skipped: int
    written: int
    runs: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=list)  # runs given each turn's preceding turns
    no_context: list[str] = field(default_factory=list)  # context runs that got bare texts (no dialogue fields)
    gaps: list[str] = field(default_factory=list)  # dialogues whose turn numbers skip some
    blank_rows: list[int] = field(default_factory=list)  # rows with empty text: kept, left unannotated

    def to_dict(self) -> dict:
        return {"input": str(self.input), "output": str(self.output), "total": self.total, "skipped": self.skipped,
                "written": self.written, "runs": self.runs, "context": self.context, "no_context": self.no_context,
                "turn_gaps": self.gaps, "blank_rows": len(self.blank_rows)}


def annotate_file(annotators: Sequence[Annotator], input_path: str | Path, output_path: str | Path, *,
                  text_col: str = "text", batch_size: int | None = None, chunk_size: int = 256,
                  overwrite: bool = False, on_total: Callable[[int, int], None] | None = None,
                  on_progress: Callable[[int], None] | None = None) -> AnnotateResult:
    """Annotate every row of ``input_path`` into ``output_path``, resuming after rows already there."""
    inp = InputFile(Path(input_path), text_col)
    total = inp.count()  # the whole input read (and checked) before an --overwrite removes anything
    output_path = Path(output_path)
    if output_path.resolve() == inp.path.resolve():
        raise DataError(f"The output file must differ from the input file ({output_path})")
    csv_out = output_path.suffix.lower() in CSV_SUFFIXES
    ann_cols = [c for a in annotators for c in a.columns()]
    first = next(inp.records(), None)
    in_cols = inp.columns if inp.fmt in ("csv", "parquet") else (list(first) if first is not None else [text_col])
    fieldnames = [c for c in in_cols if c not in ann_cols] + ann_cols if csv_out else None
    out = OutputFile(output_path, fieldnames, overwrite=overwrite)
    skip, last = out.existing_rows()
    if skip > total:
        raise DataError(f"{output_path} already has {skip} rows but {inp.path} has only {total}",
                        hint="It was written from another input: choose another output or pass --overwrite.")
    if last is not None and not csv_out and set(last) - set(in_cols) != set(ann_cols):
        # (CSV: OutputFile compares the header with the expected columns)
        raise DataError(f"{output_path} was written by other runs (columns "
                        f"{', '.join(sorted(set(last) - set(in_cols)))[:120]})",
                        hint="Annotate with the same runs to resume, or pass --overwrite to start again.")
    if on_total:
        on_total(total, skip)
    result = AnnotateResult(inp.path, output_path, total, skip, 0, [a.id for a in annotators],
                            blank_rows=inp.blank_rows)
    # runs trained on dialogue context get each turn with its preceding turns, as `predict` does
    dialogue = first is not None and "dialogue_id" in first
    contexts = {a.id: DialogueContext(a.context, text_col, inp.path)
                for a in annotators if a.context is not None and dialogue}
    result.context = list(contexts)
    result.no_context = [a.id for a in annotators if a.context is not None and not dialogue]

    def follow(rec: dict, index: int, chunk: list[dict] | None = None) -> None:
        for ctx in contexts.values():
            ctx.check(rec, index)
            if chunk is None:  # a row written earlier: only its turn is remembered
                ctx.remember([rec])

    def flush(chunk: list[dict]) -> None:
        inputs = {aid: ctx.texts(chunk) for aid, ctx in contexts.items()}
        cols = annotate_texts(annotators, [r.get(text_col) for r in chunk], batch_size=batch_size, csv_out=csv_out,
                              inputs=inputs)
        rows = []
        for rec, extra in zip(chunk, cols):
            row = {k: (json.dumps(v, ensure_ascii=False) if csv_out and isinstance(v, (dict, list)) else v)
                   for k, v in rec.items()}
            row.update(extra)
            rows.append(row)
        out.write(rows)
        result.written += len(chunk)
        if on_progress:
            on_progress(len(chunk))

    try:
        chunk: list[dict] = []
        for index, rec in enumerate(inp.records(), 1):
            if index <= skip:
                if index == skip and last is not None and text_col in last \
                        and str(last[text_col]) != str(rec.get(text_col, "")):
                    raise DataError(f"{output_path} does not continue {inp.path}: its row {skip} has another text",
                                    hint="Choose another output file or pass --overwrite to start again.")
                follow(rec, index)
                continue
            follow(rec, index, chunk)
            chunk.append(rec)
            if len(chunk) >= chunk_size:
                flush(chunk)
                chunk = []
        if chunk:
            flush(chunk)
    finally:
        out.close()
    out.commit()
    result.gaps = next((c.gaps for c in contexts.values()), [])
    return result


# -- summary and review ---------------------------------------------------------------------------
def _num(v) -> float | None:
    if v is None or v == "":
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def unsure_reasons(row: dict, annotators: Sequence[Annotator], threshold: float, margin: float) -> list[str]:
    reasons = []
    for a in annotators:
        p = a.id + SEP
        if a.task == Task.SINGLE:
            conf, marg = _num(row.get(p + "confidence")), _num(row.get(p + "margin"))
            if conf is None:
                continue
            if conf < threshold:
                reasons.append(f"{a.id}: top probability {conf:.2f} < {threshold:g}")
            elif marg is not None and marg < margin:
                reasons.append(f"{a.id}: top two labels within {marg:.2f}")
        elif a.task == Task.MULTI:
            thr = a.thresholds if a.thresholds is not None else np.full(len(a.label_set), 0.5)
            close = [n for n, t in zip(a.label_set.names, thr)
                     if (v := _num(row.get(p + "p_" + n))) is not None and abs(v - t) < margin]
            if close:
                reasons.append(f"{a.id}: {', '.join(close)} within {margin:g} of the threshold")
        elif a.generative and str(row.get(p + "valid")).lower() in ("false", "0"):
            reasons.append(f"{a.id}: invalid answer")
    return reasons


def summarize_output(annotators: Sequence[Annotator], output_path: str | Path, *, text_col: str = "text",
                     threshold: float = 0.5, margin: float = 0.1) -> dict:
    """Label distribution / value statistics per run and the unsure rows, over the whole output file.

    One streamed pass: memory holds the counts and the unsure rows, not the file.
    """
    counts = {a.id: Counter() for a in annotators}
    none = Counter()
    invalid = Counter()
    moments = {(a.id, n): [0, 0.0, 0.0, math.inf, -math.inf] for a in annotators
               if a.task == Task.REGRESSION for n in a.label_set.names}  # n, mean, M2 (Welford), min, max
    review = []
    total = 0
    for i, r in enumerate(iter_output(output_path), 1):
        total = i
        for a in annotators:
            p = a.id + SEP
            if a.task == Task.SINGLE:
                if r.get(p + "label") not in (None, ""):
                    counts[a.id][r[p + "label"]] += 1
            elif a.task == Task.MULTI:
                labs = r.get(p + "labels")
                if labs is None or (isinstance(labs, str) and r.get(p + "confidence") in (None, "")):
                    continue
                labs = [x for x in labs.split(";") if x] if isinstance(labs, str) else list(labs)
                counts[a.id].update(labs)
                none[a.id] += not labs
            else:
                for n in a.label_set.names:
                    if (v := _num(r.get(p + n))) is not None:
                        m = moments[(a.id, n)]
                        m[0] += 1
                        delta = v - m[1]
                        m[1] += delta / m[0]
                        m[2] += delta * (v - m[1])
                        m[3], m[4] = min(m[3], v), max(m[4], v)
                if a.generative:
                    invalid[a.id] += str(r.get(p + "valid")).lower() in ("false", "0")
        reasons = unsure_reasons(r, annotators, threshold, margin)
        if reasons:
            review.append({"row": i, text_col: r.get(text_col), "reasons": reasons,
                           **{k: v for k, v in r.items() if k != text_col}})
    runs: dict[str, dict] = {}
    for a in annotators:
        entry: dict = {"task": a.task.value, "labels": list(a.label_set.names)}
        if a.task != Task.REGRESSION:
            entry["counts"] = {n: counts[a.id].get(n, 0) for n in a.label_set.names}
            if a.task == Task.MULTI:
                entry["no_label"] = none[a.id]
        else:
            entry["values"] = {}
            for n in a.label_set.names:
                k, mean, m2, lo, hi = moments[(a.id, n)]
                entry["values"][n] = {"n": k, "mean": mean if k else None, "std": math.sqrt(m2 / k) if k else None,
                                      "min": lo if k else None, "max": hi if k else None}
            if a.generative:
                entry["invalid"] = invalid[a.id]
        runs[a.id] = entry
    return {"rows": total, "runs": runs, "review": review, "threshold": threshold, "margin": margin}


def write_review(review: Sequence[dict], path: str | Path) -> Path:
    """The unsure rows as CSV/TSV (reasons joined by " | ") or JSONL, by the file's suffix."""
    path = Path(path)
    with writing(path):
        _write_review(review, path)
    return path


def _write_review(review: Sequence[dict], path: Path) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in CSV_SUFFIXES:
        fields: list[str] = []
        for r in review:
            fields += [k for k in r if k not in fields]
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields or ["row", "reasons"], delimiter=CSV_SUFFIXES[path.suffix.lower()],
                               lineterminator="\n")
            w.writeheader()
            for r in review:
                w.writerow({k: (" | ".join(v) if k == "reasons" else
                                json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)
                            for k, v in r.items()})
    else:
        with open(path, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in review)
