"""`emotune data list | show | audit` through emotune.cli.main.main, as a user would call them."""

import json

import pytest

from emotune.cli.main import main
from emotune.paths import data_dir

needs_data = pytest.mark.skipif(not data_dir(must_exist=False).is_dir(), reason="datasets not available")


def run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@needs_data
def test_list(capsys):
    code, out, err = run(["data", "list"], capsys)
    assert code == 0, err
    for name in ("isear", "goemotions", "semeval-ei-reg", "emobank", "43,410 / 5,426 / 5,427", "Apache-2.0"):
        assert name in out


@needs_data
def test_show_counts_and_samples(capsys):
    code, out, err = run(["data", "show", "isear", "-n", "3"], capsys)
    assert code == 0, err
    assert "7,666 rows" in out and "1,096" in out and "3 sample row(s)" in out
    code, out, _ = run(["data", "show", "semeval-ei-reg", "-o", "emotion=joy", "--split", "dev", "-n", "1"], capsys)
    assert code == 0 and "290" in out


@needs_data
def test_audit_with_json(capsys, tmp_path):
    target = tmp_path / "audit.json"
    code, out, err = run(["data", "audit", "dair-emotion", "--json", str(target)], capsys)
    assert code == 0, err
    assert "texts across splits after emotune's split: 0" in out
    assert "conflicting" in out and "Class balance" in out
    report = json.loads(target.read_text())
    assert report["exact_duplicates"]["train"] == 31
    assert sum(report["after_split"]["normalised_across"].values()) == 0


def test_user_file(capsys, tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("sentence,emo\n" + "".join(f"text {i},{'joy' if i % 2 else 'anger'}\n" for i in range(40)))
    code, out, err = run(["data", "show", str(p), "--text-col", "sentence", "--label-col", "emo"], capsys)
    assert code == 0, err
    assert "40 rows" in out
    code, out, err = run(["data", "audit", str(p), "--text-col", "sentence", "--label-col", "emo"], capsys)
    assert code == 0, err
    assert "texts across splits after emotune's split: 0" in out


@pytest.mark.parametrize("argv, message", [
    (["data", "show", "goemotion"], "Did you mean 'goemotions'"),
    (["data", "audit", "nope.csv"], "Data file not found"),
    (["data", "show", "isear", "-o", "emotion=anger"], "no option 'emotion'"),
])
def test_errors_are_one_line_without_traceback(capsys, argv, message):
    code, out, err = run(argv, capsys)
    assert code != 0
    assert message in err
    assert "Traceback" not in out + err


def test_bad_user_file_names_line(capsys, tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("text,label\nok,joy\ntoo,many,fields\n")
    code, out, err = run(["data", "show", str(p)], capsys)
    assert code != 0 and "bad.csv, line 3" in err and "Traceback" not in err
    q = tmp_path / "cols.csv"
    q.write_text("text,label\nok,joy\n")
    code, out, err = run(["data", "show", str(q), "--label-col", "labl"], capsys)
    assert code != 0 and "no column 'labl'" in err and "Did you mean 'label'" in err
