"""A run whose weights are cut short or pickled: refused at start-up, and when it breaks while
serving, a 503 JSON error for that model and a /readyz that names it (never a 500)."""

from __future__ import annotations

import shutil

import httpx
import pytest

from emotune.errors import ModelError
from emotune.serving.registry import ModelRegistry
from tests.fixtures.serving import live_server


def _copy(run, tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(run, dst)
    return dst


def _cut(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _error(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]


def test_a_broken_run_is_refused_before_the_port_is_bound(tfidf_run, multi_run, tmp_path):
    bad = _copy(multi_run, tmp_path, "cut")
    _cut(bad / "model" / "tfidf.safetensors")
    with pytest.raises(ModelError, match="tfidf.safetensors"):
        ModelRegistry([tfidf_run, bad])
    pickled = _copy(multi_run, tmp_path, "pickled")
    (pickled / "model" / "pytorch_model.bin").write_bytes(b"\x80\x04N.")
    with pytest.raises(ModelError, match="pytorch_model.bin"):
        ModelRegistry([tfidf_run, pickled])


def test_a_run_broken_while_serving_is_named_by_readyz_and_classify(tfidf_run, multi_run, tmp_path):
    good, other = _copy(tfidf_run, tmp_path, "good"), _copy(multi_run, tmp_path, "other")
    with live_server([good, other]) as server:
        assert httpx.get(server.url + "/readyz").status_code == 200
        _cut(other / "model" / "tfidf.safetensors")  # not the default model, not loaded yet
        r = httpx.get(server.url + "/readyz")
        err = _error(r)
        assert r.status_code == 503 and err["code"] == "not_ready"
        assert "'other'" in err["message"] and "tfidf.safetensors" in err["message"], err
        r = httpx.post(server.url + "/v1/classify", json={"texts": ["I am so happy"], "model": "other"})
        err = _error(r)
        assert r.status_code == 503 and err["code"] == "model_unavailable" and "tfidf.safetensors" in err["message"]
        r = httpx.post(server.url + "/v1/classify", json={"texts": ["I am so happy"]})
        assert r.status_code == 200, r.text  # the other model still answers
        (other / "model" / "tfidf.safetensors").unlink()
        shutil.copy(multi_run / "model" / "tfidf.safetensors", other / "model" / "tfidf.safetensors")
        assert httpx.get(server.url + "/readyz").status_code == 200  # repaired: checked again
        (good / "model" / "pytorch_model.bin").write_bytes(b"\x80\x04N.")
        r = httpx.get(server.url + "/readyz")
        assert r.status_code == 503 and "pytorch_model.bin" in _error(r)["message"]


def test_a_loader_failure_of_any_kind_is_a_503_not_a_500(tfidf_run, monkeypatch):
    from emotune.runs import Run

    def broken_loader(self, *args, **kwargs):
        raise Exception("data did not match any variant of untagged enum")  # e.g. tokenizers' errors

    monkeypatch.setattr(Run, "load", broken_loader)
    with live_server([tfidf_run]) as server:
        r = httpx.post(server.url + "/v1/classify", json={"texts": ["I am so happy"]})
        err = _error(r)
        assert r.status_code == 503 and err["code"] == "model_unavailable" and "untagged enum" in err["message"]
        assert _error(httpx.get(server.url + "/readyz"))["code"] == "not_ready"
