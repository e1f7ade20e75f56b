import csv
import json

import pytest

from emotune.errors import DataError
from emotune.runs import Run
from emotune.inference.predict import OutputFile, predict_file, predict_texts, read_output
from emotune.config import ContextConfig

TEXTS = ["I passed my exam and I am so happy", "My dog died last week and I cried",
         "He lied to me again and I was furious", "I heard footsteps behind me in the dark street"]
EXPECTED = ["joy", "sadness", "anger", "fear"]


@pytest.fixture(scope="module")
def clf(tfidf_run):
    return Run.open(tfidf_run).load()


def _write_csv(path, n, text_col="text"):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", text_col, "note"])
        for i in range(n):
            # quoted newlines and commas: a torn CSV row is not just a torn line
            w.writerow([i, TEXTS[i % 4] + (",\nand more" if i % 5 == 0 else ""), f"n{i}"])
    return path


def test_predict_texts_top_k_and_decision(clf):
    preds = predict_texts(clf, TEXTS, top_k=2)
    assert [p.labels for p in preds] == [[e] for e in EXPECTED]
    assert all(len(p.scores) == 2 and p.scores[0][1] >= p.scores[1][1] for p in preds)
    assert predict_texts(clf, []) == []
    # the cleaning the training data got: entities, odd whitespace
    a, b = predict_texts(clf, ["I passed my exam &amp; I am so happy", "I passed my exam & I am   so happy"])
    assert a.scores == b.scores


def test_csv_file_keeps_columns_and_rows(clf, tmp_path):
    src = _write_csv(tmp_path / "in.csv", 23)
    result = predict_file(clf, src, tmp_path / "out.csv", chunk_size=5)
    rows = read_output(tmp_path / "out.csv")
    assert result.total == result.written == 23 and result.skipped == 0
    assert [r["id"] for r in rows] == [str(i) for i in range(23)]
    assert rows[0]["note"] == "n0" and rows[0]["text"].endswith(",\nand more")
    assert [r["predicted"] for r in rows[:4]] == EXPECTED
    assert {"prob_joy", "prob_sadness", "prob_anger", "prob_fear", "windows"} <= set(rows[0])
    assert abs(sum(float(rows[0][f"prob_{e}"]) for e in EXPECTED) - 1) < 1e-4


@pytest.mark.parametrize("out_name", ["out.csv", "out.jsonl"])
def test_resume_after_an_interruption_repairs_the_torn_row(clf, tmp_path, out_name):
    src = _write_csv(tmp_path / "in.csv", 40)
    out = tmp_path / out_name
    full = tmp_path / ("full" + out.suffix)
    predict_file(clf, src, full, chunk_size=7)
    data = full.read_bytes()
    # simulate a crash in the middle of a write: keep a prefix that ends inside a row
    cut = data.index(b"furious", len(data) // 2) + 3
    out.write_bytes(data[:cut])
    header = None if out.suffix == ".jsonl" else next(csv.reader([data.decode().split("\n")[0]]))
    skipped, _ = OutputFile(out, header).existing_rows()
    assert 0 < skipped < 40
    out.write_bytes(data[:cut])  # existing_rows repaired the file; put the torn prefix back

    result = predict_file(clf, src, out, chunk_size=7)
    assert result.skipped == skipped and result.skipped + result.written == 40
    assert out.read_bytes() == data  # identical to an uninterrupted run: nothing lost, nothing doubled
    again = predict_file(clf, src, out)
    assert again.written == 0 and again.skipped == 40


def test_resume_refuses_another_input_or_other_options(clf, tmp_path):
    src = _write_csv(tmp_path / "in.csv", 10)
    out = tmp_path / "out.csv"
    predict_file(clf, src, out)
    with pytest.raises(DataError, match="other columns"):
        predict_file(clf, src, out, top_k=2)
    other = tmp_path / "other.csv"
    with open(other, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "note"])
        w.writerows([[i, f"completely different {i}", ""] for i in range(20)])
    with pytest.raises(DataError, match="does not continue"):
        predict_file(clf, other, out)
    assert predict_file(clf, other, out, overwrite=True).written == 20


