"""User files: every format, every way to give labels, and a clear message for every bad input."""

import json

import pandas as pd
import pytest

from emotune.data.labels import Task
from emotune.data.registry import load_dataset
from emotune.data.pipeline import prepare_data
from emotune.errors import DataError
from emotune.config import DataConfig


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_single_label_and_defaults(tmp_path):
    p = _write(tmp_path / "d.csv", 'text,label,source\nI am happy,joy,a\n"Bad, bad day",anger,b\nOh no,fear,c\n')
    ds = load_dataset(str(p))
    assert ds.task == Task.SINGLE and ds.label_set.names == ("anger", "fear", "joy")
    assert ds.texts == ["I am happy", "Bad, bad day", "Oh no"]
    assert ds.frame["source"].tolist() == ["a", "b", "c"]  # extra columns are metadata
    assert ds.info["user_file"]


def test_tsv_jsonl_json_parquet(tmp_path):
    tsv = _write(tmp_path / "d.tsv", "sentence\temotion\nhi\tjoy\nbye\tsadness\n")
    assert load_dataset(str(tsv)).labels == ["joy", "sadness"]
    jl = _write(tmp_path / "d.jsonl", '{"text": "hi", "label": "joy"}\n\n{"text": "yo", "label": "anger"}\n')
    assert load_dataset(str(jl)).texts == ["hi", "yo"]
    js = _write(tmp_path / "d.json", json.dumps([{"text": "a", "label": "x"}, {"text": "b", "label": "y"}]))
    assert len(load_dataset(str(js))) == 2
    pq = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a", "b"], "v": [0.5, 1.5]}).to_parquet(pq)
    reg = load_dataset(str(pq), target_cols=["v"])
    assert reg.task == Task.REGRESSION and reg.y().ravel().tolist() == [0.5, 1.5]


def test_label_lists_in_every_spelling(tmp_path):
    p = _write(tmp_path / "m.csv", 'text,labels\na,"[""joy"", ""anger""]"\nb,"[\'joy\']"\nc,"joy,love"\nd,\ne,fear\n')
    ds = load_dataset(str(p))
    assert ds.task == Task.MULTI
    assert ds.labels == [["joy", "anger"], ["joy"], ["joy", "love"], [], ["fear"]]


def test_label_cols_and_target_cols(tmp_path):
    p = _write(tmp_path / "w.csv", "text,joy,anger,v,a\nx,1,0,0.1,2\ny,1,1,0.2,3\nz,0,0,0.3,4\n")
    multi = load_dataset(str(p), label_cols=["joy", "anger"])
    assert multi.labels == [["joy"], ["joy", "anger"], []]
    reg = load_dataset(str(p), target_cols=["v", "a"])
    assert reg.label_set.names == ("v", "a") and reg.y().tolist() == [[0.1, 2], [0.2, 3], [0.3, 4]]


def test_split_column_with_aliases(tmp_path):
    p = _write(tmp_path / "s.csv", "text,label,part\na,x,train\nb,y,valid\nc,x,TEST\n")
    ds = load_dataset(str(p), split_col="part")
    assert ds.frame["split"].tolist() == ["train", "dev", "test"]
    bad = _write(tmp_path / "s2.csv", "text,label,part\na,x,train\nb,y,holdout\n")
    with pytest.raises(DataError, match="line 3: split value 'holdout'"):
        load_dataset(str(bad), split_col="part")


def test_given_label_set_and_integer_ids(tmp_path):
    p = _write(tmp_path / "i.csv", "text,label\na,0\nb,2\n")
    ds = load_dataset(str(p), labels=["joy", "anger", "fear"])
    assert ds.labels == ["joy", "fear"] and ds.label_set.names == ("joy", "anger", "fear")
    q = _write(tmp_path / "u.csv", "text,label\na,joy\nb,angr\n")
    with pytest.raises(DataError, match="line 3: unknown label 'angr'") as exc:
        load_dataset(str(q), labels=["joy", "anger"])
    assert "Did you mean 'anger'" in str(exc.value)


