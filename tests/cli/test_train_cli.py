import json
import subprocess
import sys
from pathlib import Path

import pytest
import pandas as pd

from emotune.cli.main import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out, out.err


@pytest.mark.parametrize("override, message", [
    ("training.epoch=2", "Did you mean 'training.epochs'?"),
    ("trainig.epochs=2", "Did you mean 'training'?"),
    ("model.lora.rank=4", "unknown key 'model.lora.rank'"),
])
def test_config_typos_name_the_closest_key(capsys, override, message):
    code, _, err = _run(["train", str(CONFIGS / "isear-tfidf.yaml"), "--set", override], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_missing_config_and_missing_quick_flags(capsys, tmp_path):
    code, _, err = _run(["train", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2 and "Config file not found" in err
    code, _, err = _run(["train"], capsys)
    assert code == 2 and "--dataset and --backend" in err


def test_train_then_refuse_then_overwrite(capsys, tmp_path, toy_data):
    run = tmp_path / "run"
    args = ["train", "--dataset", "toy-single", "--backend", "tfidf", "--run-dir", str(run)]
    code, out, _ = _run(args, capsys)
    assert code == 0 and "f1_macro" in out and "test" in out
    assert json.loads((run / "metrics.json").read_text())["name"] == "toy-single-tfidf"
    code, _, err = _run(args, capsys)
    assert code == 2 and "already holds a finished run" in err and "--overwrite" in err
    code, _, _ = _run(args + ["--overwrite"], capsys)
    assert code == 0


def test_cv_command(capsys, tmp_path, toy_data):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: c\ndata: {dataset: toy-single}\nmodel: {backend: tfidf}\n")
    code, out, _ = _run(["cv", str(cfg), "--folds", "2", "--run-dir", str(tmp_path / "cv")], capsys)
    assert code == 0 and "±" in out and (tmp_path / "cv" / "cv_summary.json").exists()
    # --jobs 2: the folds side by side in two pinned processes, the same summary
    code, out, _ = _run(["cv", str(cfg), "--folds", "2", "--run-dir", str(tmp_path / "cv2"), "--jobs", "2"], capsys)
    assert code == 0 and "cv2/fold_1" in out
    summary = [json.loads((tmp_path / d / "cv_summary.json").read_text()) for d in ("cv", "cv2")]
    assert summary[0]["mean"] == pytest.approx(summary[1]["mean"])
    code, _, err = _run(["cv", str(cfg), "--jobs", "0"], capsys)
    assert code == 2 and "--jobs" in err


def test_real_isear_tfidf_from_the_shell(tmp_path):
    """The real command on a 600-row ISEAR sample: exit 0 and scores printed (no monkeypatching)."""
    exe = Path(sys.executable).with_name("emotune")
    proc = subprocess.run([str(exe), "train", str(CONFIGS / "isear-tfidf.yaml"), "--set", "data.max_train=600",
                           "--run-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "f1_macro" in proc.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["sizes"]["train"] == 600 and 0.2 < metrics["test"]["f1_macro"] < 0.9
    assert "Train sampled to 600" in (tmp_path / "run" / "README.md").read_text()


def test_train_a_preset_by_name_from_any_folder(capsys, tmp_path, monkeypatch, toy_data):
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(["train", "isear-tfidf", "--set", "data.dataset=toy-single", "--run-dir", "run"], capsys)
    assert code == 0 and "f1_macro" in out
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["name"] == "isear-tfidf"
    code, _, err = _run(["train", "isear-tfidff"], capsys)
    assert code == 2 and "Did you mean 'isear-tfidf'?" in err


def test_presets_command_lists_the_packaged_presets(capsys):
    code, out, _ = _run(["presets"], capsys)
    assert code == 0
    for name in ("isear-minilm", "isear-tfidf", "goemotions-embed-head"):
        assert name in out


def test_the_readme_own_file_command_trains_any_csv(capsys, tmp_path, monkeypatch):
    """README: emotune train configs/isear-tfidf.yaml --set data.dataset=my.csv --set data.text_col=text ..."""
    from tests.fixtures import toy

    texts, labels = toy.toy_texts(12)
    my = tmp_path / "my.csv"
    pd.DataFrame({"text": texts, "emotion": labels}).to_csv(my, index=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(["train", "isear-tfidf", "--set", f"data.dataset={my}", "--set", "data.text_col=text",
                         "--set", "data.label_col=emotion", "--set", f"output_dir={tmp_path / 'runs'}"], capsys)
    assert code == 0, err
    assert (tmp_path / "runs" / "isear-tfidf" / "metrics.json").is_file()
    code, _, err = _run(["train", "isear-tfidf", "--set", f"data.dataset={my}", "--set", "data.label_col=emotion",
                         "--set", "data.split.group_by=writer", "--set", "name=other",
                         "--set", f"output_dir={tmp_path / 'runs'}"], capsys)
    assert code != 0 and "split.group_by column 'writer' not in dataset" in err
    assert "--set data.split.group_by=null" in err


def test_nproc_checks_the_config_before_handing_over_to_torchrun(capsys, monkeypatch):
    import os

    handed_over = []
    monkeypatch.setattr(os, "execv", lambda *a: handed_over.append(a))
    code, _, err = _run(["train", str(CONFIGS / "isear-tfidf.yaml"), "--set", "training.epoch=2", "--nproc", "2"],
                        capsys)
    assert code == 2 and "Did you mean 'training.epochs'?" in err and not handed_over


def test_nproc_inside_a_launcher_with_another_process_count_is_refused(capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    code, _, err = _run(["train", str(CONFIGS / "isear-tfidf.yaml"), "--nproc", "2"], capsys)
    assert code == 2 and "--nproc 2 inside a launcher that started 4 processes" in err


def test_nproc_hands_the_same_arguments_over_to_torchrun(capsys, monkeypatch, tmp_path):
    import os

    handed_over = []

    def fake_execv(path, argv):
        handed_over.append(argv)
        raise SystemExit(0)  # (the real one does not return)

    monkeypatch.setattr(os, "execv", fake_execv)
    code, out, _ = _run(["train", "isear-tfidf", "--set", "training.seed=3", "--run-dir", str(tmp_path / "r"),
                         "--overwrite", "--nproc", "3"], capsys)
    assert code == 0 and "Handing over to torchrun" in out
    (argv,) = handed_over
    assert argv[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=3"]
    assert argv[5:] == ["-m", "emotune", "train", "isear-tfidf", "--set", "training.seed=3", "--run-dir",
                        str(tmp_path / "r"), "--overwrite"]
