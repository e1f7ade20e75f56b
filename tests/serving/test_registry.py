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


def test_a_server_registry_freezes_what_a_load_created_and_unfreezes_on_eviction(tfidf_run, multi_run):
    """``emotune serve`` (freeze_gc=True) keeps the loaded model out of full collections, which walk every
    object it made (hundreds of ms for a transformer server); a library registry leaves the collector alone."""
    import gc

    try:
        plain = ModelRegistry([tfidf_run])
        plain.get()
        assert gc.get_freeze_count() == 0
        reg = ModelRegistry([tfidf_run, multi_run], freeze_gc=True)
        reg.memory_budget = max(m.size_bytes for m in reg.models.values()) + 1  # room for one at a time
        reg.get("toy-tfidf")
        assert gc.get_freeze_count() > 0
        seen = []
        real_unfreeze = gc.unfreeze
        gc.unfreeze = lambda: (seen.append(gc.get_freeze_count()), real_unfreeze())
        try:
            reg.get("toy-multi")  # evicts toy-tfidf: its objects become collectable again, then the load freezes
        finally:
            gc.unfreeze = real_unfreeze
        assert seen and seen[0] > 0 and gc.get_freeze_count() > 0 and reg.evictions == 1
    finally:
        gc.unfreeze()
