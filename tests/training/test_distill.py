"""Out-of-fold teacher files and students trained on them (tiny encoder; the real MiniLM once)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emotune import runs as rd
from emotune.config import RunConfig
from emotune.data.labels import Task
from emotune.data.pipeline import prepare_data
from emotune.errors import ConfigError, DataError
from emotune.models.hf.loss import distillation_loss, loss_fn
from emotune.training.distill import build_teacher_file
from emotune.training.teacher import (attach_teacher, read_teacher_file, row_key,
                                      write_teacher_file)
from emotune.training.trainer import train
from tests.fixtures.toy import toy_texts
from tests.tiny_models import build_tiny

TINY_TRAINING = dict(batch_size=16, eval_batch_size=32, learning_rate=5e-3, warmup_ratio=0.0, max_length=32,
                     threads=1, logging_steps=5, early_stopping_patience=0)


def _tfidf(tmp_path, name, dataset="toy-single", **model):
    return RunConfig(name=name, output_dir=str(tmp_path / "runs"), data={"dataset": dataset},
                     model={"backend": "tfidf", **model})


@pytest.fixture
def teacher_file(tmp_path, toy_data):
    """Two TF-IDF teachers, 3 folds of toy-single's train."""
    teachers = [_tfidf(tmp_path, "t-a"), _tfidf(tmp_path, "t-b", C=0.5)]
    return build_teacher_file(teachers, tmp_path / "teacher.jsonl", folds=3, progress=False)


def test_teacher_file_is_out_of_fold_on_train_only(tmp_path, teacher_file):
    data = prepare_data(RunConfig(data={"dataset": "toy-single"}).data)
    assert len(teacher_file) == len(data.train)
    assert set(teacher_file.probs) == {row_key(t) for t in data.train.texts}
    held = {row_key(t) for t in data.dev.texts + data.test.texts}
    assert not held & teacher_file.probs.keys()  # dev/test rows are never in it
    probs = np.stack(list(teacher_file.probs.values()))
    assert probs.shape[1] == len(data.label_set) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    prov = teacher_file.provenance
    assert prov["folds"] == 3 and [t["name"] for t in prov["teachers"]] == ["t-a", "t-b"]
    assert [t["seed"] for t in prov["teachers"]] == [42, 42] and prov["dataset"] == "toy-single"
    # every fold of every teacher: trained on train rows only, predicted the rest of train, no dev set
    for name in ("teacher0-t-a", "teacher1-t-b"):
        for i in range(3):
            sizes = rd.load_metrics(tmp_path / "teacher.teachers" / name / f"fold_{i}")["sizes"]
            assert sizes["dev"] == 0 and sizes["train"] + sizes["test"] == len(data.train)
    # the file holds the mean of the two teachers' held-out predictions
    first = rd.load_predictions(tmp_path / "teacher.teachers" / "teacher0-t-a" / "fold_0", "test")
    second = {row_key(t): p for i in range(3) for t, p in zip(
        *(lambda pr: (pr.texts, pr.scores))(rd.load_predictions(tmp_path / "teacher.teachers" / "teacher1-t-b" /
                                                                 f"fold_{i}", "test")))}
    text, p = first.texts[0], first.scores[0]
    np.testing.assert_allclose(teacher_file.probs[row_key(text)], (p + second[row_key(text)]) / 2, atol=1e-5)
    header = json.loads((tmp_path / "teacher.jsonl").read_text().splitlines()[0])
    assert header["format"] == "emotune-teacher/1" and header["labels"] == list(data.label_set.names)


def test_every_teachers_folds_train_in_one_parallel_pool(tmp_path, teacher_file, toy_data):
    """jobs=2: the six folds of two teachers (both have a fold_0) train on two pinned processes, to the same file."""
    teachers = [_tfidf(tmp_path, "t-a"), _tfidf(tmp_path, "t-b", C=0.5)]
    said = []
    parallel = build_teacher_file(teachers, tmp_path / "par.jsonl", folds=3, progress=False, jobs=2, say=said.append)
    assert sum("done in" in s for s in said) == 6
    assert parallel.probs.keys() == teacher_file.probs.keys()
    for key, p in teacher_file.probs.items():
        np.testing.assert_allclose(parallel.probs[key], p, atol=1e-6)


