"""emotune.runs.Run: the one reader of a run directory (and of a bare model directory)."""

import json
import shutil

import numpy as np
import pytest

from emotune.config import RunConfig
from emotune.data.labels import Task
from emotune.errors import ModelError
from emotune.models.inputs import InputSpec, PrefixedClassifier
from emotune.models.tfidf import TfidfClassifier
from emotune.runs import Run, write_json
from emotune.training.trainer import train
from tests.fixtures import toy
from tests.models.test_inputs import _intensity_csv


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    cfg = RunConfig(name="toy", output_dir=str(tmp_path_factory.mktemp("runs")), data={"dataset": "toy-single"})
    return train(cfg, data=toy.prepared("single"), progress=False).run_dir


@pytest.fixture(scope="module")
def prefixed_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("prefixed")
    cfg = RunConfig.from_dict({
        "name": "intensity", "output_dir": str(root / "runs"),
        "data": {"dataset": str(_intensity_csv(root / "intensity.csv")), "text_col": "text",
                 "target_cols": ["intensity"], "text_prefix_col": "emotion"},
        "model": {"backend": "tfidf"}, "training": {"seed": 0, "metric": "pearson"}})
    return train(cfg, progress=False).run_dir


def _previous_release(run, tmp_path, name="old"):
    """A copy of ``run`` as the previous release wrote it: no input spec in emotune_model.json."""
    old = tmp_path / name
    shutil.copytree(run, old)
    meta_path = old / "model" / "emotune_model.json"
    meta = json.loads(meta_path.read_text())
    del meta["input"]
    meta_path.write_text(json.dumps(meta))
    return old


def test_open_reads_every_file_of_a_run(toy_run):
    run = Run.open(toy_run)
    assert run.path == toy_run and run.name == "toy" and run.is_finished
    assert run.config.name == "toy" and run.label_set == toy.ISEAR and run.task == Task.SINGLE
    assert run.backend == "tfidf" and run.seed == run.config.training.seed
    assert run.metrics["primary_metric"] == "f1_macro" and run.history[0]["epoch"] == 1
    assert run.data_info["sizes"] == {"train": 112, "dev": 28, "test": 28} and run.rows("test") == 28
    assert run.has_split("test") and not run.has_split("train")
    pred = run.predictions("test")
    assert pred.scores.shape == (28, 7) and pred.y_true.dtype.kind == "i" and len(pred.texts) == 28
    assert run.model_dir == toy_run / "model" and run.onnx_dir == toy_run / "onnx"
    assert run.meta["backend"] == "tfidf" and run.input_spec == InputSpec()
    assert run.train_seconds is not None and run.thresholds is None
    clf = run.load()
    np.testing.assert_allclose(clf.predict_proba(pred.texts), pred.scores, rtol=1e-5, atol=1e-6)
    assert clf.view() is clf  # plain texts: the model answers raw texts as it is
    assert Run.open(toy_run / "model").path == toy_run  # its model/ folder opens the run too
    assert Run.open(toy_run, finished=True).path == toy_run


def test_splits_are_recreated_from_the_config(toy_run, toy_data):
    splits = Run.open(toy_run).splits()
    assert splits.test.texts == Run.open(toy_run).predictions("test").texts


def test_a_bare_model_directory_opens_with_its_model_only(tmp_path):
    ds = toy.prepared("single").train
    clf = TfidfClassifier(ds.label_set)
    clf.fit(ds)
    clf.save_pretrained(tmp_path / "saved")
    run = Run.open(tmp_path / "saved")
    assert run.path == run.model_dir == tmp_path / "saved" and not run.is_finished
    assert run.label_set == ds.label_set and run.input_spec == InputSpec()
    np.testing.assert_allclose(run.load().predict_proba(ds.texts[:5]), clf.predict_proba(ds.texts[:5]))
    with pytest.raises(ModelError, match="has no config.yaml"):
        run.config


