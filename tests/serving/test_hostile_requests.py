"""Requests a hostile or broken client sends: each gets a 4xx JSON error (never a 500), and a
connection that never finishes its request is closed within the read timeout."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from emotune.serving.api import ServerSettings
from tests.fixtures.serving import live_server

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def server(tfidf_run, tmp_path_factory):
    db = tmp_path_factory.mktemp("fb") / "feedback.sqlite"
    settings = ServerSettings(feedback_db=db, max_body_bytes=1_000_000, read_timeout_s=1.0)
    with live_server([tfidf_run], settings) as srv:
        yield srv


def _error(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]


@pytest.mark.parametrize("path, body, field", [
    ("/v1/classify", b'{"texts": ["fine", "I am \\ud800 happy"]}', "texts[1]"),
    ("/v1/classify", b'{"texts": ["fine"], "model": "\\udfff"}', "model"),
    ("/v1/feedback", b'{"text": "I am \\ud800 happy", "verdict": "up"}', "text"),
    ("/v1/feedback", b'{"text": "ok", "correct_label": "\\ud83d", "verdict": "up"}', "correct_label"),
    ("/v1/feedback", b'{"text": "ok", "verdict": "up", "predicted": {"labels": ["\\ud800"]}}', "predicted.labels[0]"),
    ("/v1/feedback", b'{"text": "ok", "verdict": "up", "predicted": {"note\\ud800": 1}}', "predicted"),
])
def test_a_lone_surrogate_is_a_422_naming_the_field(server, path, body, field):
    r = httpx.post(server.url + path, content=body, headers=JSON)
    err = _error(r)
    assert r.status_code == 422 and err["field"].startswith(field), err


def test_a_huge_predicted_object_is_refused_naming_the_field(tfidf_run, tmp_path):
    with live_server([tfidf_run], ServerSettings(feedback_db=tmp_path / "fb.sqlite")) as srv:  # 32 MB bodies
        row = {"text": "I am happy", "verdict": "up", "predicted": {"labels": ["joy"], "junk": "x" * 5_000_000}}
        r = httpx.post(srv.url + "/v1/feedback", json=row, timeout=30)
        err = _error(r)
        assert r.status_code == 413 and err["field"] == "predicted" and "65536" in err["message"], err
        row["predicted"] = {"labels": ["joy"], "scores": [{"label": "joy", "score": 0.9}], "note": "x" * 1000}
        ok = httpx.post(srv.url + "/v1/feedback", json=row)
        assert ok.status_code == 201, ok.text
    import sqlite3

    with sqlite3.connect(tmp_path / "fb.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*), MAX(LENGTH(predicted)) FROM feedback").fetchone()[0] == 1


def test_a_chunked_body_over_the_limit_is_a_413(server):
    def chunks():
        for _ in range(20):
            yield b" " * 100_000

    r = httpx.post(server.url + "/v1/classify", content=chunks(), headers=JSON)
    err = _error(r)
    assert r.status_code == 413 and err["code"] == "payload_too_large" and err["field"] == "body"
    small = httpx.post(server.url + "/v1/classify", content=iter([b'{"texts": ', b'["I am happy"]}']), headers=JSON)
    assert small.status_code == 200, small.text  # a chunked body under the limit is read whole


def test_a_body_without_content_type_is_a_415(server):
    r = httpx.post(server.url + "/v1/classify", content=b'{"texts": ["I am happy"]}')
    assert "content-type" not in r.request.headers
    err = _error(r)
    assert r.status_code == 415 and "Content-Type: application/json" in err["message"], err


def test_deeply_nested_json_is_a_4xx(server):
    r = httpx.post(server.url + "/v1/classify", content=b"[" * 100_000 + b"]" * 100_000, headers=JSON)
    assert 400 <= r.status_code < 500
    _error(r)


@pytest.mark.parametrize("half", [
    b"GET /healthz HTTP/1.1\r\nHo",  # half the headers
    b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"te",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HT",  # a whole request, then half of the next
])
def test_half_sent_requests_are_closed_within_the_read_timeout(server, half):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(half)
        started, data = time.monotonic(), b""
        while chunk := s.recv(65536):  # until the server closes the connection
            data += chunk
        assert time.monotonic() - started < 3, "the half-sent connection was left open"
    assert data.count(b"HTTP/1.1 200") == half.count(b"\r\n\r\nGET")
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_a_slow_answer_is_not_cut_by_the_read_timeout(tfidf_run):
    from emotune.serving.registry import ModelRegistry
    from tests.fixtures.serving import SlowClassifier

    registry = ModelRegistry([tfidf_run])
    registry.models["toy-tfidf"].clf = SlowClassifier(registry.get("toy-tfidf"), 1.5)
    with live_server(None, ServerSettings(read_timeout_s=0.5), registry=registry) as srv:
        r = httpx.post(srv.url + "/v1/classify", json={"texts": ["I am happy"]}, timeout=10)
        assert r.status_code == 200, r.text


def test_over_the_connection_limit_the_answer_is_the_json_error_shape(tfidf_run):
    with live_server([tfidf_run], ServerSettings(max_connections=3, read_timeout_s=5)) as srv:
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(3)]  # hold the connections
        try:
            time.sleep(0.2)
            r = httpx.post(srv.url + "/v1/classify", json={"texts": ["I passed my exam"]}, timeout=5)
            assert r.status_code == 503 and r.headers["content-type"] == "application/json"
            err = r.json()["error"]
            assert err["code"] == "overloaded" and "3 open connections" in err["message"]
            assert r.headers["retry-after"] == "1"
        finally:
            for s in idle:
                s.close()
        time.sleep(0.2)
        assert httpx.post(srv.url + "/v1/classify", json={"texts": ["I passed my exam"]}, timeout=5).status_code == 200
