"""`emotune instruct build|check|evaluate`, an instruct run trained through `emotune train`, `emotune annotate`."""

import json

import pytest
import yaml

from emotune.cli.main import main
from emotune.data.dataset import EmotionDataset
from emotune.data.instruct import read_instructions, task_label_set
from tests.fixtures import toy
from tests.models.test_instruct import LABELS, SHORT, TEXTS
from tests.tiny_models import build_tiny


def _run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in argv])
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out, out.err


def test_build_on_semeval_and_check(tmp_path, capsys):
    out = tmp_path / "aaid.jsonl"
    code, stdout, err = _run(["instruct", "build", "--out", out, "--tasks", "v-oc,ei-reg", "--max-per-task", 3,
                              "--seed", 1], capsys)
    assert code == 0, err
    rows = read_instructions(out)
    assert [r["task"] for r in rows] == ["v-oc"] * 3 + ["ei-reg"] * 3
    assert all(r["split"] == "train" and r["source_id"].startswith("2017-En-") for r in rows)
    assert "6 rows" in stdout
    code, again, _ = _run(["instruct", "build", "--out", tmp_path / "b.jsonl", "--tasks", "v-oc,ei-reg",
                           "--max-per-task", 3, "--seed", 1], capsys)
    assert (tmp_path / "b.jsonl").read_bytes() == out.read_bytes()  # same seed, same file
    code, stdout, _ = _run(["instruct", "check", out], capsys)
    assert code == 0 and "6 valid rows" in stdout
    # E-c as one checklist row a tweet (real SemEval-2018 E-c train)
    code, stdout, err = _run(["instruct", "build", "--out", tmp_path / "ec.jsonl", "--tasks", "ec",
                              "--max-per-task", 4, "--ec-format", "checklist"], capsys)
    assert code == 0, err
    rows = read_instructions(tmp_path / "ec.jsonl")
    assert len(rows) == 4 and all(r["output"].count("\n") == 10 for r in rows)


def test_bad_inputs_give_one_clear_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "task": "ec"}\n', encoding="utf-8")
    code, _, err = _run(["instruct", "check", bad], capsys)
    assert code == 2 and "line 1: missing field 'instruction'" in err and "Traceback" not in err
    code, _, err = _run(["instruct", "build", "--out", tmp_path / "x.jsonl", "--tasks", "e-c"], capsys)
    assert code == 2 and "Unknown instruction task 'e-c'" in err
    code, _, err = _run(["instruct", "build", "--out", tmp_path / "x.jsonl", "--split", "validation"], capsys)
    assert code == 2 and "--split" in err
    code, _, err = _run(["instruct", "build", "--out", tmp_path / "x.jsonl", "--ec-format", "list"], capsys)
    assert code == 2 and "Unknown E-c format 'list'" in err and "Traceback" not in err
    code, _, err = _run(["instruct", "evaluate", tmp_path / "nope"], capsys)
    assert code == 2 and "not found" in err


@pytest.fixture(scope="module")
def instruct_run(tmp_path_factory):
    """A tiny-Llama instruct run trained by `emotune train` on toy E-c data (standing in for semeval-ec)."""
    root = tmp_path_factory.mktemp("instruct")
    base = build_tiny("llama", root / "llama")
    ls = task_label_set("ec")

    def part(split, n):
        ds = EmotionDataset.from_texts([f"{t} ({split} {i})" for i in range(n) for t in TEXTS], LABELS * n, ls,
                                       name="semeval-ec", split=split)
        ds.frame["tweet_id"] = [f"{split}-{i}" for i in range(len(ds))]
        return ds

    config = {"name": "tiny-instruct", "description": "tiny", "output_dir": str(root / "runs"),
              "data": {"dataset": "semeval-ec"},
              "model": {"backend": "instruct", "name": str(base), "lora": {"r": 4, "alpha": 8},
                        "instruct": {"template": 0}},
              "training": {"epochs": 1, "batch_size": 32, "eval_batch_size": 32, "learning_rate": 1e-2,
                           "max_length": 160, "threads": 2, "early_stopping_patience": 0}}
    path = root / "tiny-instruct.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    mp = pytest.MonkeyPatch()
    # short prompts for the tiny model (saved with the run, so reloading uses them too)
    from emotune.models import instruct as backend

    real_init = backend.InstructClassifier.__init__

    def init(self, *a, **kw):
        real_init(self, *a, **kw)
        self.templates = {k: list(v) for k, v in SHORT.items()}

    mp.setattr(backend.InstructClassifier, "__init__", init)
    try:
        with toy.standing_in("semeval-ec", part("train", 1), part("dev", 1), part("test", 1)), \
                pytest.raises(SystemExit) as e:
            main(["train", str(path)])
            raise SystemExit(0)
        assert (e.value.code or 0) == 0
    finally:
        mp.undo()
    return root / "runs" / "tiny-instruct"