def test_missing_unfinished_and_corrupt_runs_are_named(toy_run, tmp_path):
    with pytest.raises(ModelError, match="Run directory not found"):
        Run.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="No trained model in .*empty") as err:
        Run.open(tmp_path / "empty")
    assert "emotune train" in err.value.hint
    with pytest.raises(ModelError, match="not a run directory"):
        Run.open(tmp_path / "empty", finished=True)

    half = tmp_path / "half"
    shutil.copytree(toy_run, half)
    (half / "metrics.json").unlink()  # killed before the end
    assert not Run.open(half).is_finished and Run.open(half).load().label_set == toy.ISEAR
    with pytest.raises(ModelError, match="unfinished"):
        Run.open(half, finished=True)
    shutil.rmtree(half / "model")  # killed before the model was saved: a run, but nothing to load
    with pytest.raises(ModelError, match="No trained model"):
        Run.open(half).load()

    meta_path = tmp_path / "corrupt" / "model" / "emotune_model.json"
    shutil.copytree(toy_run, tmp_path / "corrupt")
    meta = json.loads(meta_path.read_text())
    meta_path.write_text("{not json")
    with pytest.raises(ModelError, match="Corrupt model metadata"):
        Run.open(tmp_path / "corrupt").load()
    meta_path.write_text(json.dumps({**meta, "backend": "magic"}))
    with pytest.raises(ModelError, match="unknown backend 'magic'"):
        Run.open(tmp_path / "corrupt").meta


def test_the_input_spec_is_saved_with_the_model(prefixed_run):
    meta = json.loads((prefixed_run / "model" / "emotune_model.json").read_text())
    assert meta["input"] == {"text_prefix": {"column": "emotion", "values": ["anger", "joy"]}, "context": None}
    run = Run.open(prefixed_run)
    assert run.input_spec.served_label_set(run.label_set).names == ("anger", "joy")
    served = run.load().view()
    assert isinstance(served, PrefixedClassifier) and served.label_set.names == ("anger", "joy")
    assert run.load().view("joy").label_set == run.label_set  # RUN#joy: one value, the run's own target


def test_a_run_of_the_previous_release_loads_and_predicts_the_same(prefixed_run, tmp_path):
    texts = ["I am extremely extremely extremely furious", "I am a little happy"]
    new = Run.open(prefixed_run).load().view().predict_proba(texts)
    old = Run.open(_previous_release(prefixed_run, tmp_path))
    assert old.input_spec == Run.open(prefixed_run).input_spec  # derived from config.yaml + data.json
    np.testing.assert_allclose(old.load().view().predict_proba(texts), new)
    # older still: data.json without the prefix values (they are read off the stored test texts)
    info = json.loads((old.path / "data.json").read_text())
    del info["text_prefix"]
    (old.path / "data.json").write_text(json.dumps(info))
    assert Run.open(old.path).input_spec.text_prefix.values == ("anger", "joy")


def test_a_context_run_of_the_previous_release_gets_its_context_from_the_config(toy_run, tmp_path):
    old = _previous_release(toy_run, tmp_path)
    cfg = RunConfig.load(old / "config.yaml")
    cfg.data.context.window = 2
    cfg.save(old / "config.yaml")
    spec = Run.open(old).input_spec
    assert spec.context.window == 2 and spec.text_prefix is None
    assert Run.open(old).load().input_spec == spec


def test_onnx_export_loads_behind_the_same_protocol(tiny_encoder_run, tfidf_run, tmp_path):
    pytest.importorskip("onnxruntime")
    from emotune.export.onnx import export_onnx
    from emotune.models.onnx import OnnxClassifier

    with pytest.raises(ModelError, match="encoder runs only"):
        Run.open(tfidf_run).load(onnx=True)
    bare = tmp_path / "bare"
    shutil.copytree(tiny_encoder_run / "model", bare / "model")
    with pytest.raises(ModelError, match="No ONNX export") as err:
        Run.open(bare).load(onnx=True)
    assert "emotune export" in err.value.hint
    export_onnx(tiny_encoder_run, check=False)
    run = Run.open(tiny_encoder_run)
    clf = run.load(onnx=True)
    assert isinstance(clf, OnnxClassifier) and clf.onnx_file == run.onnx_dir / "model.onnx"
    assert clf.label_set == run.load().label_set and clf.input_spec == run.input_spec
    texts = ["I am so happy today", "that made me furious"]
    np.testing.assert_allclose(clf.predict_proba(texts), run.load().predict_proba(texts), atol=1e-5)