def test_missing_text_column_names_the_column_and_the_available_ones(clf, tmp_path):
    src = _write_csv(tmp_path / "in.csv", 3, text_col="sentence")
    with pytest.raises(DataError) as e:
        predict_file(clf, src, tmp_path / "out.csv")
    assert "'text'" in e.value.message and "id, sentence, note" in e.value.message
    assert not (tmp_path / "out.csv").exists()
    assert predict_file(clf, src, tmp_path / "out.csv", text_col="sentence").written == 3


def test_plain_text_and_jsonl_inputs(clf, tmp_path):
    txt = tmp_path / "in.txt"
    txt.write_text("\n".join(TEXTS) + "\n\n", encoding="utf-8")
    predict_file(clf, txt, tmp_path / "out.jsonl", top_k=1)
    rows = read_output(tmp_path / "out.jsonl")
    assert [r["predicted"] for r in rows] == EXPECTED and all(len(r["scores"]) == 1 for r in rows)

    jl = tmp_path / "in.jsonl"
    jl.write_text("".join(json.dumps({"id": i, "body": t, "meta": {"k": i}}) + "\n" for i, t in enumerate(TEXTS)))
    predict_file(clf, jl, tmp_path / "out2.csv", text_col="body", top_k=2)
    rows = read_output(tmp_path / "out2.csv")
    assert [r["top1_label"] for r in rows] == EXPECTED and json.loads(rows[1]["meta"]) == {"k": 1}
    with pytest.raises(DataError, match="no 'text' field"):
        predict_file(clf, jl, tmp_path / "out3.jsonl")


def test_empty_texts_keep_their_row(clf, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("text\nI passed my exam\n\"\"\nMy dog died\n", encoding="utf-8")
    predict_file(clf, src, tmp_path / "out.csv")
    rows = read_output(tmp_path / "out.csv")
    assert [r["predicted"] for r in rows] == ["joy", "", "sadness"]


def test_dialogue_jsonl_gets_the_preceding_turns(tmp_path):
    class Recorder:
        from emotune.data.labels import LabelSet

        label_set = LabelSet(("joy", "anger"))
        task = label_set.task
        max_length = tokenizer = None  # no length limit (the protocol's default)
        seen: list[str] = []

        def predict_proba(self, texts, batch_size=None):
            import numpy as np

            self.seen.extend(texts)
            return np.tile([0.7, 0.3], (len(texts), 1))

        def decide(self, scores):
            return ["joy"] * len(scores)

    turns = [("d1", 0, "A", "Hi there."), ("d1", 1, "B", "Hello!"), ("d2", 0, "A", "Go away."),
             ("d1", 2, "A", "How are you?"), ("d2", 1, "B", "Fine, I will.")]
    src = tmp_path / "dialogues.jsonl"
    src.write_text("".join(json.dumps({"dialogue_id": d, "turn": t, "speaker": s, "text": x}) + "\n"
                           for d, t, s, x in turns))
    clf = Recorder()
    cfg = ContextConfig(window=2)
    result = predict_file(clf, src, tmp_path / "out.jsonl", context=cfg, chunk_size=2)
    assert result.context and result.written == 5
    assert clf.seen[0] == ">> A: Hi there."
    assert clf.seen[3] == "A: Hi there. </s> B: Hello! </s> >> A: How are you?"  # across a chunk boundary
    assert clf.seen[4] == "A: Go away. </s> >> B: Fine, I will."  # never another dialogue's turns
    rows = read_output(tmp_path / "out.jsonl")
    assert [r["text"] for r in rows] == [t[3] for t in turns]  # the output keeps the bare turn

    # resuming rebuilds the context from the rows it skips
    out = tmp_path / "out.jsonl"
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:4]))
    clf.seen.clear()
    again = predict_file(clf, src, out, context=cfg)
    assert again.skipped == 4 and clf.seen == ["A: Go away. </s> >> B: Fine, I will."]


