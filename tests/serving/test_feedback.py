import csv
import sqlite3
import threading

import pytest

from emotune.errors import DataError
from emotune.serving.feedback import FeedbackStore, export_feedback

PRED = {"labels": ["joy"], "scores": [{"label": "joy", "score": 0.8}, {"label": "fear", "score": 0.1}]}


def test_rows_are_durable_and_concurrent_writers_are_safe(tmp_path):
    db = tmp_path / "fb.sqlite"
    store = FeedbackStore(db)
    threads = [threading.Thread(target=lambda i=i: store.add(model_id="m", text=f"t{i}", predicted=PRED,
                                                             verdict="up")) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 20
    with sqlite3.connect(db) as conn:  # another process's view
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cols = [r[1] for r in conn.execute("PRAGMA table_info(feedback)")]
    assert cols == ["id", "created_at", "model_id", "text", "predicted", "verdict", "correct_label"]
    with pytest.raises(ValueError):
        store.add(model_id="m", text="x", predicted=PRED, verdict="meh")


def test_export_keeps_corrections_and_thumbs_up_only(tmp_path):
    db = tmp_path / "fb.sqlite"
    store = FeedbackStore(db)
    store.add(model_id="a", text="I passed, but I was scared", predicted=PRED, verdict="down", correct_label="fear")
    store.add(model_id="a", text="I passed my exam", predicted=PRED, verdict="up")
    store.add(model_id="a", text="No idea what this is", predicted=PRED, verdict="down")  # says only "not joy"
    store.add(model_id="b", text="He lied, I was furious", predicted=PRED, correct_label="anger")
    out = tmp_path / "fb.csv"
    assert export_feedback(db, out) == 3
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [{"text": "I passed, but I was scared", "label": "fear"},
                    {"text": "I passed my exam", "label": "joy"},
                    {"text": "He lied, I was furious", "label": "anger"}]
    assert export_feedback(db, tmp_path / "b.csv", model_id="b") == 1
    with pytest.raises(DataError, match="not found"):
        export_feedback(tmp_path / "missing.sqlite", out)


def test_exported_csv_is_a_training_set(tmp_path):
    """`emotune train` reads the export as a user dataset (data.dataset: FILE, text_col/label_col)."""
    files = pytest.importorskip("emotune.data.files")
    db = tmp_path / "fb.sqlite"
    store = FeedbackStore(db)
    for i in range(6):
        store.add(model_id="a", text=f"I passed my exam number {i}", predicted=PRED, verdict="up")
        store.add(model_id="a", text=f"He lied to me again, time {i}", predicted=PRED, correct_label="anger")
    out = tmp_path / "fb.csv"
    export_feedback(db, out)
    ds = files.load_file(out, text_col="text", label_col="label")
    assert len(ds) == 12 and set(ds.label_set.names) == {"joy", "anger"}


def test_export_never_writes_to_its_input(tmp_path, capsys):
    from emotune.cli.main import main

    empty, text = tmp_path / "empty.sqlite", tmp_path / "notes.txt"
    empty.write_bytes(b"")
    text.write_text("not a database\n" * 20)
    for db, why in ((empty, "is empty, not a feedback database"), (text, "is not a feedback database")):
        before = db.read_bytes()
        with pytest.raises(DataError, match=why):
            export_feedback(db, tmp_path / "out.csv")
        assert db.read_bytes() == before and not (tmp_path / "out.csv").exists()
    other = tmp_path / "other.sqlite"  # a real SQLite file without the feedback table
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    before = other.read_bytes()
    with pytest.raises(DataError, match="is not a feedback database .*no such table"):
        export_feedback(other, tmp_path / "out.csv")
    assert other.read_bytes() == before

    db = tmp_path / "fb.sqlite"
    FeedbackStore(db).add(model_id="a", text="I passed my exam", predicted=PRED, verdict="up")
    before = db.read_bytes()
    with pytest.raises(SystemExit) as exc:
        main(["feedback", "export", "--db", str(db), "--out", str(tmp_path)])  # a folder
    err = capsys.readouterr().err
    assert exc.value.code != 0 and "is a folder" in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.tmp")) and db.read_bytes() == before
    main(["feedback", "export", "--db", str(db), "--out", str(tmp_path / "fb.csv")])
    out = capsys.readouterr().out
    assert "1 of 1 feedback rows" in out and db.read_bytes() == before
    # the command it prints is the README's own-file command, which trains any CSV (tests/cli/test_train_cli.py)
    assert f"emotune train isear-tfidf --set data.dataset={tmp_path / 'fb.csv'} --set data.text_col=text" in out
