"""SemEval-2018 Task 1 as instruction data: one causal LM for classification *and* intensity.

After EmoLLMs (Liu et al., 2024, the AAID instruction set): every labelled tweet becomes an
``(instruction, input, output)`` triple, several wordings per task so that the model learns the
task rather than one phrasing. Five tasks:

=========  ===================  ================  ==========================================
task       dataset              answer            how the answer is written
=========  ===================  ================  ==========================================
``ec``     ``semeval-ec``       ``yes`` / ``no``  one row per (tweet, emotion): "does it express anger?"
``ei-reg`` ``semeval-ei-reg``   a number          intensity of the row's emotion, 0-1, 3 decimals
``ei-oc``  ``semeval-ei-oc``    ``0``..``3``      ordinal class of the row's emotion, the integer only
``v-reg``  ``semeval-v-reg``    a number          valence, 0 (negative) - 1 (positive), 3 decimals
``v-oc``   ``semeval-v-oc``     ``-3``..``3``     ordinal valence class, the integer only
=========  ===================  ================  ==========================================

Choices (and why):

* **E-c is asked label by label** (11 yes/no rows per tweet) instead of EmoLLMs' "list the
  emotions" answer: a yes/no answer is scored exactly by label scoring, which gives every
  emotion its own probability, so multi-label thresholds can be tuned on dev like for any other
  backend. A generated list would have to be parsed and has no per-label probabilities.
  With ``ec_format="checklist"`` E-c is one row per tweet instead: the instruction lists the 11
  emotions and the answer is one ``emotion: yes|no`` line per emotion, in :data:`EC_EMOTIONS`
  order. Training sees each tweet once, not 11 times (~8x fewer tokens), and the answer still
  gives every emotion its own probability: the model reads each line's yes/no after the lines
  before it (:func:`emotune.models.instruct_prompt.checklist_scores`).
* **Ordinal classes are answered with the bare integer** ("2", "-1"); the instruction spells out
  what each integer means (the official "2: moderate amount of anger can be inferred" text).
  Short, single-token answers make label scoring cheap and avoid rewarding the model for
  copying a long class description.
* **Numbers always have three decimals** ("0.532", "1.000", "0.000"), so that the model sees one
  format and :func:`parse_number` can be strict.

Each row gets one template, drawn from the first ``templates_per_task`` wordings of its task
with a seeded generator, so a (tasks, split, seed) triple always builds the same file. Rows are
written as JSONL with the fields in :data:`FIELDS`; :func:`read_instructions` validates a file
and names the line and field of the first problem.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError, did_you_mean

FIELDS = ("id", "task", "instruction", "input", "output", "label_set", "split", "source_id")
SEMEVAL_EMOTIONS = ("anger", "fear", "joy", "sadness")
EC_EMOTIONS = ("anger", "anticipation", "disgust", "fear", "joy", "love", "optimism", "pessimism", "sadness",
               "surprise", "trust")

_EI_OC_MEANING = ("0: no {emotion} can be inferred; 1: low amount of {emotion} can be inferred; "
                  "2: moderate amount of {emotion} can be inferred; 3: high amount of {emotion} can be inferred")
_V_OC_MEANING = ("3: very positive mental state can be inferred; 2: moderately positive; 1: slightly positive; "
                 "0: neutral or mixed; -1: slightly negative; -2: moderately negative; "
                 "-3: very negative mental state can be inferred")


@dataclass(frozen=True)
class InstructTask:
    name: str
    dataset: str  # emotune.data.registry name
    kind: str  # "binary" (yes/no per label), "ordinal" (integer classes) or "regression"
    templates: tuple[str, ...]
    answers: tuple[str, ...] = ()  # the closed answer set (classification)
    value_range: tuple[float, float] = (0.0, 1.0)  # regression
    per_emotion: bool = False  # the instruction names one emotion (ec, ei-*)

    @property
    def is_regression(self) -> bool:
        return self.kind == "regression"

    def instruction(self, template: int, emotion: str | None = None) -> str:
        text = self.templates[template]
        if self.per_emotion:
            if not emotion:
                raise DataError(f"Task '{self.name}' needs an emotion for its instruction")
            text = text.replace("{meaning}", _EI_OC_MEANING).replace("{emotion}", emotion)
        return text.replace("{meaning}", _V_OC_MEANING)


TASKS: dict[str, InstructTask] = {t.name: t for t in [
    InstructTask("ec", "semeval-ec", "binary", (
        "Task: Decide whether the writer of the text expresses {emotion}. Answer with yes or no.",
        "Does the following tweet express the emotion {emotion}? Reply yes or no.",
        "Read the text and say if {emotion} can be inferred from it (yes or no).",
        "Emotion detection. Is {emotion} one of the emotions in this text? Answer yes or no only.",
    ), answers=("no", "yes"), per_emotion=True),
    InstructTask("ei-reg", "semeval-ei-reg", "regression", (
        "Task: Assign a numerical value between 0 (least {emotion}) and 1 (most {emotion}) to represent the "
        "intensity of {emotion} expressed in the text. Answer with the number only, with three decimals.",
        "Rate how intensely the writer feels {emotion}, from 0.000 (not at all) to 1.000 (extremely). "
        "Give only the score.",
        "Estimate the {emotion} intensity of this tweet as a real number between 0 and 1 (three decimals).",
        "How much {emotion} does the text convey? Answer with a score from 0 to 1, e.g. 0.250.",
    ), per_emotion=True),
    InstructTask("ei-oc", "semeval-ei-oc", "ordinal", (
        "Task: Categorize the text into an ordinal class that best characterizes the writer's mental state "
        "with regard to {emotion}. Classes: {meaning}. Answer with the class number only.",
        "How much {emotion} can be inferred from this tweet? {meaning}. Reply with 0, 1, 2 or 3.",
        "Classify the intensity of {emotion} in the text into one of four classes ({meaning}). "
        "Give the number.",
        "Ordinal {emotion} intensity (0-3) of the text. {meaning}. Answer with one digit.",
    ), answers=("0", "1", "2", "3"), per_emotion=True),
    InstructTask("v-reg", "semeval-v-reg", "regression", (
        "Task: Evaluate the valence intensity of the writer's mental state based on the text, assigning it a "
        "real-valued score from 0 (most negative) to 1 (most positive). Answer with the number only, with "
        "three decimals.",
        "Rate the sentiment of this tweet from 0.000 (very negative) to 1.000 (very positive). "
        "Give only the score.",
        "What is the valence of the text on a scale from 0 (negative) to 1 (positive)? Three decimals.",
        "Score how positive the writer feels, between 0 and 1, e.g. 0.750.",
    )),
    InstructTask("v-oc", "semeval-v-oc", "ordinal", (
        "Task: Categorize the text into an ordinal class that best characterizes the writer's mental state, "
        "considering various degrees of positive and negative sentiment intensity. Classes: {meaning}. "
        "Answer with the class number only.",
        "Which sentiment intensity class fits this tweet? {meaning}. Reply with a number from -3 to 3.",
        "Classify the valence of the text into seven ordinal classes ({meaning}). Give the number.",
        "Ordinal valence (-3 to 3) of the text. {meaning}. Answer with the integer.",
    ), answers=("-3", "-2", "-1", "0", "1", "2", "3")),
]}
_EC_LIST = ", ".join(EC_EMOTIONS)
#: E-c as one row per tweet (``ec_format="checklist"``): the same task, other wordings and answer
EC_CHECKLIST = replace(TASKS["ec"], per_emotion=False, templates=(
    f"Task: For each emotion below, decide whether the writer of the text expresses it. Answer one line per "
    f"emotion, in this order, as 'emotion: yes' or 'emotion: no': {_EC_LIST}.",
    f"Which of these emotions does the tweet express? Go through the list and answer yes or no for each, one "
    f"per line: {_EC_LIST}.",
    f"Emotion detection. For every emotion in the list ({_EC_LIST}), say yes if it can be inferred from the "
    f"text and no otherwise, one line per emotion.",
))
EC_FORMATS = ("questions", "checklist")
TASK_NAMES = tuple(TASKS)
DATASET_TO_TASK = {t.dataset: t.name for t in TASKS.values()}


def get_task(name: str) -> InstructTask:
    key = str(name).strip().lower()
    key = DATASET_TO_TASK.get(key, key)
    if key not in TASKS:
        raise DataError(f"Unknown instruction task '{name}'", hint=did_you_mean(str(name), TASK_NAMES))
    return TASKS[key]


def parse_tasks(tasks: str | Iterable[str] | None) -> list[str]:
    """``"ec,ei-reg"`` / a list / None (= all five) -> validated task names, in the given order."""
    if tasks is None or tasks == "" or tasks == "all":
        return list(TASK_NAMES)
    items = [t for t in re.split(r"[,\s]+", tasks) if t] if isinstance(tasks, str) else list(tasks)
    out: list[str] = []
    for t in items:
        name = get_task(t).name
        if name not in out:
            out.append(name)
    if not out:
        raise DataError("No instruction task given", hint="Valid tasks: " + ", ".join(TASK_NAMES))
    return out


def task_label_set(task: str) -> LabelSet:
    """The label set a classifier view of ``task`` uses (the loader's, so that metrics line up)."""
    t = get_task(task)
    if t.kind == "binary":
        return LabelSet(EC_EMOTIONS, Task.MULTI, name="semeval-ec-11")
    if t.kind == "ordinal":
        return LabelSet(t.answers, Task.SINGLE, name=f"semeval-{t.name}")
    return LabelSet(("intensity",) if t.per_emotion else ("valence",), Task.REGRESSION, name=f"semeval-{t.name}")


def task_for_label_set(label_set: LabelSet, dataset: str | None = None) -> str:
    """Which instruction task a label set (and dataset name) belongs to."""
    if dataset:
        key = dataset.split(":")[0].lower()
        if key in DATASET_TO_TASK:
            return DATASET_TO_TASK[key]
    names = tuple(label_set.names)
    if label_set.task == Task.MULTI and set(names) <= set(EC_EMOTIONS):
        return "ec"
    if label_set.task == Task.SINGLE and names == TASKS["ei-oc"].answers:
        return "ei-oc"
    if label_set.task == Task.SINGLE and names == TASKS["v-oc"].answers:
        return "v-oc"
    if label_set.task == Task.REGRESSION and len(names) == 1:
        return "v-reg" if names[0] == "valence" else "ei-reg"
    raise DataError(f"Label set '{label_set.name or names}' is not one of the instruction tasks",
                    hint="The instruct backend knows SemEval-2018 E-c, EI-reg, EI-oc, V-reg and V-oc.")


# -- answers ------------------------------------------------------------------------------------
def ec_task(ec_format: str = "questions") -> InstructTask:
    """E-c asked emotion by emotion (``questions``, 11 rows a tweet) or as one ``checklist`` row."""
    if ec_format not in EC_FORMATS:
        raise DataError(f"Unknown E-c format '{ec_format}'", hint="Choose " + " or ".join(EC_FORMATS))
    return EC_CHECKLIST if ec_format == "checklist" else TASKS["ec"]


def checklist_answer(present: Iterable[str]) -> str:
    """One ``emotion: yes|no`` line for every E-c emotion, in :data:`EC_EMOTIONS` order."""
    present = set(present)
    return "\n".join(f"{e}: {'yes' if e in present else 'no'}" for e in EC_EMOTIONS)


def parse_checklist(text: str) -> dict[str, bool] | None:
    """The answers of a checklist (every emotion once, in order), or None when it is not one."""
    lines = str(text).strip().split("\n")
    if len(lines) != len(EC_EMOTIONS):
        return None
    out: dict[str, bool] = {}
    for line, emotion in zip(lines, EC_EMOTIONS):
        head, sep, answer = line.partition(":")
        if not sep or head.strip() != emotion or answer.strip() not in ("yes", "no"):
            return None
        out[emotion] = answer.strip() == "yes"
    return out


def format_number(value: float) -> str:
    """The one way numbers are written in answers: three decimals."""
    return f"{float(value):.3f}"


_NUMBER = re.compile(r"[+-]?(?:(?:0|[1-9]\d*)(?:\.\d+)?|\.\d+)")


def parse_number(text: str, value_range: tuple[float, float] = (0.0, 1.0)) -> float | None:
    """A generated regression answer -> float, or None when it is not *exactly* a number in range.

    Strict on purpose: "0.5", " 0.500\\n" are read; "0.5.", "about 0.5", "0.5 (moderate)", "1.7"
    (out of range), "nan" and "" are not. Counting such answers as invalid, instead of fishing a
    number out of free text, keeps the reported error honest.
    """
    s = str(text).strip()
    if not _NUMBER.fullmatch(s):
        return None
    value = float(s)
    lo, hi = value_range
    if not math.isfinite(value) or value < lo or value > hi:
        return None
    return value


def answer_for(task: InstructTask, value) -> str:
    if task.kind == "binary" and isinstance(value, frozenset):
        return checklist_answer(value)
    if task.kind == "binary":
        return "yes" if value else "no"
    if task.kind == "ordinal":
        ans = str(value).split(":", 1)[0].strip()
        if ans not in task.answers:
            raise DataError(f"Task '{task.name}': class '{value}' is not one of {list(task.answers)}")
        return ans
    return format_number(value)


# -- building -------------------------------------------------------------------------------------
def _strip_emotion_prefix(text: str, emotion: str | None) -> str:
    """Datasets prepared with the emotion in the text ("anger: ...") give the bare text back."""
    if emotion and text.lower().startswith(emotion + ": "):
        return text[len(emotion) + 2:]
    return text


def _source_ids(ds: EmotionDataset) -> list[str]:
    for col in ("tweet_id", "id", "source_id"):
        if col in ds.frame.columns:
            return [str(v) for v in ds.frame[col]]
    return [str(i) for i in range(len(ds))]


def rows_from_dataset(ds: EmotionDataset, task: str, *, split: str = "", seed: int = 0,
                      templates_per_task: int = 3, max_items: int | None = None,
                      emotion: str | None = None, templates: Sequence[str] | None = None,
                      ec_format: str = "questions") -> list[dict]:
    """Instruction rows for every labelled item of ``ds`` (one SemEval task, any split).

    ``max_items`` keeps a seeded sample of source items (tweets) before expansion, so an E-c
    sample keeps all 11 questions of each kept tweet. ``emotion`` is the emotion of every row
    of an EI dataset without an ``emotion`` column (one emotion loaded). ``templates`` replaces
    the task's wordings (a trained model keeps the ones it was trained with). ``ec_format``: see
    :func:`ec_task`.
    """
    t = get_task(task)
    if t.name == "ec":
        t = ec_task(ec_format)
    if templates:
        t = replace(t, templates=tuple(templates))
    k = max(1, min(int(templates_per_task), len(t.templates)))
    order = np.arange(len(ds))
    # one generator per (seed, task): adding a task never changes another task's rows
    rng = np.random.default_rng([int(seed), TASK_NAMES.index(t.name)])
    if max_items is not None and max_items < len(ds):
        order = np.sort(rng.choice(len(ds), size=int(max_items), replace=False))
    frame = ds.frame
    texts = frame["text"].astype(str).tolist()
    ids = _source_ids(ds)
    splits = frame["split"].astype(str).tolist() if "split" in frame.columns else [""] * len(ds)
    emotions = frame["emotion"].astype(str).tolist() if "emotion" in frame.columns else None
    if emotions is None and emotion:
        emotions = [emotion] * len(ds)
    if t.per_emotion and t.kind != "binary" and emotions is None:
        raise DataError(f"Task '{t.name}' needs an 'emotion' column in dataset '{ds.name}'")
    rows: list[dict] = []
    for i in order.tolist():
        row_split = split or splits[i]
        if t.kind == "binary" and not t.per_emotion:  # one checklist row
            items = [(None, frozenset(frame["labels"].iloc[i]))]
        elif t.kind == "binary":
            present = set(frame["labels"].iloc[i])
            items = [(emo, emo in present) for emo in EC_EMOTIONS]
        elif t.kind == "ordinal":
            items = [(emotions[i] if emotions else None, frame["labels"].iloc[i][0])]
        else:
            items = [(emotions[i] if emotions else None, float(frame["targets"].iloc[i][0]))]
        for emotion, value in items:
            tmpl = int(rng.integers(k))
            key = f"{t.name}:{row_split}:{ids[i]}" + (f":{emotion}" if emotion else "")
            rows.append({
                "id": key, "task": t.name, "instruction": t.instruction(tmpl, emotion),
                "input": _strip_emotion_prefix(texts[i], emotion), "output": answer_for(t, value),
                "label_set": list(t.answers) if t.answers else None, "split": row_split, "source_id": ids[i],
            })
    return rows


def build_instruction_dataset(tasks: str | Sequence[str] | None = None, split: str = "train", seed: int = 0, *,
                              templates_per_task: int = 3, max_per_task: int | None = None,
                              data_root: str | Path | None = None, ec_format: str = "questions",
                              loader: Callable[..., EmotionDataset] | None = None) -> list[dict]:
    """Rows for ``split`` of every task in ``tasks`` (default: all five), in task order.

    ``loader(name, data_root=...)`` defaults to :func:`emotune.data.registry.load_dataset`.
    """
    if loader is None:
        from emotune.data.registry import load_dataset as loader
    rows: list[dict] = []
    for name in parse_tasks(tasks):
        t = TASKS[name]
        ds = loader(t.dataset, data_root=data_root) if data_root is not None else loader(t.dataset)
        rows.extend(rows_from_dataset(ds.split(split), name, split=split, seed=seed,
                                      templates_per_task=templates_per_task, max_items=max_per_task,
                                      ec_format=ec_format))
    return rows


# -- files ------------------------------------------------------------------------------------
def write_instructions(rows: Iterable[dict], path: str | Path) -> int:
    """Write rows as JSONL (atomically); return the row count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps({k: row[k] for k in FIELDS}, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def validate_row(row, where: str) -> dict:
    """Check one parsed row; ``where`` ("file.jsonl, line 3") prefixes every error."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for f in FIELDS:
        if f not in row:
            raise DataError(f"{where}: missing field '{f}'", hint="Every row needs: " + ", ".join(FIELDS))
    for f in ("id", "task", "instruction", "input", "output"):
        if not isinstance(row[f], str) or (f != "input" and not row[f].strip()):
            raise DataError(f"{where}: field '{f}' must be a non-empty string, got {row[f]!r}")
    if row["task"] not in TASKS:
        raise DataError(f"{where}: field 'task' has unknown task '{row['task']}'",
                        hint=did_you_mean(row["task"], TASK_NAMES))
    t = TASKS[row["task"]]
    if t.is_regression:
        if row["label_set"] not in (None, []):
            raise DataError(f"{where}: field 'label_set' must be null for the regression task '{t.name}'")
        if parse_number(row["output"], t.value_range) is None:
            raise DataError(f"{where}: field 'output' {row['output']!r} is not a number in "
                            f"[{t.value_range[0]}, {t.value_range[1]}]")
    else:
        ls = row["label_set"]
        if not isinstance(ls, list) or not ls or not all(isinstance(x, str) for x in ls):
            raise DataError(f"{where}: field 'label_set' must be a list of answers for task '{t.name}'")
        if row["output"] not in ls and not (t.kind == "binary" and parse_checklist(row["output"])):
            raise DataError(f"{where}: field 'output' {row['output']!r} is not in label_set {ls}")
    return row


def read_instructions(path: str | Path, tasks: Sequence[str] | None = None) -> list[dict]:
    """Read and validate an instruction JSONL file (blank lines are skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Instruction file not found: {path}",
                        hint="Build one with `emotune instruct build --out FILE.jsonl`.")
    keep = set(parse_tasks(tasks)) if tasks is not None else None
    rows: list[dict] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}, line {lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: not valid JSON ({exc.msg})") from None
            validate_row(row, where)
            if row["id"] in seen:
                raise DataError(f"{where}: field 'id' {row['id']!r} repeats line {seen[row['id']]}")
            seen[row["id"]] = lineno
            if keep is None or row["task"] in keep:
                rows.append(row)
    if not rows:
        raise DataError(f"{path}: no instruction rows" + (f" for tasks {sorted(keep)}" if keep else ""))
    return rows


def summarize(rows: Sequence[dict]) -> dict[str, dict]:
    """Rows and answer counts per task (what `emotune instruct build` prints)."""
    out: dict[str, dict] = {}
    for row in rows:
        entry = out.setdefault(row["task"], {"rows": 0, "answers": {}})
        entry["rows"] += 1
        if not TASKS[row["task"]].is_regression:  # a checklist counts each of its yes/no answers
            checklist = parse_checklist(row["output"]) if row["task"] == "ec" else None
            for answer in (["yes" if v else "no" for v in checklist.values()] if checklist else [row["output"]]):
                entry["answers"][answer] = entry["answers"].get(answer, 0) + 1
    for name, entry in out.items():
        if TASKS[name].is_regression:
            vals = [float(r["output"]) for r in rows if r["task"] == name]
            entry["mean"] = round(float(np.mean(vals)), 4) if vals else None
    return out
