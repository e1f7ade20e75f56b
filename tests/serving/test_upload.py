"""POST /v1/jobs: a CSV or JSONL upload labelled in the background, its progress and its result,
against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import time

import httpx
import pytest

from emotune.serving.api import ServerSettings
from emotune.serving.registry import ModelRegistry
from tests.fixtures.serving import SlowClassifier, live_server

CSV = "text/csv"
JSONL = "application/x-ndjson"


@pytest.fixture(scope="module")
def server(tfidf_run, multi_run):
    with live_server([tfidf_run, multi_run], ServerSettings(max_upload_bytes=20_000)) as srv:
        yield srv


def _error(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]


def _wait(url: str, job_id: str, timeout: float = 60, **kw) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", **kw).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def _upload(url, body: bytes | str, content_type=CSV, **params) -> httpx.Response:
    return httpx.post(url + "/v1/jobs", content=body if isinstance(body, bytes) else body.encode(),
                      headers={"Content-Type": content_type}, params=params, timeout=30)


def test_csv_upload_labelled_and_downloaded(server):
    texts = ["My dog died last week and I cried", "I won the lottery, I am so happy",
             "He lied to me again and I was furious", ""]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "text"])
    w.writerows([[i, t] for i, t in enumerate(texts)])
    r = _upload(server.url, buf.getvalue(), filename="../../etc/my notes.csv")
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}" and job["model"] == "toy-tfidf"
    assert job["total"] == 4 and job["blank_rows"] == 1 and job["filename"] == "my notes.csv"

    job = _wait(server.url, job["id"])
    assert job["state"] == "done" and job["done"] == 4 and job["progress"] == 1.0 and job["labelled"] == 3
    result = httpx.get(server.url + job["result"])
    assert result.status_code == 200 and result.headers["content-type"].startswith("text/csv")
    assert result.headers["content-disposition"] == "attachment; filename*=utf-8''my%20notes.labelled.csv"
    rows = list(csv.DictReader(io.StringIO(result.text)))
    assert [r["text"] for r in rows] == texts and [r["id"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["predicted"] for r in rows] == ["sadness", "joy", "anger", ""]  # the blank row kept, unlabelled
    probs = [float(rows[0][f"prob_{lab}"]) for lab in ("joy", "sadness", "anger", "fear")]
    assert abs(sum(probs) - 1) < 1e-3


def test_jsonl_upload_with_another_model_and_text_field(server):
    lines = [{"body": "I was terrified of the dark house", "n": 1}, {"body": "I got the job, I feel great", "n": 2}]
    r = _upload(server.url, "".join(json.dumps(x) + "\n" for x in lines), JSONL, model="toy-multi", text_col="body")
    assert r.status_code == 202, r.text
    job = _wait(server.url, r.json()["id"])
    assert job["state"] == "done"
    got = [json.loads(line) for line in httpx.get(server.url + job["result"]).text.splitlines()]
    assert [g["n"] for g in got] == [1, 2] and "fear" in got[0]["predicted"] and "joy" in got[1]["predicted"]
    assert set(got[0]["scores"]) == {"joy", "sadness", "anger", "fear"}


@pytest.mark.parametrize("body, content_type, params, status, code, field, words", [
    ("id,text\n1,hello\n2,a,b\n", CSV, {"filename": "mine.csv"}, 422, "invalid_file", "body", ["mine.csv", "line 3"]),
    ("id,words\n1,hello\n", CSV, {}, 422, "invalid_file", "text_col", ["no column 'text'", "words"]),
    ('{"text": "fine"}\n{"text": \n', JSONL, {}, 422, "invalid_file", "body", ["line 2"]),
    ('{"other": "x"}\n', JSONL, {}, 422, "invalid_file", "text_col", ["line 1", "'text'"]),
    ("id,text\n", CSV, {}, 422, "invalid_file", "body", ["no rows"]),
    ("   ", CSV, {}, 422, "empty_file", "body", ["empty"]),
    ("text\nhello\n", "text/plain", {}, 415, "unsupported_media_type", "content-type", ["text/csv"]),
    ("text\nhello\n", CSV, {"model": "nope"}, 404, "unknown_model", "model", ["toy-tfidf"]),
    ("text\n" + "hello there\n" * 2000, CSV, {}, 413, "payload_too_large", "body", ["20000"]),
])
def test_bad_uploads_get_one_clear_4xx(server, body, content_type, params, status, code, field, words):
    r = _upload(server.url, body, content_type, **params)
    assert r.status_code == status, r.text
    err = _error(r)
    assert err["code"] == code and err["field"] == field
    for word in words:
        assert word in err["message"], err["message"]
    assert "/tmp" not in err["message"]  # the server's own paths stay private


def test_unknown_job_and_result_before_done(tfidf_run):
    registry = ModelRegistry([tfidf_run])
    registry.models["toy-tfidf"].clf = SlowClassifier(registry.get("toy-tfidf"), delay=0.4)
    with live_server(None, ServerSettings(), registry=registry) as srv:
        assert _error(httpx.get(srv.url + "/v1/jobs/nope"))["code"] == "unknown_job"
        job = _upload(srv.url, "text\n" + "I passed my exam\n" * 200).json()
        early = httpx.get(f"{srv.url}/v1/jobs/{job['id']}/result")
        assert early.status_code == 409 and _error(early)["code"] == "not_ready"
        # a long upload does not block other requests: classify answers while the job runs
        while httpx.get(f"{srv.url}/v1/jobs/{job['id']}").json()["done"] == 0:
            time.sleep(0.05)
        r = httpx.post(srv.url + "/v1/classify", json={"texts": ["My dog died"]}, timeout=30)
        assert r.status_code == 200
        status = httpx.get(f"{srv.url}/v1/jobs/{job['id']}").json()
        assert status["state"] == "running" and 0 < status["done"] < 200
        assert _wait(srv.url, job["id"])["state"] == "done"


def test_jobs_need_the_api_key(tfidf_run):
    with live_server([tfidf_run], ServerSettings(api_key="s3cret")) as srv:
        assert _upload(srv.url, "text\nhello\n").status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        r = httpx.post(srv.url + "/v1/jobs", content=b"text\nhello\n", headers={"Content-Type": CSV, **auth})
        assert r.status_code == 202
        assert httpx.get(f"{srv.url}/v1/jobs/{r.json()['id']}").status_code == 401
        assert _wait(srv.url, r.json()["id"], headers=auth)["state"] == "done"


@pytest.mark.slow
def test_upload_with_the_packaged_minilm(minilm_run):
    with live_server([minilm_run]) as srv:
        r = _upload(srv.url, "text\nI was so happy today\nMy grandfather died\n")
        job = _wait(srv.url, r.json()["id"], timeout=300)
        assert job["state"] == "done" and job["labelled"] == 2
        rows = list(csv.DictReader(io.StringIO(httpx.get(srv.url + job["result"]).text)))
        assert len(rows) == 2 and all(row["predicted"] for row in rows)
