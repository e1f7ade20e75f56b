import json

import pytest

from emotune.cli.main import main
from emotune.config import RunConfig
from emotune.training.trainer import train
from tests.fixtures.toy import CONFIGS, RUN_MULTI as MULTI, make_run


def _run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out, out.err


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli-runs") / "isear-tfidf-small"
    cfg = RunConfig.load(CONFIGS / "isear-tfidf.yaml",
                         ["data.max_train=300", "data.max_eval=100", "model.max_features=20000"])
    train(cfg, run, progress=False)
    return run


def test_evaluate_prints_the_report_and_writes_json(real_run, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    code, stdout, err = _run(["evaluate", str(real_run), "--split", "test", "--out", str(out), "--resamples", "100"],
                             capsys)
    assert code == 0, err
    for needle in ("precision", "macro avg", "shame", "95% CI", "ECE"):
        assert needle in stdout
    assert json.loads(out.read_text())["n"] == 100


def test_evaluate_errors_are_one_line(real_run, capsys, tmp_path):
    code, _, err = _run(["evaluate", str(real_run), "--dataset", "goemotions", "--split", "nope"], capsys)
    assert code == 2 and "Unknown split 'nope'" in err and "Traceback" not in err
    code, _, err = _run(["evaluate", str(real_run), "--split", "valid"], capsys)
    assert code == 2 and "Unknown split 'valid'" in err
    code, _, err = _run(["evaluate", str(tmp_path / "missing")], capsys)
    assert code == 2 and "Run directory not found" in err


def test_evaluate_on_a_dataset_sharing_some_labels(real_run, capsys):
    code, out, err = _run(["evaluate", str(real_run), "--dataset", "dailydialog", "--resamples", "50"], capsys)
    assert code == 0, err
    assert "happiness -> joy" in out and "rows whose gold label the run does not know" in out
    assert "guilt" not in out.split("note:")[0]  # the table holds the shared labels only


def test_compare_command(tmp_path, capsys):
    a = make_run(tmp_path, "a", skill=0.4)
    b = make_run(tmp_path, "b", skill=0.7, backend="encoder")
    out = tmp_path / "cmp"
    code, stdout, err = _run(["compare", str(a), str(b), "--out", str(out), "--resamples", "50"], capsys)
    assert code == 0, err
    assert "Report written" in stdout and (out / "index.html").is_file()
    code, _, err = _run(["compare", str(a), str(b), "--out", str(out)], capsys)
    assert code == 2 and "--overwrite" in err
    code, _, err = _run(["compare", str(a), str(b), "--out", str(out), "--overwrite", "--resamples", "50"], capsys)
    assert code == 0
    c = make_run(tmp_path, "c", MULTI)
    code, _, err = _run(["compare", str(a), str(c), "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "different label sets" in err
    code, _, err = _run(["compare", "--out", str(tmp_path / "y")], capsys)
    assert code == 2 and "Missing argument" in err


def test_benchmark_command_errors_and_dry_run(capsys, tmp_path):
    code, _, err = _run(["benchmark", "isaer"], capsys)
    assert code == 2 and "Did you mean 'isear'?" in err
    code, _, err = _run(["benchmark", "isear", "--models", "tfidf,nope"], capsys)
    assert code == 2 and "no model 'nope'" in err
    code, stdout, _ = _run(["benchmark", "goemotions", "--dry-run", "--out", str(tmp_path)], capsys)
    assert code == 0 and "goemotions-minilm-s4" in stdout and "10,000" in stdout
    assert "then an ensemble of the best 3 by dev" in " ".join(stdout.split()) and "cross-validation" not in stdout
    # the dry run says what follows the runs it lists, and only that
    code, stdout, _ = _run(["benchmark", "isear", "--dry-run", "--models", "tfidf", "--no-cv", "--out", str(tmp_path)],
                           capsys)
    assert code == 0 and "isear-tfidf" in stdout and "then" not in stdout.splitlines()[0]
    code, stdout, _ = _run(["benchmark", "isear", "--dry-run", "--out", str(tmp_path)], capsys)
    assert code == 0 and "5-fold cross-validation of the best" in " ".join(stdout.split())
    # a results file --publish would merge into, but cannot read: named before any training starts
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "isear.json").write_text("[1, 2]")
    code, _, err = _run(["benchmark", "isear", "--models", "tfidf", "--publish", str(tmp_path / "pub"),
                         "--out", str(tmp_path / "never")], capsys)
    assert code == 2 and "isear.json: not a suite results file" in " ".join(err.split())
    assert not (tmp_path / "never").exists() and (tmp_path / "pub" / "isear.json").read_text() == "[1, 2]"


def test_benchmark_report_can_leave_out_its_explanations(capsys, tmp_path):
    code, _, err = _run(["benchmark", "isear", "--quick", "--models", "tfidf", "--jobs", "1", "--no-cv",
                         "--explain-texts", "0", "--resamples", "50", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    html = (tmp_path / "report" / "index.html").read_text()
    assert "tfidf" in html and "Words that drive each emotion" not in html
    code, _, err = _run(["benchmark", "isear", "--quick", "--models", "tfidf", "--explain-texts", "-1"], capsys)
    assert code == 2 and "--explain-texts" in err
