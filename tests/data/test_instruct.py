"""Instruction rows from SemEval-2018: deterministic, consistently formatted, strictly validated."""

import json

import pytest

from emotune.data.dataset import EmotionDataset
from emotune.data.instruct import (
    EC_EMOTIONS, FIELDS, TASK_NAMES, build_instruction_dataset, format_number, parse_number, parse_tasks,
    read_instructions, rows_from_dataset, task_for_label_set, task_label_set, write_instructions,
)
from emotune.errors import DataError

TWEETS = ["I love sunny days so much", "This traffic makes me furious", "Scared of the exam tomorrow",
          "Lost my keys again, great", "Best concert of my life!!", "Nothing to say today"]


def fake_loader(name, data_root=None):
    """Tiny stand-ins with the loaders' label sets and columns, three splits each."""
    rows = []
    for split in ("train", "dev", "test"):
        for i, text in enumerate(TWEETS):
            rows.append((split, f"{split}-{i}", f"{text} ({split})", i))
    texts = [r[2] for r in rows]
    ls = task_label_set({"semeval-ec": "ec", "semeval-ei-reg": "ei-reg", "semeval-ei-oc": "ei-oc",
                         "semeval-v-reg": "v-reg", "semeval-v-oc": "v-oc"}[name])
    if name == "semeval-ec":
        labels = [[EC_EMOTIONS[i % 11], EC_EMOTIONS[(i * 3) % 11]] if i % 5 else [] for *_, i in rows]
    elif name in ("semeval-ei-oc", "semeval-v-oc"):
        labels = [ls.names[i % len(ls)] for *_, i in rows]
    else:
        labels = [(i * 0.1731) % 1 for *_, i in rows]
    ds = EmotionDataset.from_texts(texts, labels, ls, name=name)
    ds.frame["split"] = [r[0] for r in rows]
    ds.frame["tweet_id"] = [r[1] for r in rows]
    if name in ("semeval-ei-reg", "semeval-ei-oc"):
        ds.frame["emotion"] = [("anger", "fear", "joy", "sadness")[i % 4] for *_, i in rows]
    return ds


def build(**kw):
    return build_instruction_dataset(kw.pop("tasks", None), kw.pop("split", "train"), kw.pop("seed", 0),
                                     loader=fake_loader, **kw)


