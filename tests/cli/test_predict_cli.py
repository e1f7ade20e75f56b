"""`emotune predict`: a table for texts, a resumable labelled file for many."""

import csv
import json

import pytest

from emotune.cli.main import main
from tests.fixtures.serving import tfidf_run  # noqa: F401  (session fixture shared with tests/serving)

TEXTS = ["I passed my exam and I am so happy", "My dog died last week and I cried",
         "He lied to me again and I was furious", "I heard footsteps behind me in the dark street"]


def _run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out, out.err


def test_a_text_prints_the_top_emotions(tfidf_run, capsys):  # noqa: F811
    code, out, err = _run(["predict", str(tfidf_run), TEXTS[0], "--top-k", "2"], capsys)
    assert code == 0, err
    assert "joy" in out and "probability" in out
    assert "fear" not in out.split("probability", 1)[1]  # only the best two rows
    code, out, _ = _run(["predict", str(tfidf_run), TEXTS[1], TEXTS[2], "--json"], capsys)
    rows = json.loads(out)
    assert [r["labels"] for r in rows] == [["sadness"], ["anger"]] and len(rows[0]["scores"]) == 4


def test_a_file_is_labelled_and_an_interrupted_run_resumes(tfidf_run, tmp_path, capsys):  # noqa: F811
    src = tmp_path / "in.csv"
    with open(src, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text"])
        w.writerows([i, TEXTS[i % 4]] for i in range(30))
    out = tmp_path / "out.csv"
    code, stdout, err = _run(["predict", str(tfidf_run), "--input", str(src), "--output", str(out),
                              "--chunk-size", "8"], capsys)
    assert code == 0, err
    assert "30 rows labelled" in stdout
    complete = out.read_text()

    # an interrupted run: 11 complete rows and half of the 12th
    lines = complete.splitlines(keepends=True)
    out.write_text("".join(lines[:12]) + lines[12][:9])
    code, stdout, err = _run(["predict", str(tfidf_run), "-i", str(src), "-o", str(out), "--chunk-size", "8"], capsys)
    assert code == 0, err
    assert "Resuming: 11 of 30" in err and "11 from an earlier run" in stdout
    assert out.read_text() == complete


def test_missing_column_and_usage_errors_are_one_line(tfidf_run, tmp_path, capsys):  # noqa: F811
    src = tmp_path / "in.csv"
    src.write_text("id,sentence\n1,I passed\n", encoding="utf-8")
    code, _, err = _run(["predict", str(tfidf_run), "-i", str(src), "-o", str(tmp_path / "o.csv")], capsys)
    assert code == 2 and "no column 'text'" in err and "id, sentence" in err and "Traceback" not in err
    code, _, err = _run(["predict", str(tfidf_run)], capsys)
    assert code == 2 and "Nothing to classify" in err
    code, _, err = _run(["predict", str(tmp_path / "no-run"), "hello"], capsys)
    assert code == 2 and "not found" in err and "Traceback" not in err
    code, _, err = _run(["predict", str(tfidf_run), "hello", "--onnx"], capsys)
    assert code == 2 and "encoder runs only" in err
    code, _, err = _run(["predict", str(tfidf_run), "hello", "  "], capsys)
    assert code == 2 and "Text 2 of 2 is empty" in err and "Traceback" not in err


def test_a_header_only_file_fails_and_blank_rows_are_warned(tfidf_run, tmp_path, capsys):  # noqa: F811
    src = tmp_path / "header_only.csv"
    src.write_text("id,text\n")
    code, _, err = _run(["predict", str(tfidf_run), "-i", str(src), "-o", str(tmp_path / "o.csv")], capsys)
    assert code != 0 and "has no rows to label" in err and "Traceback" not in err
    src.write_text(f"id,text\n1,{TEXTS[0]}\n2,\n3,{TEXTS[1]}\n")
    code, out, err = _run(["predict", str(tfidf_run), "-i", str(src), "-o", str(tmp_path / "o.csv")], capsys)
    assert code == 0 and "2 rows labelled" in out
    assert "1 row(s) of" in err and "empty text" in err and "data row 2" in err
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"text\n\xe9t\xe9\n")
    code, _, err = _run(["predict", str(tfidf_run), "-i", str(bad), "-o", str(tmp_path / "b.csv")], capsys)
    assert code != 0 and "not valid UTF-8" in err and "UnicodeDecodeError" not in err


def test_an_unwritable_output_is_one_message(tfidf_run, tmp_path, capsys):  # noqa: F811
    # run as root, chmod does not stop writes: the output's folder is a file instead (ENOTDIR/EEXIST,
    # the same OSError path as EACCES)
    src = tmp_path / "in.csv"
    src.write_text(f"text\n{TEXTS[0]}\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for cmd in (["predict", str(tfidf_run)], ["annotate", str(tfidf_run)]):
        code, _, err = _run(cmd + ["-i", str(src), "-o", str(blocker / "out.csv")], capsys)
        assert code != 0 and "Cannot write" in err and "a-file/out.csv" in err and "Traceback" not in err
    code, _, err = _run(["annotate", str(tfidf_run), "-i", str(src), "-o", str(tmp_path / "ok.csv"),
                         "--review", str(blocker / "review.csv")], capsys)
    assert code != 0 and "Cannot write" in err and "review.csv" in err
