"""The HTTP API against a real uvicorn server on 127.0.0.1, called with httpx."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx
import pytest

from emotune.serving.api import ServerSettings
from emotune.serving.registry import ModelRegistry
from tests.fixtures.serving import SlowClassifier, live_server


@pytest.fixture(scope="module")
def server(tfidf_run, multi_run, tmp_path_factory):
    db = tmp_path_factory.mktemp("fb") / "feedback.sqlite"
    settings = ServerSettings(max_texts=100, max_chars=5_000, max_wait_ms=20, feedback_db=db, docs=True)
    with live_server([tfidf_run, multi_run], settings) as srv:
        srv.db = db
        yield srv


def _error(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]


def test_health_ready_models_docs(server):
    assert httpx.get(server.url + "/healthz").json()["status"] == "ok"
    ready = httpx.get(server.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["models"]["toy-tfidf"] == "loaded"
    models = httpx.get(server.url + "/v1/models").json()
    assert [m["id"] for m in models["models"]] == ["toy-tfidf", "toy-multi"]
    assert models["default"] == "toy-tfidf" and models["feedback"] is True
    assert models["models"][1]["task"] == "multi_label" and models["models"][1]["labels"] == ["joy", "sadness",
                                                                                              "anger", "fear"]
    spec = httpx.get(server.url + "/openapi.json").json()
    assert "/v1/classify" in spec["paths"] and "/v1/feedback" in spec["paths"]
    assert httpx.get(server.url + "/docs").status_code == 200
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "emotune" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched from elsewhere


def test_classify_single_and_multi_label(server):
    r = httpx.post(server.url + "/v1/classify", json={"texts": ["I passed my exam and I am so happy",
                                                                "My dog died last week and I cried"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "toy-tfidf" and body["task"] == "single_label"
    first, second = body["results"]
    assert first["labels"] == ["joy"] and second["labels"] == ["sadness"]
    assert len(first["scores"]) == 4 and abs(sum(s["score"] for s in first["scores"]) - 1) < 1e-4
    assert first["scores"][0]["label"] == "joy"  # best first

    r = httpx.post(server.url + "/v1/classify", json={"texts": ["He lied to me again and I was furious"],
                                                      "model": "toy-multi", "top_k": 2})
    result = r.json()["results"][0]
    assert r.json()["task"] == "multi_label" and len(result["scores"]) == 2
    assert "anger" in result["labels"]


async def _burst(url: str, n: int, payload_fn) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(*(client.post(url, json=payload_fn(i)) for i in range(n)))


def test_concurrent_requests_are_batched(server):
    before = httpx.get(server.url + "/v1/models").json()["models"][0]["batching"]
    texts = ["I passed my exam", "My dog died", "He lied to me", "A big dog ran towards me"]
    responses = asyncio.run(_burst(server.url + "/v1/classify", 50, lambda i: {"texts": [texts[i % 4]]}))
    assert all(r.status_code == 200 for r in responses)
    expected = ["joy", "sadness", "anger", "fear"]
    assert [r.json()["results"][0]["labels"][0] for r in responses] == [expected[i % 4] for i in range(50)]
    after = httpx.get(server.url + "/v1/models").json()["models"][0]["batching"]
    batches, requests = after["batches"] - before["batches"], after["requests"] - before["requests"]
    assert requests == 50
    assert batches < 50 and after["max_batch_size"] > 1  # requests shared forward passes


@pytest.mark.parametrize("payload, status, field", [
    ({"texts": [""]}, 422, "texts[0]"),
    ({"texts": ["fine", "   \n"]}, 422, "texts[1]"),
    ({"texts": ["x" * 1_000_000]}, 413, "texts[0]"),
    ({"texts": ["hi"] * 10_000}, 413, "texts"),
    ({"texts": []}, 422, "texts"),
    ({"texts": "just a string"}, 422, "texts"),
    ({"texts": ["ok", 3]}, 422, "texts[1]"),
    ({"texts": ["ok"], "top_k": "2"}, 422, "top_k"),
    ({"texts": ["ok"], "top_k": 0}, 422, "top_k"),
    ({"texts": ["ok"], "temperature": 2}, 422, "temperature"),
    ({"texts": ["ok"], "model": "nope"}, 404, "model"),
    ({}, 422, "texts"),
])
def test_bad_requests_get_json_errors_naming_the_field(server, payload, status, field):
    r = httpx.post(server.url + "/v1/classify", json=payload, timeout=30)
    assert r.status_code == status, r.text
    err = _error(r)
    assert err["field"] == field
    if status == 404:
        assert "toy-tfidf" in err["message"] and "toy-multi" in err["message"]


@pytest.mark.parametrize("content, content_type, status", [
    (b'{"texts": ["caf\xe9"]}', "application/json", 400),  # latin-1, not UTF-8
    (b"\xff\xfe\x00{", "application/json", 400),
    (b'{"texts": ["a"', "application/json", 400),
    (b"[1, 2]", "application/json", 422),
    (b"texts=hello", "application/x-www-form-urlencoded", 415),
])
def test_unreadable_bodies(server, content, content_type, status):
    r = httpx.post(server.url + "/v1/classify", content=content, headers={"content-type": content_type})
    assert r.status_code == status, r.text
    _error(r)


def test_unknown_routes_and_methods_are_json(server):
    assert _error(httpx.get(server.url + "/v2/nothing"))["code"] == "not_found"
    assert httpx.get(server.url + "/v1/classify").status_code == 405


def test_feedback_is_stored(server):
    r = httpx.post(server.url + "/v1/feedback", json={
        "model": "toy-tfidf", "text": "I passed my exam", "verdict": "down", "correct_label": "fear",
        "predicted": {"labels": ["joy"], "scores": [{"label": "joy", "score": 0.9}]}})
    assert r.status_code == 201, r.text
    row_id = r.json()["id"]
    with sqlite3.connect(server.db) as conn:
        row = conn.execute("SELECT model_id, text, verdict, correct_label, predicted FROM feedback WHERE id=?",
                           (row_id,)).fetchone()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert row[:4] == ("toy-tfidf", "I passed my exam", "down", "fear") and '"joy"' in row[4]
    assert mode == "wal"
    bad = httpx.post(server.url + "/v1/feedback", json={"text": "x", "correct_label": "love"})
    assert bad.status_code == 422 and _error(bad)["field"] == "correct_label"
    assert httpx.post(server.url + "/v1/feedback", json={"text": "x"}).status_code == 422


def test_still_serving_after_the_errors(server):
    r = httpx.post(server.url + "/v1/classify", json={"texts": ["I got the job I wanted, I feel great"]})
    assert r.status_code == 200 and r.json()["results"][0]["labels"] == ["joy"]


def test_full_queue_answers_503_with_retry_after(tfidf_run):
    registry = ModelRegistry([tfidf_run])
    registry.models["toy-tfidf"].clf = SlowClassifier(registry.get("toy-tfidf"), delay=0.3)
    settings = ServerSettings(queue_size=2, max_batch=1, max_wait_ms=0)
    with live_server(None, settings, registry=registry) as srv:
        responses = asyncio.run(_burst(srv.url + "/v1/classify", 12, lambda i: {"texts": [f"I passed my exam {i}"]}))
        codes = [r.status_code for r in responses]
        assert 503 in codes and 200 in codes and set(codes) <= {200, 503}
        busy = next(r for r in responses if r.status_code == 503)
        assert busy.headers["retry-after"] == "1" and _error(busy)["code"] == "overloaded"
        stats = httpx.get(srv.url + "/v1/models").json()["models"][0]["batching"]
        assert stats["rejected"] == codes.count(503)
        # and the server recovers
        assert httpx.post(srv.url + "/v1/classify", json={"texts": ["hello"]}, timeout=10).status_code == 200


def test_api_key(tfidf_run):
    with live_server([tfidf_run], ServerSettings(api_key="s3cret")) as srv:
        assert httpx.get(srv.url + "/healthz").status_code == 200  # probes stay open
        denied = httpx.post(srv.url + "/v1/classify", json={"texts": ["hi"]})
        assert denied.status_code == 401 and denied.headers["www-authenticate"] == "Bearer"
        assert _error(denied)["code"] == "unauthorized"
        wrong = httpx.get(srv.url + "/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = httpx.post(srv.url + "/v1/classify", json={"texts": ["hi"]}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_feedback_disabled_without_a_database(tfidf_run):
    with live_server([tfidf_run]) as srv:
        r = httpx.post(srv.url + "/v1/feedback", json={"text": "x", "verdict": "up"})
        assert r.status_code == 503 and _error(r)["code"] == "feedback_disabled"
        assert httpx.get(srv.url + "/v1/models").json()["feedback"] is False


def test_swagger_ui_is_off_unless_asked_for(tfidf_run):
    """Swagger UI runs a CDN's scripts on the page's origin (where the API key lives): opt-in only."""
    with live_server([tfidf_run]) as srv:
        for path in ("/docs", "/redoc"):
            r = httpx.get(srv.url + path)
            assert r.status_code == 404 and _error(r)["code"] == "not_found"
        assert "/v1/classify" in httpx.get(srv.url + "/openapi.json").json()["paths"]