def test_the_teacher_files_fold_time_is_counted(tmp_path, toy_data):
    """A suite's 3-hour bound counts the teachers' folds: read from the work folder beside the file."""
    from emotune.training.distill import teacher_fit_seconds

    out = tmp_path / "teachers" / "suite-ensemble-oof.jsonl"
    build_teacher_file([_tfidf(tmp_path, "t-a"), _tfidf(tmp_path, "t-b", C=0.5)], out, folds=3, progress=False,
                       work_dir=out.parent / "work")
    folds = sorted((out.parent / "work").glob("teacher*/fold_*"))
    assert len(folds) == 6
    student = RunConfig(name="s", data={"dataset": "toy-single"}, training={"distill": {"teacher": str(out)}})
    expected = sum(rd.load_metrics(f)["fit_seconds"] for f in folds)  # TF-IDF folds: tenths of a second
    counted = teacher_fit_seconds([RunConfig(name="plain"), student])
    assert counted is not None and counted == pytest.approx(expected, abs=0.051)
    assert teacher_fit_seconds([RunConfig(name="plain")]) is None  # no student, no teacher file


def test_teacher_folds_respect_group_by(tmp_path):
    rows = [{"text": f"{w} feeling number {i}", "label": lab, "writer": f"w{(i // 3) % 6}"}
            for i, (w, lab) in enumerate([("happy", "joy"), ("sad", "sadness"), ("angry", "anger")] * 16)]
    path = tmp_path / "grouped.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = {"dataset": str(path), "split": {"group_by": "writer", "dev": 0.17, "test": 0.17}}
    cfg = RunConfig(name="g", output_dir=str(tmp_path / "runs"), data=data, model={"backend": "tfidf"})
    teacher = build_teacher_file([cfg], tmp_path / "g.jsonl", folds=2, progress=False)
    assert teacher.provenance["group_by"] == "writer"
    prepared = prepare_data(cfg.data)
    writer = {row_key(t): w for t, w in zip(prepared.train.texts, prepared.train.frame["writer"])}
    held = [{writer[row_key(t)] for t in rd.load_predictions(tmp_path / "g.teachers" / "teacher0-g" / f"fold_{i}",
                                                              "test").texts} for i in range(2)]
    assert held[0] and held[1] and not held[0] & held[1]  # a writer's rows are held out together
    assert held[0] | held[1] == set(prepared.train.frame["writer"])


def test_teacher_from_an_ensemble_run_uses_its_members(tmp_path, toy_data):
    a, b = train(_tfidf(tmp_path, "m-a"), progress=False), train(_tfidf(tmp_path, "m-b", C=1.0), progress=False)
    ens = RunConfig(name="ens", output_dir=str(tmp_path / "runs"), data={"dataset": "toy-single"},
                    model={"backend": "ensemble", "members": [str(a.run_dir), str(b.run_dir)]})
    ens_dir = train(ens, progress=False).run_dir
    teacher = build_teacher_file([ens_dir], tmp_path / "ens.jsonl", folds=2, progress=False)
    assert [t["name"] for t in teacher.provenance["teachers"]] == ["m-a", "m-b"]
    # each teacher's own cross-validation folder (the provenance once named the last teacher's for every one)
    assert [Path(t["work_dir"]).name for t in teacher.provenance["teachers"]] == ["teacher0-m-a", "teacher1-m-b"]
    assert all(Path(t["work_dir"]).is_dir() for t in teacher.provenance["teachers"])


def _student(tmp_path, name, teacher=None, alpha=0.5, model_dir=None, epochs=6, dataset="toy-single", **data):
    training = dict(TINY_TRAINING, epochs=epochs)
    if teacher is not None:
        training["distill"] = {"teacher": str(teacher), "alpha": alpha, "temperature": 2.0}
    return RunConfig(name=name, output_dir=str(tmp_path / "runs"), data={"dataset": dataset, **data},
                     model={"backend": "encoder", "name": str(model_dir)}, training=training)


def _kl_to_teacher(run_dir, teacher, texts) -> float:
    clf = rd.Run.open(run_dir).load()
    student = np.clip(clf.predict_proba(texts), 1e-8, 1)
    t = np.clip(np.stack([teacher.probs[row_key(x)] for x in texts]), 1e-8, 1)
    return float(np.mean(np.sum(t * (np.log(t) - np.log(student)), axis=1)))


