import json
import shutil

import pytest

from emotune.errors import ModelError
from emotune.runs import Run
from emotune.serving.registry import ModelRegistry


def test_ids_paths_and_lazy_loading(tfidf_run, multi_run):
    reg = ModelRegistry([tfidf_run, multi_run, tfidf_run / "model"])
    assert reg.ids == ["toy-tfidf", "toy-multi", "toy-tfidf-2"]  # a run and its model/ folder: same name
    assert Run.open(tfidf_run / "model").path == tfidf_run
    assert all(m.clf is None for m in reg.models.values())  # nothing loaded at startup
    clf = reg.get("toy-multi")
    assert reg.models["toy-multi"].clf is clf and reg.get("toy-multi") is clf
    assert reg.get(None) is reg.models["toy-tfidf"].clf  # the first run is the default
    with pytest.raises(KeyError):
        reg.entry("nope")


def test_least_recently_used_model_is_evicted_within_the_budget(tfidf_run, multi_run):
    reg = ModelRegistry([tfidf_run, multi_run])
    sizes = {m.id: m.size_bytes for m in reg.models.values()}
    assert all(s > 0 for s in sizes.values())
    reg.memory_budget = max(sizes.values()) + 1  # room for one at a time
    reg.get("toy-tfidf")
    reg.get("toy-multi")
    assert reg.models["toy-tfidf"].clf is None and reg.models["toy-multi"].clf is not None
    assert reg.evictions == 1
    reg.memory_budget = sum(sizes.values()) + 1
    reg.get("toy-tfidf")
    assert all(m.clf is not None for m in reg.models.values())


def test_missing_and_corrupt_runs_are_refused_with_a_message(tfidf_run, tmp_path):
    with pytest.raises(ModelError, match="not found"):
        ModelRegistry([tmp_path / "nope"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="No trained model"):
        ModelRegistry([empty])
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tfidf_run, corrupt)
    (corrupt / "model" / "emotune_model.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="Corrupt model metadata"):
        ModelRegistry([tfidf_run, corrupt])
    meta = json.loads((tfidf_run / "model" / "emotune_model.json").read_text())
    (corrupt / "model" / "emotune_model.json").write_text(json.dumps({**meta, "backend": "magic"}))
    with pytest.raises(ModelError, match="unknown backend 'magic'"):
        ModelRegistry([corrupt])


def test_onnx_serving_needs_an_export(tfidf_run):
    with pytest.raises(ModelError, match="encoder runs only"):
        ModelRegistry([tfidf_run], onnx=True)