def test_rows_have_exactly_the_documented_fields_and_unique_ids():
    rows = build()
    assert {r["task"] for r in rows} == set(TASK_NAMES)
    assert all(tuple(r) == FIELDS for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    assert {r["split"] for r in rows} == {"train"}
    # E-c is asked emotion by emotion: 11 yes/no rows per tweet
    ec = [r for r in rows if r["task"] == "ec"]
    assert len(ec) == 11 * len(TWEETS) and {r["output"] for r in ec} == {"yes", "no"}
    assert all(r["label_set"] == ["no", "yes"] for r in ec)


def test_answer_formats():
    rows = build()
    for r in rows:
        if r["task"] in ("ei-reg", "v-reg"):
            assert r["label_set"] is None
            whole, dot, frac = r["output"].partition(".")
            assert dot == "." and len(frac) == 3 and whole in ("0", "1"), r["output"]
        elif r["task"] == "ei-oc":
            assert r["output"] in ("0", "1", "2", "3") and r["label_set"] == ["0", "1", "2", "3"]
            assert "moderate amount of" in r["instruction"]  # the class meanings are spelled out
        elif r["task"] == "v-oc":
            assert r["output"] in r["label_set"] == ["-3", "-2", "-1", "0", "1", "2", "3"]
    ei = [r for r in rows if r["task"] == "ei-reg"]
    assert all(r["id"].endswith(":" + e) and e in r["instruction"] for r in ei
               for e in [r["id"].rsplit(":", 1)[1]])
    assert format_number(0.5) == "0.500" and format_number(1) == "1.000" and format_number(0.0004) == "0.000"


def test_build_is_deterministic_and_seeded():
    a, b = build(seed=3), build(seed=3)
    assert a == b
    c = build(seed=4)
    assert [r["instruction"] for r in a] != [r["instruction"] for r in c]
    assert [r["output"] for r in a] == [r["output"] for r in c]  # the seed picks wordings, never answers
    # one task's rows do not depend on which other tasks were built
    only = build(seed=3, tasks="v-oc")
    assert only == [r for r in a if r["task"] == "v-oc"]


def test_templates_per_task_and_samples():
    one = build(templates_per_task=1, tasks="ec")
    assert len({r["instruction"].replace(r["id"].rsplit(":", 1)[1], "{e}") for r in one}) == 1
    three = build(templates_per_task=3, tasks="ec")
    assert len({r["instruction"].replace(r["id"].rsplit(":", 1)[1], "{e}") for r in three}) > 1
    sample = build(max_per_task=2, tasks="ec,v-reg")
    assert len({r["source_id"] for r in sample if r["task"] == "ec"}) == 2
    assert sum(r["task"] == "ec" for r in sample) == 22  # every question of a kept tweet is kept


def test_emotion_prefix_is_stripped_from_the_input():
    ds = fake_loader("semeval-ei-reg").split("train")
    frame = ds.frame.copy()
    frame["text"] = [f"{e}: {t}" for e, t in zip(frame["emotion"], frame["text"])]
    rows = rows_from_dataset(ds.with_frame(frame), "ei-reg")
    assert all(not r["input"].startswith(("anger: ", "fear: ", "joy: ", "sadness: ")) for r in rows)


@pytest.mark.parametrize("text, value", [
    ("0.5", 0.5), (" 0.532\n", 0.532), ("1.000", 1.0), ("0", 0.0), (".25", 0.25), ("1", 1.0),
    ("0.5.", None), ("about 0.5", None), ("0.5 (moderate)", None), ("1.7", None), ("-0.1", None),
    ("", None), ("nan", None), ("inf", None), ("00000000", None), ("0,5", None), ("yes", None),
])
def test_parse_number_is_strict(text, value):
    assert parse_number(text) == value


def test_tasks_and_label_sets():
    assert parse_tasks(None) == list(TASK_NAMES) == parse_tasks("all")
    assert parse_tasks("v-oc, ec,ec") == ["v-oc", "ec"]
    assert parse_tasks(["semeval-ei-reg"]) == ["ei-reg"]
    with pytest.raises(DataError, match="Did you mean 'ec'"):
        parse_tasks("ecc")
    for name in TASK_NAMES:
        assert task_for_label_set(task_label_set(name)) == name


def test_write_read_roundtrip(tmp_path):
    rows = build()
    path = tmp_path / "aaid.jsonl"
    assert write_instructions(rows, path) == len(rows)
    assert read_instructions(path) == rows
    assert read_instructions(path, tasks="v-reg") == [r for r in rows if r["task"] == "v-reg"]


def _bad_file(tmp_path, mutate, line=2):
    rows = build(tasks="v-oc,ei-reg")
    path = tmp_path / "bad.jsonl"
    write_instructions(rows, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[line - 1] = mutate(json.loads(lines[line - 1]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("mutate, message", [
    (lambda r: json.dumps({**r, "task": "sentiment"}), "line 2: field 'task' has unknown task 'sentiment'"),
    (lambda r: json.dumps({k: v for k, v in r.items() if k != "output"}), "line 2: missing field 'output'"),
    (lambda r: json.dumps({k: v for k, v in r.items() if k != "label_set"}), "line 2: missing field 'label_set'"),
    (lambda r: json.dumps({**r, "output": "9"}), "line 2: field 'output' '9' is not in label_set"),
    (lambda r: json.dumps({**r, "instruction": ""}), "line 2: field 'instruction' must be a non-empty string"),
    (lambda r: "{not json", "line 2: not valid JSON"),
    (lambda r: json.dumps([1, 2]), "line 2: expected a JSON object"),
])
def test_bad_files_name_line_and_field(tmp_path, mutate, message):
    with pytest.raises(DataError) as exc:
        read_instructions(_bad_file(tmp_path, mutate))
    assert message in str(exc.value) and "bad.jsonl" in str(exc.value)


def test_bad_regression_answer_and_duplicate_ids(tmp_path):
    rows = build(tasks="v-reg")
    path = tmp_path / "x.jsonl"
    write_instructions([rows[0], {**rows[1], "output": "about 0.5"}], path)
    with pytest.raises(DataError, match=r"line 2: field 'output' 'about 0.5' is not a number in \[0.0, 1.0\]"):
        read_instructions(path)
    write_instructions([rows[0], {**rows[1], "id": rows[0]["id"]}], path)
    with pytest.raises(DataError, match="line 2: field 'id' .* repeats line 1"):
        read_instructions(path)
    with pytest.raises(DataError, match="not found"):
        read_instructions(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no instruction rows"):
        read_instructions(tmp_path / "empty.jsonl")


def test_a_trained_models_own_wordings_can_replace_the_templates():
    ds = fake_loader("semeval-ei-oc").split("train")
    rows = rows_from_dataset(ds, "ei-oc", templates=["{emotion} class? {meaning}"], templates_per_task=3)
    assert {r["instruction"].split(" class?")[0] for r in rows} == {"anger", "fear", "joy", "sadness"}
    assert all("moderate amount of" in r["instruction"] for r in rows)


def test_ec_as_one_checklist_row_per_tweet(tmp_path):
    from emotune.data.instruct import checklist_answer, parse_checklist, summarize

    ds = fake_loader("semeval-ec").split("train")
    rows = rows_from_dataset(ds, "ec", split="train", ec_format="checklist")
    assert len(rows) == len(ds)  # one row a tweet, not 11
    for row, labels in zip(rows, ds.frame["labels"]):
        answers = parse_checklist(row["output"])
        assert list(answers) == list(EC_EMOTIONS)  # every emotion, in order
        assert {e for e, v in answers.items() if v} == set(labels)
        assert all(e in row["instruction"] for e in EC_EMOTIONS) and row["label_set"] == ["no", "yes"]
    assert rows[0]["output"].splitlines()[0] in ("anger: yes", "anger: no")
    # the file round trip validates a checklist answer; a malformed one names its line and field
    path = tmp_path / "ec.jsonl"
    write_instructions(rows, path)
    assert read_instructions(path) == rows
    bad = checklist_answer(["joy"]).replace("joy: yes", "joy: maybe")
    assert parse_checklist(bad) is None and parse_checklist("anger: yes") is None
    write_instructions([rows[0], {**rows[1], "output": bad}], path)
    with pytest.raises(DataError, match="line 2: field 'output' .* is not in label_set"):
        read_instructions(path)
    counts = summarize(rows)["ec"]
    assert counts["rows"] == len(ds) and sum(counts["answers"].values()) == 11 * len(ds)
    assert counts["answers"]["yes"] == sum(len(set(x)) for x in ds.frame["labels"])
    with pytest.raises(DataError, match="Unknown E-c format"):
        rows_from_dataset(ds, "ec", ec_format="list")
