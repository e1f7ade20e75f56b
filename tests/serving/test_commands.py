"""`emotune serve`, `emotune export` and `emotune feedback export` as a user runs them."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

from emotune.cli.main import main
from emotune.serving.feedback import FeedbackStore
from tests.fixtures.serving import free_port


def _run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out, out.err


def test_serve_refuses_a_corrupt_run_before_binding(tfidf_run, tmp_path, capsys):
    bad = tmp_path / "bad" / "model"
    bad.mkdir(parents=True)
    (bad / "emotune_model.json").write_text("{oops", encoding="utf-8")
    code, _, err = _run(["serve", str(tfidf_run), str(tmp_path / "bad")], capsys)
    assert code == 2 and "Corrupt model metadata" in err and "Traceback" not in err
    code, _, err = _run(["serve", str(tmp_path / "missing")], capsys)
    assert code == 2 and "not found" in err
    code, _, err = _run(["serve", str(tfidf_run), "--api-key-env", "EMOTUNE_TEST_UNSET_KEY"], capsys)
    assert code == 2 and "EMOTUNE_TEST_UNSET_KEY" in err
    cut = tmp_path / "cut"
    shutil.copytree(tfidf_run, cut)
    weights = cut / "model" / "tfidf.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    code, _, err = _run(["serve", str(tfidf_run), str(cut)], capsys)
    assert code == 2 and "Truncated" in err and "tfidf.safetensors" in err and "Traceback" not in err
    pickled = tmp_path / "pickled"
    shutil.copytree(tfidf_run, pickled)
    (pickled / "model" / "pytorch_model.bin").write_bytes(b"\x80\x04N.")
    code, _, err = _run(["serve", str(pickled)], capsys)
    assert code == 2 and "pytorch_model.bin" in err and "Traceback" not in err


def test_serve_command_end_to_end(tfidf_run, tmp_path):
    port = free_port()
    env = {**os.environ, "EMOTUNE_TEST_KEY": "k3y"}
    proc = subprocess.Popen([sys.executable, "-m", "emotune.cli.main", "serve", str(tfidf_run), "--port", str(port),
                             "--api-key-env", "EMOTUNE_TEST_KEY", "--feedback-db", str(tmp_path / "fb.sqlite"),
                             "--read-timeout", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.2)
        auth = {"Authorization": "Bearer k3y"}
        r = httpx.post(url + "/v1/classify", json={"texts": ["My dog died last week"]}, headers=auth,
                       timeout=60)  # the first request loads the model
        assert r.status_code == 200 and r.json()["results"][0]["labels"] == ["sadness"]
        assert httpx.post(url + "/v1/classify", json={"texts": ["x"]}).status_code == 401
        assert httpx.get(url + "/docs").status_code == 404  # Swagger UI (CDN scripts) only with --docs
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:  # half a request: closed
            s.sendall(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
            started = time.monotonic()
            assert s.recv(100) == b"" and time.monotonic() - started < 5
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_feedback_export_command(tmp_path, capsys):
    db = tmp_path / "fb.sqlite"
    store = FeedbackStore(db)
    store.add(model_id="m", text="I passed my exam", predicted={"labels": ["joy"]}, verdict="up")
    store.add(model_id="m", text="meh", predicted={"labels": ["joy"]}, verdict="down")
    out = tmp_path / "train.csv"
    code, stdout, err = _run(["feedback", "export", "--db", str(db), "--out", str(out)], capsys)
    assert code == 0, err
    assert "1 of 2" in stdout and out.read_text().splitlines() == ["text,label", "I passed my exam,joy"]


def test_export_command(tiny_encoder_run, tfidf_run, capsys):
    code, out, err = _run(["export", str(tiny_encoder_run), "--onnx"], capsys)
    assert code == 0, err
    assert "model.onnx" in out
    info = json.loads((tiny_encoder_run / "onnx" / "export.json").read_text())
    assert info["max_abs_diff_vs_torch"]["fp32"] < 1e-5
    code, out, err = _run(["predict", str(tiny_encoder_run), "--onnx", "I passed my exam", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)[0]["labels"]
    code, _, err = _run(["export", str(tfidf_run), "--onnx"], capsys)
    assert code == 2 and "encoder runs only" in err