def test_empty_text_rows_dropped_with_note(tmp_path):
    p = _write(tmp_path / "e.csv", "text,label\na,x\n,y\n   ,x\nb,y\n")
    ds = load_dataset(str(p))
    assert ds.texts == ["a", "b"]
    assert "lines 3, 4" in ds.info["notes"][0]
    allempty = _write(tmp_path / "ae.csv", "text,label\n,x\n ,y\n")
    with pytest.raises(DataError, match="empty in every row"):
        load_dataset(str(allempty))


def test_ragged_csv_names_file_and_line(tmp_path):
    p = _write(tmp_path / "r.csv", "text,label\nfine,joy\nnot, quoted,anger\n")
    with pytest.raises(DataError) as exc:
        load_dataset(str(p))
    assert "r.csv, line 3: 3 fields but the header has 2" in str(exc.value)


def test_bad_quoting_and_nul_bytes(tmp_path):
    p = _write(tmp_path / "q.csv", 'text,label\n"unclosed quote,joy\n')
    with pytest.raises(DataError, match="q.csv"):
        load_dataset(str(p))
    n = tmp_path / "n.csv"
    n.write_bytes(b"text,label\nab\x00c,joy\n")
    with pytest.raises(DataError, match="line 2 contains a NUL byte"):
        load_dataset(str(n))


def test_wrong_encoding_suggests_utf8(tmp_path):
    p = _write(tmp_path / "l.csv", "text,label\ncaf\u00e9 au lait,joy\n", encoding="cp1252")
    with pytest.raises(DataError) as exc:
        load_dataset(str(p))
    msg = str(exc.value)
    assert "l.csv: not valid UTF-8" in msg and "line 2" in msg and "UTF-8" in exc.value.hint


def test_missing_column_lists_available_and_suggests(tmp_path):
    p = _write(tmp_path / "c.csv", "sentence,emotion\na,joy\n")
    with pytest.raises(DataError) as exc:
        load_dataset(str(p), text_col="sentense", label_col="emotion")
    assert "no column 'sentense'" in str(exc.value) and "sentence, emotion" in str(exc.value)
    assert "Did you mean 'sentence'" in str(exc.value)
    q = _write(tmp_path / "c2.csv", "body,tag\na,joy\n")
    with pytest.raises(DataError, match="no text column found"):
        load_dataset(str(q))


def test_non_numeric_target_names_row_and_column(tmp_path):
    p = _write(tmp_path / "t.jsonl", '{"text": "a", "v": 1}\n{"text": "b", "v": "high"}\n')
    with pytest.raises(DataError, match="t.jsonl, line 2: column 'v' has a non-numeric value 'high'"):
        load_dataset(str(p), target_cols=["v"])
    q = _write(tmp_path / "b.csv", "text,joy\na,1\nb,maybe\n")
    with pytest.raises(DataError, match="line 3: column 'joy' must be 0 or 1"):
        load_dataset(str(q), label_cols=["joy"])


def test_bad_json_line(tmp_path):
    p = _write(tmp_path / "j.jsonl", '{"text": "a", "label": "x"}\n{"text": "b", label: y}\n')
    with pytest.raises(DataError, match="j.jsonl, line 2: not valid JSON"):
        load_dataset(str(p))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="Data file not found: .*nope.csv"):
        load_dataset(str(tmp_path / "nope.csv"))


def test_user_file_through_prepare_data(tmp_path):
    rows = ["text,label"] + [f"sentence number {i},{'joy' if i % 3 else 'anger'}" for i in range(60)]
    rows += ["[ No response.],joy", "sentence number 1,anger"]  # placeholder + conflicting duplicate
    p = _write(tmp_path / "u.csv", "\n".join(rows) + "\n")
    d = prepare_data(DataConfig(dataset=str(p)))
    assert len(d.train) + len(d.dev) + len(d.test) == 59
    joined = "\n".join(d.notes["steps"])
    assert "placeholder" in joined and "conflicting labels" in joined