def test_a_distilled_student_moves_toward_its_teacher(tmp_path):
    # the template sentences the tiny tokenizer was trained on (a tiny BERT learns them in a few epochs), and a
    # teacher that disagrees with the gold labels in a fixed way: joy -> sadness -> anger -> fear -> joy
    texts, labels = toy_texts(30)
    path = tmp_path / "templated.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "label": y}) for t, y in zip(texts, labels)) + "\n")
    # no dev set: both train a fixed number of epochs (an epoch chosen by dev would favour the plain student)
    cfg = _student(tmp_path, "plain", model_dir=build_tiny("bert", tmp_path / "tiny"), dataset=str(path), epochs=10,
                   split={"dev": 0.0, "test": 0.2})
    data = prepare_data(cfg.data)
    assert len(data.dev) == 0
    names = list(data.label_set.names)
    shifted = {"joy": "sadness", "sadness": "anger", "anger": "fear", "fear": "joy"}
    rows = [(t, [0.7 if n == shifted[labs[0]] else 0.1 for n in names])
            for t, labs in zip(data.train.texts, data.train.frame["labels"])]
    teacher = write_teacher_file(tmp_path / "t.jsonl", names, data.task, rows, {"teachers": [{"name": "shifted"}],
                                                                                "folds": 3})
    plain = train(cfg, progress=False)
    distilled = cfg.model_copy(update={"name": "student"}, deep=True)
    distilled.training.distill = {"teacher": str(teacher.path), "alpha": 0.2, "temperature": 2.0}
    student = train(distilled, progress=False)
    kl_plain, kl_student = (_kl_to_teacher(r.run_dir, teacher, data.train.texts) for r in (plain, student))
    assert kl_student < 0.8 * kl_plain, (kl_student, kl_plain)
    record = student.metrics["distillation"]
    assert record["teacher"] == str(teacher.path) and record["folds"] == 3 and record["alpha"] == 0.2
    assert record["sha256"] == teacher.summary()["sha256"] and record["rows"] == len(data.train)
    card = (student.run_dir / rd.CARD_FILE).read_text()
    assert "Distilled from the teacher file" in card and "3-fold out-of-fold" in card
    assert "distillation" not in plain.metrics


def test_missing_teacher_rows_are_one_clear_error(tmp_path, toy_data):
    small = build_teacher_file([_tfidf(tmp_path, "t")], tmp_path / "small.jsonl", folds=2, progress=False,
                               data_config=RunConfig(data={"dataset": "toy-single", "max_train": 40}).data)
    cfg = _student(tmp_path, "s", small.path, model_dir="unused")
    data = prepare_data(cfg.data)
    with pytest.raises(ConfigError, match=rf"{len(data.train) - 40} of {len(data.train)} train rows have no row"):
        attach_teacher(data, cfg)


def test_a_teacher_file_holding_dev_or_test_rows_is_refused(tmp_path, teacher_file):
    cfg = _student(tmp_path, "s", teacher_file.path, model_dir="unused")
    data = prepare_data(cfg.data)
    lines = teacher_file.path.read_text().splitlines()
    row = json.loads(lines[1])
    row["key"] = row_key(data.test.texts[0])
    leaky = tmp_path / "leaky.jsonl"
    leaky.write_text("\n".join(lines + [json.dumps(row)]) + "\n")
    cfg.training.distill.teacher = str(leaky)
    with pytest.raises(DataError, match="1 dev/test text"):
        attach_teacher(data, cfg)


def test_bad_teacher_files_name_the_file_and_line(tmp_path):
    with pytest.raises(ConfigError, match="Teacher file not found"):
        read_teacher_file(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"format": "emotune-teacher/1", "labels": ["joy", "anger"], "task": "single_label"})
                   + "\n" + json.dumps({"key": "k", "probs": {"joy": 1.0}}) + "\n")
    with pytest.raises(ConfigError, match=r"bad.jsonl, line 2: .*anger"):
        read_teacher_file(bad)
    bad.write_text("not json\n")
    with pytest.raises(ConfigError, match="line 1: not JSON"):
        read_teacher_file(bad)


def test_distillation_is_refused_where_it_cannot_apply(tmp_path, teacher_file):
    cfg = _tfidf(tmp_path, "x")
    cfg.training.distill = {"teacher": str(teacher_file.path)}
    with pytest.raises(ConfigError, match="encoder and causal-lm"):
        attach_teacher(prepare_data(cfg.data), cfg)
    with pytest.raises(ConfigError, match="alpha"):
        RunConfig.from_dict({"training": {"distill": {"teacher": "t.jsonl", "alpha": 1.5}}})
    with pytest.raises(ConfigError, match="tempreature"):
        RunConfig.from_dict({"training": {"distill": {"teacher": "t.jsonl", "tempreature": 2}}})


