"""`emotune explain`: a coloured line and a table for texts, a resumable file of explanations for many."""

import csv
import json

import pytest

from emotune.cli.main import main
from emotune.inference.predict import read_output

TEXTS = ["I passed my exam and I am so happy", "My dog died last week and I cried",
         "He lied to me again and I was furious", "I heard footsteps behind me in the dark street"]


def _run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out, out.err


def test_a_text_prints_its_words_and_json_has_the_contract(tfidf_run, capsys):
    code, out, err = _run(["explain", str(tfidf_run), TEXTS[0], "--top", "3"], capsys)
    assert code == 0, err
    assert "joy" in out and "(linear)" in out and "happy" in out and "score" in out
    code, out, err = _run(["explain", str(tfidf_run), TEXTS[2], "--json", "--method", "occlusion",
                           "--label", "fear"], capsys)
    assert code == 0, err
    [row] = json.loads(out)
    assert row["label"] == "fear" and row["method"] == "occlusion"
    assert [w["word"] for w in row["words"]] == TEXTS[2].split()


@pytest.mark.parametrize("argv, message", [
    (["--label", "hunger"], "'hunger' is not a label"),
    (["--method", "integrated-gradients"], "cannot be explained with 'integrated-gradients'"),
    (["--method", "shap"], "Unknown method 'shap'"),
])
def test_bad_options_give_one_message_and_a_non_zero_exit(tfidf_run, capsys, argv, message):
    code, out, err = _run(["explain", str(tfidf_run), TEXTS[0], *argv], capsys)
    assert code != 0 and message in err and "Traceback" not in err + out


def test_a_file_is_explained_and_an_interrupted_run_resumes(tfidf_run, tmp_path, capsys):
    src = tmp_path / "in.csv"
    with open(src, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text"])
        w.writerows([i, TEXTS[i % 4] if i != 5 else ""] for i in range(12))
    out = tmp_path / "out.csv"
    code, stdout, err = _run(["explain", str(tfidf_run), "--input", str(src), "--output", str(out),
                              "--chunk-size", "4"], capsys)
    assert code == 0, err
    rows = read_output(out)
    assert len(rows) == 12 and rows[5]["explained_label"] == "" and rows[0]["explained_label"] == "joy"
    words = json.loads(rows[1]["words"])
    assert [w["word"] for w in words] == TEXTS[1].split()
    full = out.read_text()
    # an interruption after the first chunk: the rerun writes the rest, ending with the same file
    out.write_text("".join(full.splitlines(keepends=True)[:5]) + '8,"He lied')
    code, stdout, err = _run(["explain", str(tfidf_run), "--input", str(src), "--output", str(out),
                              "--chunk-size", "4"], capsys)
    assert code == 0, err
    assert "Resuming: 4 of 12" in err and out.read_text() == full


def test_jsonl_output_keeps_the_words_as_a_list(tfidf_run, tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n")
    out = tmp_path / "out.jsonl"
    code, _, err = _run(["explain", str(tfidf_run), "-i", str(src), "-o", str(out), "--method", "occlusion"], capsys)
    assert code == 0, err
    rows = read_output(out)
    assert [r["method"] for r in rows] == ["occlusion"] * 4 and isinstance(rows[3]["words"], list)


def test_nothing_to_explain_is_an_error(tfidf_run, capsys):
    code, _, err = _run(["explain", str(tfidf_run)], capsys)
    assert code != 0 and "Nothing to explain" in err