def test_write_json_replaces_the_file_atomically(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": "é"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"a": "é"} and not list(tmp_path.glob("*.tmp"))


# -- broken weight files: one message naming the file, never a loader's traceback ------------------
def _cut(path, keep: float = 0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def _cli(argv, capsys):
    from emotune.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out + out.err


@pytest.mark.parametrize("keep", [0.0, 0.001, 0.5, 0.999])
def test_a_truncated_safetensors_file_is_named_by_load_predict_and_evaluate(toy_run, tmp_path, keep, capsys):
    run = tmp_path / "cut"
    shutil.copytree(toy_run, run)
    weights = run / "model" / "tfidf.safetensors"
    _cut(weights, keep)
    with pytest.raises(ModelError, match="tfidf.safetensors") as e:
        Run.open(run).load()
    assert "Truncated" in e.value.message and "Retrain" in e.value.hint
    for argv in (["predict", str(run), "I passed my exam"], ["evaluate", str(run), "--resamples", "10"]):
        code, out = _cli(argv, capsys)
        assert code != 0 and "tfidf.safetensors" in out and "Traceback" not in out, out


def test_a_pickle_in_a_run_is_refused_without_unpickling_it(toy_run, tmp_path, capsys):
    import pickle

    run = tmp_path / "pickled"
    shutil.copytree(toy_run, run)
    marker = tmp_path / "unpickled"

    class Payload:  # unpickling it would create the marker file
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (run / "model" / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelError, match="pytorch_model.bin") as e:
        Run.open(run).load()
    assert "never unpickles" in e.value.message and "safetensors" in e.value.hint
    code, out = _cli(["predict", str(run), "I passed my exam"], capsys)
    assert code != 0 and "pytorch_model.bin" in out and "Traceback" not in out
    assert not marker.exists()


def test_a_truncated_onnx_file_is_named(toy_run, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from emotune.models.weights import verify_onnx

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
                              [helper.make_tensor("w", TensorProto.FLOAT, [256], [0.5] * 256)])
    good = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph), str(good))
    verify_onnx(good)  # a whole file passes
    data = good.read_bytes()
    for n in (0, 1, 5, len(data) // 2, len(data) - 1):
        cut = tmp_path / f"cut{n}.onnx"
        cut.write_bytes(data[:n])
        with pytest.raises(ModelError, match=f"cut{n}.onnx"):
            verify_onnx(cut)
    run = tmp_path / "run"
    shutil.copytree(toy_run, run)
    (run / "onnx").mkdir()
    (run / "onnx" / "model.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="model.onnx"):
        Run.open(run).load(onnx=True)


def test_onnx_external_data_must_be_inside_the_folder_and_whole(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from emotune.models.weights import verify_onnx

    def save(folder, location="model.onnx.data"):
        folder.mkdir()
        graph = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4096])],
                                  [helper.make_tensor("w", TensorProto.FLOAT, [4096], bytes(4 * 4096), raw=True)])
        model = helper.make_model(graph)
        onnx.save(model, str(folder / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=location, size_threshold=0)
        return folder / "model.onnx"

    good = save(tmp_path / "good")
    verify_onnx(good)  # graph + whole external file: passes
    cut = save(tmp_path / "cut")
    data = cut.parent / "model.onnx.data"
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(ModelError, match="Truncated ONNX external data .*model.onnx.data"):
        verify_onnx(cut)
    data.unlink()
    with pytest.raises(ModelError, match="'model.onnx.data' of tensor 'w' is missing"):
        verify_onnx(cut)
    # a hand-edited location that leaves the folder is refused before anything reads it
    model = onnx.load(str(good), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../../etc/passwd"
    outside = tmp_path / "outside"
    outside.mkdir()
    with open(outside / "model.onnx", "wb") as f:
        f.write(model.SerializeToString())
    with pytest.raises(ModelError, match="points outside its folder"):
        verify_onnx(outside / "model.onnx")


def test_weights_get_the_same_mode_as_the_rest_of_the_run(toy_run):
    modes = {p.name: p.stat().st_mode & 0o777 for p in (toy_run / "model").iterdir()}
    assert len(set(modes.values())) == 1, modes
    assert modes["tfidf.safetensors"] == (toy_run / "config.yaml").stat().st_mode & 0o777


@pytest.mark.parametrize("edit", ["reorder", "rename", "task"])
def test_a_hand_edited_labels_json_that_disagrees_with_the_model_is_one_clear_error(toy_run, tmp_path, capsys, edit):
    from emotune.cli.main import main

    run_dir = tmp_path / "edited"
    shutil.copytree(toy_run, run_dir)
    labels = json.loads((run_dir / "labels.json").read_text())
    if edit == "reorder":  # the same names in another order would silently swap the model's scores
        labels["names"] = labels["names"][::-1]
    elif edit == "rename":
        labels["names"][0] = "happiness"
    else:
        labels["task"] = "multi_label"
    (run_dir / "labels.json").write_text(json.dumps(labels))
    with pytest.raises(ModelError, match=r"labels\.json does not match the model") as e:
        Run.open(run_dir).load()
    assert "emotune_model.json" in e.value.hint
    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(run_dir), "I passed my exam"])
    err = capsys.readouterr().err
    assert exit_.value.code != 0 and "does not match the model" in err and "Traceback" not in err