def test_distillation_loss():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    teacher = torch.softmax(torch.randn(6, 4), dim=-1)
    hard = loss_fn(Task.SINGLE, logits, labels)
    assert torch.allclose(distillation_loss(Task.SINGLE, logits, labels, teacher, alpha=1.0, temperature=2.0), hard)
    # a student that already matches its teacher pays nothing for the teacher's term
    same = distillation_loss(Task.SINGLE, torch.log(teacher), labels, teacher, alpha=0.0, temperature=3.0)
    assert float(same) == pytest.approx(0.0, abs=1e-5)
    far = distillation_loss(Task.SINGLE, logits, labels, teacher, alpha=0.0, temperature=3.0)
    assert float(far) > 0.01
    multi = torch.tensor([[0.9, 0.1, 0.5, 0.2]] * 6)
    got = distillation_loss(Task.MULTI, logits, (multi > 0.5).float(), multi, alpha=0.0, temperature=2.0)
    assert torch.allclose(got, torch.nn.functional.binary_cross_entropy_with_logits(logits, multi))


@pytest.mark.slow
def test_the_real_minilm_distils(tmp_path, teacher_file):
    cfg = _student(tmp_path, "minilm-student", teacher_file.path, model_dir="minilm", epochs=1, max_eval=16)
    cfg.training.learning_rate = 5e-5
    result = train(cfg, progress=False)
    assert result.metrics["distillation"]["rows"] == len(teacher_file)
    assert 0.0 <= result.metrics["test"]["f1_macro"] <= 1.0


def test_an_in_sample_teacher_file_holds_the_runs_own_train_probabilities(tmp_path, toy_data):
    from emotune.training.distill import build_in_sample_teacher_file

    a = train(_tfidf(tmp_path, "run-a"), progress=False).run_dir
    b = train(_tfidf(tmp_path, "run-b", C=0.5), progress=False).run_dir
    teacher = build_in_sample_teacher_file([a, b], tmp_path / "in-sample.jsonl")
    data = prepare_data(rd.load_config(a).data)
    assert len(teacher) == len(data.train) and teacher.provenance["in_sample"] is True
    assert teacher.provenance["folds"] == 0 and [t["name"] for t in teacher.provenance["teachers"]] == ["run-a", "run-b"]
    expected = (rd.Run.open(a).load().predict_proba(data.train.texts)
                + rd.Run.open(b).load().predict_proba(data.train.texts)) / 2
    got = np.stack([teacher.probs[row_key(t)] for t in data.train.texts])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # the file trains a student like an out-of-fold one
    attached, record = attach_teacher(data, _student(tmp_path, "s", teacher.path, model_dir="unused"))
    assert record["rows"] == len(data.train)


def test_in_sample_teachers_must_be_finished_runs_of_one_data(tmp_path, toy_data):
    from emotune.training.distill import build_in_sample_teacher_file

    a = train(_tfidf(tmp_path, "run-a"), progress=False).run_dir
    other = train(_tfidf(tmp_path, "run-c", dataset="toy-multi"), progress=False).run_dir
    with pytest.raises(ConfigError, match="trained on different data"):
        build_in_sample_teacher_file([a, other], tmp_path / "t.jsonl")
    half = tmp_path / "half"
    half.mkdir()
    with pytest.raises(ConfigError, match="not a finished run directory"):
        build_in_sample_teacher_file([half], tmp_path / "t.jsonl")
    assert not (tmp_path / "t.jsonl").exists()


def test_a_student_of_an_in_sample_teacher_says_so_in_its_card(tmp_path, toy_data):
    from emotune.training.distill import build_in_sample_teacher_file

    a = train(_tfidf(tmp_path, "run-a"), progress=False).run_dir
    teacher = build_in_sample_teacher_file([a], tmp_path / "in-sample.jsonl")
    student = train(_student(tmp_path, "student", teacher.path, model_dir=build_tiny("bert", tmp_path / "tiny"),
                             epochs=1), progress=False)
    assert student.metrics["distillation"]["in_sample"] is True
    assert "in-sample probabilities (the teachers were trained on these rows)" in (
        student.run_dir / rd.CARD_FILE).read_text()
