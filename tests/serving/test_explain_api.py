"""POST /v1/explain against a real uvicorn server on 127.0.0.1 (the contract the page builds on)."""

from __future__ import annotations

import httpx
import pytest

from emotune.serving.api import ServerSettings
from tests.fixtures.serving import live_server


@pytest.fixture(scope="module")
def server(tfidf_run, tiny_encoder_run):
    settings = ServerSettings(max_explain_texts=3, max_chars=2_000)
    with live_server([tfidf_run, tiny_encoder_run], settings) as srv:
        yield srv


def _error(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]


def test_explain_returns_one_explanation_per_text(server):
    texts = ["I passed my exam and I am so happy", "He lied to me again and I was furious"]
    r = httpx.post(server.url + "/v1/explain", json={"texts": texts})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "toy-tfidf" and body["method"] == "linear" and len(body["explanations"]) == 2
    first = body["explanations"][0]
    assert set(first) == {"text", "label", "probability", "method", "words"}
    assert first["label"] == "joy" and 0 < first["probability"] <= 1
    assert [w["word"] for w in first["words"]] == texts[0].split()
    assert all(first["text"][w["start"]:w["end"]] == w["word"] for w in first["words"])
    assert max(first["words"], key=lambda w: w["score"])["word"] in {"passed", "exam", "happy"}
    assert "/v1/explain" in httpx.get(server.url + "/openapi.json").json()["paths"]
    assert httpx.get(server.url + "/v1/models").json()["limits"]["max_explain_texts"] == 3


def test_label_method_and_model_are_honoured(server):
    r = httpx.post(server.url + "/v1/explain", json={"texts": ["the dog barked and i was afraid"],
                                                     "model": "toy-tinybert", "label": "fear"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "integrated-gradients" and body["explanations"][0]["label"] == "fear"
    r = httpx.post(server.url + "/v1/explain", json={"texts": ["the dog barked"], "model": "toy-tinybert",
                                                     "method": "occlusion"})
    assert r.status_code == 200 and r.json()["explanations"][0]["method"] == "occlusion"


@pytest.mark.parametrize("body, status, field", [
    ({"texts": ["a", "b", "c", "d"]}, 413, "texts"),
    ({"texts": []}, 422, "texts"),
    ({"texts": ["ok", "  "]}, 422, "texts[1]"),
    ({"texts": ["x" * 2_001]}, 413, "texts[0]"),
    ({"texts": ["ok"], "label": "hunger"}, 422, "label"),
    ({"texts": ["ok"], "method": "integrated-gradients"}, 422, "method"),
    ({"texts": ["ok"], "method": "shap"}, 422, "method"),
    ({"texts": ["ok"], "model": "nope"}, 404, "model"),
    ({"texts": "ok"}, 422, "texts"),
])
def test_bad_requests_get_a_json_error_naming_the_field(server, body, status, field):
    r = httpx.post(server.url + "/v1/explain", json=body)
    assert r.status_code == status, r.text
    assert _error(r)["field"] == field


def test_explain_needs_the_api_key_when_one_is_set(tfidf_run):
    with live_server([tfidf_run], ServerSettings(api_key="s3cret")) as srv:
        r = httpx.post(srv.url + "/v1/explain", json={"texts": ["I am happy"]})
        assert r.status_code == 401 and _error(r)["field"] == "authorization"
        r = httpx.post(srv.url + "/v1/explain", json={"texts": ["I am happy"]},
                       headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.json()["explanations"][0]["words"]
