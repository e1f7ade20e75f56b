"""OpenVINO export: the converted and the NNCF-quantised models predict what torch predicts, load
behind the classifier protocol, and are served over HTTP."""

import json
import shutil
import threading

import httpx
import numpy as np
import pytest

pytest.importorskip("openvino", reason="the OpenVINO runtime is not installed (pip install 'emotune[openvino]')")
pytest.importorskip("nncf", reason="NNCF (int8 OpenVINO exports) is not installed (pip install 'emotune[openvino]')")

from emotune.cli.main import main  # noqa: E402
from emotune.errors import ModelError  # noqa: E402
from emotune.export.openvino import export_openvino  # noqa: E402
from emotune.models.openvino import OpenVinoClassifier  # noqa: E402
from emotune.models.weights import refuse_pickles  # noqa: E402
from emotune.runs import Run  # noqa: E402
from emotune.serving.registry import ModelRegistry  # noqa: E402
from tests.fixtures.serving import live_server  # noqa: E402
from tests.fixtures.toy import toy_texts  # noqa: E402

TEXTS = toy_texts(3)[0] + ["short", "I was happy and then furious and then scared. " * 20]


@pytest.fixture()
def encoder_copy(tiny_encoder_run, tmp_path):
    """A private copy: these tests write exports into the run."""
    run = tmp_path / tiny_encoder_run.name
    shutil.copytree(tiny_encoder_run, run)
    return run


def _cli(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out, out.err


def _check_parity(run):
    result = export_openvino(run, int8=True, texts=TEXTS * 4)
    ov_dir = run / "openvino"
    assert {"model.xml", "model.bin", "model.int8.xml", "model.int8.bin", "export.json"} <= {p.name for p in ov_dir.iterdir()}
    assert not list(ov_dir.glob("*.tmp*"))
    refuse_pickles(ov_dir)  # OpenVINO's .bin files are raw weights, not pickles
    info = json.loads((ov_dir / "export.json").read_text())
    assert info["calibration"]["from"] == "given texts" and info["calibration"]["texts"] == len(TEXTS * 4)
    torch_scores = Run.open(run).load().predict_proba(TEXTS)
    fp32 = Run.open(run).load(runtime="openvino").predict_proba(TEXTS, batch_size=4)  # several padded batches
    int8 = Run.open(run).load(runtime="openvino", int8=True).predict_proba(TEXTS)
    np.testing.assert_allclose(fp32, torch_scores, atol=1e-5)
    assert result.max_abs_diff["fp32"] < 1e-5
    # int8 activations move scores a little; the decision holds wherever torch is not near a tie
    assert np.abs(int8 - torch_scores).max() < 0.05
    top2 = np.sort(torch_scores, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 0.05
    assert (int8.argmax(1) == torch_scores.argmax(1))[clear].all()
    return torch_scores


def test_tiny_encoder_export_matches_torch_and_is_served(encoder_copy):
    torch_scores = _check_parity(encoder_copy)
    reg = ModelRegistry([encoder_copy], runtime="openvino")
    clf = reg.get()
    assert isinstance(clf, OpenVinoClassifier) and reg.models[reg.default_id].backend == "openvino"
    with live_server(None, registry=reg) as srv:
        r = httpx.post(srv.url + "/v1/classify", json={"texts": TEXTS[:3]}, timeout=30)
        assert r.status_code == 200, r.text
        got = r.json()["results"]
        models = httpx.get(srv.url + "/v1/models", timeout=10).json()["models"]
    assert models[0]["backend"] == "openvino" and models[0]["export_file"].endswith("model.xml")
    names = clf.label_set.names
    assert [g["labels"] for g in got] == [[names[i]] for i in torch_scores[:3].argmax(1)]


def test_one_model_answers_several_threads_at_once(encoder_copy):
    export_openvino(encoder_copy, check=False)
    clf = Run.open(encoder_copy).load(runtime="openvino", threads=1)
    want = clf.predict_proba(TEXTS)
    got: list = [None] * 4

    def work(i):
        got[i] = clf.predict_proba(TEXTS)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g in got:
        np.testing.assert_allclose(g, want, atol=1e-6)


def test_input_shapes_come_from_a_small_set(encoder_copy):
    export_openvino(encoder_copy, check=False)
    clf = Run.open(encoder_copy).load(runtime="openvino")
    shapes, forward = [], clf._forward
    clf._forward = lambda feeds: (shapes.append(feeds["input_ids"].shape), forward(feeds))[1]
    texts = [" ".join(["word"] * n) for n in range(1, 27)][::-1]  # 26 texts, 3 to 28 tokens
    got = clf.predict_proba(texts, batch_size=13)
    # power-of-two batch sizes, lengths rounded up to multiples of 16 (max_length 32), and no text padded past its own
    # multiple of 16 (a short text in a batch of long ones would double its cost)
    assert all(n & (n - 1) == 0 for n, _ in shapes) and {length for _, length in shapes} <= {16, 32}
    own = [-(-len(ids) // 16) * 16 for ids in clf.tokenizer(texts, truncation=True, max_length=32)["input_ids"]]
    assert {length: sum(n for n, ln in shapes if ln == length) for length in (16, 32)} == {
        length: own.count(length) for length in (16, 32)}
    assert len(shapes) <= 6
    np.testing.assert_allclose(got, Run.open(encoder_copy).load().predict_proba(texts), atol=1e-5)


def test_int8_without_calibration_texts_says_so(encoder_copy):
    # a bare model directory: no config to re-create the train split, no stored dev texts
    with pytest.raises(ModelError, match="No texts to calibrate"):
        export_openvino(encoder_copy, int8=True, check=False)
    assert not (encoder_copy / "openvino" / "model.int8.xml").exists()


def test_commands(encoder_copy, tfidf_run, capsys):
    code, out, err = _cli(["export", str(encoder_copy), "--openvino"], capsys)
    assert code == 0, err
    assert "model.xml" in out and "--runtime openvino" in out
    code, out, err = _cli(["predict", str(encoder_copy), "--runtime", "openvino", "I passed my exam", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)[0]["labels"]
    code, _, err = _cli(["predict", str(encoder_copy), "--runtime", "openvino", "--int8", "I passed my exam"], capsys)
    assert code == 2 and "No OpenVINO export" in err and "--openvino --int8" in err and "Traceback" not in err
    code, _, err = _cli(["predict", str(encoder_copy), "--runtime", "tensorrt", "hi"], capsys)
    assert code == 2 and "unknown runtime" in err and "openvino" in err
    code, _, err = _cli(["serve", str(encoder_copy), "--onnx", "--runtime", "openvino"], capsys)
    assert code == 2 and "contradict" in err
    code, _, err = _cli(["export", str(tfidf_run), "--openvino"], capsys)
    assert code == 2 and "encoder runs only" in err


@pytest.mark.slow
def test_minilm_export_matches_torch(minilm_run, tmp_path):
    run = tmp_path / "minilm"
    shutil.copytree(minilm_run, run)
    _check_parity(run)
