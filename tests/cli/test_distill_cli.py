import pytest

from emotune.cli.main import main
from emotune.config import RunConfig
from emotune.training.teacher import read_teacher_file


def test_distill_teacher_writes_a_teacher_file(tmp_path, toy_data, capsys):
    cfg = tmp_path / "t.yaml"
    RunConfig(name="t", output_dir=str(tmp_path / "runs"), data={"dataset": "toy-single"},
              model={"backend": "tfidf"}).save(cfg)
    main(["distill", "teacher", str(cfg), "--folds", "2", "--out", str(tmp_path / "cli.jsonl")])
    teacher = read_teacher_file(tmp_path / "cli.jsonl")
    assert len(teacher) > 0 and teacher.provenance["folds"] == 2
    assert "2-fold out-of-fold probabilities of t" in capsys.readouterr().out


def test_distill_teacher_with_a_missing_config_fails_cleanly(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["distill", "teacher", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x.jsonl")])
    err = capsys.readouterr().err
    assert exc.value.code != 0 and "missing.yaml" in err and "Traceback" not in err


def test_distill_teacher_in_sample_from_a_finished_run(tmp_path, toy_data, capsys):
    from emotune.training.trainer import train

    run = train(RunConfig(name="t", output_dir=str(tmp_path / "runs"), data={"dataset": "toy-single"},
                          model={"backend": "tfidf"}), progress=False).run_dir
    main(["distill", "teacher", str(run), "--in-sample", "--out", str(tmp_path / "in.jsonl")])
    teacher = read_teacher_file(tmp_path / "in.jsonl")
    assert len(teacher) > 0 and teacher.provenance["in_sample"] is True
    assert "in-sample probabilities of t" in capsys.readouterr().out
    # --in-sample takes the runs' own data: a --data config is refused, not silently ignored
    with pytest.raises(SystemExit) as exc:
        main(["distill", "teacher", str(run), "--in-sample", "--data", str(tmp_path / "x.yaml"),
              "--out", str(tmp_path / "in2.jsonl")])
    err = capsys.readouterr().err
    assert exc.value.code != 0 and "--in-sample uses the runs' own data" in err and "Traceback" not in err
    assert not (tmp_path / "in2.jsonl").exists()