@pytest.mark.parametrize("broken, message", [
    ({"speaker": None}, r"dialogues\.jsonl, row 3: no 'speaker' value"),
    ({"turn": ""}, r"dialogues\.jsonl, row 3: no 'turn' value"),
    ({"dialogue_id": None}, r"dialogues\.jsonl, row 3: no 'dialogue_id' value"),
    ({"turn": "two"}, r"row 3: 'turn' must be a number, not 'two'"),
    ({"turn": 1}, r"row 3: dialogue 'd1' turn 1 comes after its turn 1 \(row 2\)"),
])
def test_dialogue_rows_without_a_turn_or_speaker_are_named(tmp_path, broken, message):
    src = tmp_path / "dialogues.jsonl"
    rows = [{"dialogue_id": "d1", "turn": t, "speaker": s, "text": x}
            for t, s, x in ((0, "A", "Hi."), (1, "B", "Hello!"), (2, "A", "How are you?"), (3, "B", "Fine."))]
    rows[2].update(broken)
    src.write_text("".join(json.dumps({k: v for k, v in r.items() if v is not None}) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    with pytest.raises(DataError, match=message):
        predict_file(_Const(), src, out, context=ContextConfig(window=2), chunk_size=2)
    assert not out.exists()  # never a half output under the output's name
    assert len(read_output(tmp_path / ".out.jsonl.partial")) == 2  # the chunk before the bad row is kept: a rerun resumes


def test_dialogue_with_skipped_turn_numbers_is_labelled_and_reported(tmp_path):
    src = tmp_path / "dialogues.jsonl"
    src.write_text("".join(json.dumps({"dialogue_id": d, "turn": t, "speaker": "A", "text": f"turn {t}"}) + "\n"
                           for d, t in (("d1", 0), ("d1", 1), ("d1", 4), ("d2", 0), ("d2", 2))))
    result = predict_file(_Const(), src, tmp_path / "out.jsonl", context=ContextConfig(window=2))
    assert result.written == 5
    assert result.gaps == ["dialogue 'd1': turn(s) 2-3 missing before row 3",
                           "dialogue 'd2': turn(s) 1 missing before row 5"]


class _Const:
    from emotune.data.labels import LabelSet

    label_set = LabelSet(("joy", "anger"))
    task = label_set.task
    max_length = tokenizer = None  # no length limit (the protocol's default)

    def predict_proba(self, texts, batch_size=None):
        import numpy as np

        return np.tile([0.7, 0.3], (len(texts), 1))

    def decide(self, scores):
        return ["joy"] * len(scores)


def test_regression_runs_report_values_in_target_order(tmp_path):
    import numpy as np

    from emotune.data.labels import LabelSet, Task
    from emotune.models.base import EmotionClassifier

    class Valence(EmotionClassifier):
        backend = "fake-vad"

        def fit(self, *a, **k):
            return []

        def predict_proba(self, texts, batch_size=None):
            return np.array([[0.8 if "happy" in t else -0.5, 0.1] for t in texts])

        def _save(self, path):
            return {}

        @classmethod
        def _load(cls, path, meta):
            raise NotImplementedError

    clf = Valence(LabelSet(("V", "A"), Task.REGRESSION))
    [pred] = predict_texts(clf, ["so happy"], top_k=1)
    assert pred.labels == [] and pred.scores == [("V", 0.8), ("A", 0.1)]  # all targets, never top-k'd
    src = tmp_path / "in.txt"
    src.write_text("so happy\nso sad\n")
    predict_file(clf, src, tmp_path / "out.csv")
    rows = read_output(tmp_path / "out.csv")
    assert list(rows[0]) == ["text", "value_V", "value_A", "windows"] and rows[1]["value_V"] == "-0.5"


# -- hostile input files: the strict reader training uses ------------------------------------------
@pytest.mark.parametrize("body, where", [
    ('text,id\n"I passed my exam,1\nMy dog died,2\n', "line 3"),  # unterminated quote swallows the rest
    ("text,id\nI passed my exam,1,extra\n", "line 2: 3 fields but the header has 2"),
    ("text,id\nI passed my exam,1\nMy dog died\n", "line 3: 1 fields but the header has 2"),
])
def test_a_ragged_csv_is_refused_naming_file_and_line(clf, tmp_path, body, where):
    src = tmp_path / "ragged.csv"
    src.write_text(body, encoding="utf-8")
    with pytest.raises(DataError, match=where) as exc:
        predict_file(clf, src, tmp_path / "out.csv")
    assert "ragged.csv" in str(exc.value)
    assert not (tmp_path / "out.csv").exists()


def test_non_utf8_input_is_a_message_with_its_line(clf, tmp_path):
    src = tmp_path / "latin.csv"
    src.write_bytes("text\nfine\ncaf\u00e9 au lait\n".encode("cp1252"))
    with pytest.raises(DataError, match=r"latin.csv: not valid UTF-8 \(byte 0xe9 on line 3, column 4\)"):
        predict_file(clf, src, tmp_path / "out.csv")
    txt = tmp_path / "latin.txt"
    txt.write_bytes(b"fine\n\xff\xfeU\x00T\x00F\x00")
    with pytest.raises(DataError, match="line 2"):
        predict_file(clf, txt, tmp_path / "out.jsonl")


def test_a_header_only_file_is_refused(clf, tmp_path):
    src = tmp_path / "header_only.csv"
    src.write_text("id,text\n", encoding="utf-8")
    with pytest.raises(DataError, match="header_only.csv has no rows to label \\(only a header\\)"):
        predict_file(clf, src, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="has no rows to label"):
        predict_file(clf, empty, tmp_path / "out.jsonl")


def test_blank_texts_are_counted_not_labelled(clf, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "I passed my exam"}\n{"text": "  "}\n{"text": null}\n{"text": "My dog died"}\n')
    res = predict_file(clf, src, tmp_path / "out.jsonl")
    assert res.blank_rows == [2, 3] and res.labelled == 2 and res.to_dict()["blank_rows"] == 2


def test_nul_bytes_never_reach_the_output(clf, tmp_path):
    # refused, not stripped: NUL in a text file means a binary or UTF-16 file, which no stripping reads right
    for name, body in (("n.csv", b"text\nab\x00c\nok\n"), ("n.jsonl", b'{"text": "ok"}\n{"text": "a\\u0000b"}\n'),
                       ("n.txt", b"ok\na\x00b\n")):
        src = tmp_path / name
        src.write_bytes(body)
        with pytest.raises(DataError, match=r"line 2 contains a NUL byte"):
            predict_file(clf, src, tmp_path / "out.jsonl")
        assert not (tmp_path / "out.jsonl").exists()


def test_a_bad_input_with_overwrite_keeps_the_previous_output(clf, tmp_path):
    good, out = tmp_path / "in.csv", tmp_path / "out.csv"
    good.write_text("text\nI passed my exam\n", encoding="utf-8")
    predict_file(clf, good, out)
    before = out.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("text\nfine\n" * 3 + '"unclosed\n', encoding="utf-8")
    with pytest.raises(DataError, match="bad.csv, line"):
        predict_file(clf, bad, out, overwrite=True)
    assert out.read_bytes() == before


def test_parquet_input_is_streamed_like_a_csv(clf, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = _write_csv(tmp_path / "in.csv", 30)
    rows = read_output(src)
    # small row groups: the reader goes batch by batch
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet", row_group_size=7)
    predict_file(clf, src, tmp_path / "from_csv.csv", chunk_size=4)
    result = predict_file(clf, tmp_path / "in.parquet", tmp_path / "from_parquet.csv", chunk_size=4)
    assert result.total == 30
    assert (tmp_path / "from_parquet.csv").read_bytes() == (tmp_path / "from_csv.csv").read_bytes()
    with pytest.raises(DataError, match="no column 'body'"):
        predict_file(clf, tmp_path / "in.parquet", tmp_path / "x.csv", text_col="body")