def test_dialogue_user_file_grouped_by_dialogue(tmp_path):
    rows = ["dialogue_id,turn,speaker,text,label"]
    for d in range(20):
        for t in range(4):
            rows.append(f"d{d},{t},{'AB'[t % 2]},utterance {d}-{t},{'joy' if (d + t) % 2 else 'neutral'}")
    p = _write(tmp_path / "dlg.csv", "\n".join(rows) + "\n")
    d = prepare_data(DataConfig(dataset=str(p), context={"window": 2}))
    per_dialogue = d.full.frame.groupby("dialogue_id")["split"].nunique()
    assert (per_dialogue == 1).all()
    t3 = d.train.frame[d.train.frame["turn"] == 3].iloc[0]
    assert t3["text"].count(" </s> ") == 2 and t3["text"].split(" </s> ")[-1].startswith(">> B: ")


def test_dialogue_file_missing_columns(tmp_path):
    body = "".join(f"d{d},{t},text {d} {t},{'joy' if t else 'anger'}\n" for d in range(10) for t in range(2))
    p = _write(tmp_path / "nospk.csv", "dialogue_id,turn,text,label\n" + body)
    with pytest.raises(DataError, match="needs a 'speaker' column"):
        prepare_data(DataConfig(dataset=str(p), context={"window": 1}))
    assert len(prepare_data(DataConfig(dataset=str(p), context={"window": 1, "speaker": False})).full) == 20
    q = _write(tmp_path / "noturn.csv", "dialogue_id,speaker,text,label\nd1,A,hi,joy\nd1,B,yo,anger\n")
    assert len(load_dataset(str(q))) == 2  # fine without context
    with pytest.raises(DataError, match="needs a 'turn' column"):
        prepare_data(DataConfig(dataset=str(q), context={"window": 1}))
    r = _write(tmp_path / "blank.csv", "dialogue_id,turn,speaker,text,label\nd1,0,A,hi,joy\nd1,,B,yo,anger\n")
    with pytest.raises(DataError, match="blank.csv, line 3: column 'turn' is empty"):
        load_dataset(str(r))
    s = _write(tmp_path / "blankspk.csv", "dialogue_id,turn,speaker,text,label,split\n"
               "d1,0,A,hi,joy,train\nd1,1,,yo,anger,train\nd2,0,A,ok,joy,test\nd2,1,B,no,anger,test\n")
    with pytest.raises(DataError, match="line 3 has no 'speaker' value"):
        prepare_data(DataConfig(dataset=str(s), split_col="split", context={"window": 1}))


def test_a_long_single_text_is_read(tmp_path):
    # a whole document in one field: over csv's default 128 KiB limit, valid CSV all the same
    long = "I was so happy that day. " * 80_000  # 2 MB
    p = _write(tmp_path / "long.csv", f'text,label\n"{long}",joy\nshort one,sadness\n')
    ds = load_dataset(str(p))
    assert len(ds) == 2 and max(len(t) for t in ds.frame["text_original"]) > 1_900_000


def test_iter_parquet_streams_batches_and_refuses_nul_and_non_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from emotune.data.files import iter_parquet, parquet_columns

    texts = [f"text {i}" for i in range(25)]
    pq.write_table(pa.table({"text": texts, "n": list(range(25))}), tmp_path / "a.parquet", row_group_size=10)
    assert parquet_columns(tmp_path / "a.parquet") == ["text", "n"]
    rows = list(iter_parquet(tmp_path / "a.parquet", batch_rows=4))
    assert [r for r, _ in rows] == list(range(1, 26)) and rows[-1][1] == {"text": "text 24", "n": 24}
    pq.write_table(pa.table({"text": ["ok", "bad \x00"]}), tmp_path / "nul.parquet")
    with pytest.raises(DataError, match=r"nul\.parquet, row 2 contains a NUL byte"):
        list(iter_parquet(tmp_path / "nul.parquet"))
    (tmp_path / "fake.parquet").write_text("text\nhello\n")
    with pytest.raises(DataError, match="cannot be read as Parquet"):
        parquet_columns(tmp_path / "fake.parquet")