def test_train_writes_a_finished_instruct_run(instruct_run):
    metrics = json.loads((instruct_run / "metrics.json").read_text())
    assert metrics["backend"] == "instruct" and "f1_macro" in metrics["test"]
    meta = json.loads((instruct_run / "model" / "emotune_model.json").read_text())
    assert meta["instruct"]["task"] == "ec" and meta["instruct"]["templates"]["ec"] == SHORT["ec"]
    assert len(metrics["thresholds"]) == 11  # multi-label thresholds tuned on dev, as for every backend


def test_evaluate_task_by_task_on_semeval(instruct_run, capsys, tmp_path):
    out = tmp_path / "eval.json"
    code, stdout, err = _run(["instruct", "evaluate", instruct_run, "--tasks", "v-oc,ei-reg", "--max-rows", 4,
                              "--out", out], capsys)
    assert code == 0, err
    result = json.loads(out.read_text())
    assert set(result["tasks"]) == {"v-oc", "ei-reg"}
    ei = result["tasks"]["ei-reg"]
    assert ei["n"] == 4 and ei["invalid"] + 0 >= 0 and "metrics_as_served" in ei
    assert "pearson_mean_over_emotions" in ei
    assert "v-oc" in stdout and "worst case" in stdout


def test_annotate_with_an_instruct_view(instruct_run, tmp_path, capsys):
    src = tmp_path / "texts.txt"
    src.write_text("I am so happy today\nThey cheated again\n\nA big dog ran at me\n", encoding="utf-8")
    out, review = tmp_path / "out.jsonl", tmp_path / "review.csv"
    code, stdout, err = _run(["annotate", instruct_run, f"{instruct_run}#v-reg", f"{instruct_run}#ei-oc:fear",
                              "--input", src, "--output", out, "--review", review, "--json"], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3  # the blank line of a text file is not a row
    ids = ["tiny-instruct", "tiny-instruct#v-reg", "tiny-instruct#ei-oc:fear"]
    assert all(f"{ids[0]}:labels" in r and f"{ids[1]}:valid" in r and f"{ids[2]}:label" in r for r in rows)
    summary = json.loads(stdout)
    assert summary["rows"] == 3 and set(summary["runs"]) == set(ids)
    assert review.is_file()
    code, _, err = _run(["annotate", instruct_run, "--input", src, "--output", out], capsys)
    assert code == 2 and "written by other runs" in err


def test_annotate_cli_resumes_and_reports(tmp_path, capsys):
    from emotune.models.tfidf import TfidfClassifier
    from tests.fixtures import toy

    ds = toy.single(10)
    clf = TfidfClassifier(ds.label_set)
    clf.fit(ds)
    clf.save_pretrained(tmp_path / "emo" / "model")
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(toy.single(2, 5).texts)),
                   encoding="utf-8")
    out = tmp_path / "out.csv"
    code, stdout, err = _run(["annotate", tmp_path / "emo", "-i", src, "-o", out, "--review", tmp_path / "r.jsonl",
                              "--threshold", "0.99"], capsys)
    assert code == 0, err
    assert "14 rows annotated" in stdout and "rows are unsure" in stdout and "unsure rows written" in stdout
    code, stdout, err = _run(["annotate", tmp_path / "emo", "-i", src, "-o", out], capsys)
    assert code == 0 and "14 rows annotated" in stdout and "14 from an earlier run" in stdout
    code, _, err = _run(["annotate", tmp_path / "emo", "-i", src, "-o", out, "--text-col", "body"], capsys)
    assert code == 2 and "no 'body' field" in err and "Traceback" not in err
