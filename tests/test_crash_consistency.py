"""kill -9 at many points of `train`, `train --overwrite`, `predict --output`, `annotate`, `export` and
the feedback writes: afterwards the previous finished state or the new one is there, never a mix,
never less, and running the same command again ends with a valid result.

The commands are the real CLI in a child process (see :mod:`tests.fixtures.crash`), killed with
SIGKILL just before each of several of their file-system changes (spread over all of them: the
first, the last, the renames that publish a result) and, for the streamed writers, after several
delays spread over the command's measured duration. Cheap models: TF-IDF, and a tiny random BERT
for the ONNX export. The feedback store is a live `emotune serve` on 127.0.0.1 and a real SQLite
file, killed while clients post.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from emotune import runs as rd
from emotune.errors import ModelError
from emotune.runs import Run
from tests.fixtures.crash import Killer
from tests.fixtures.serving import free_port
from tests.fixtures.toy import toy_texts

KILLED = signal.SIGKILL
PROBE = ["I passed my exam and I am so happy!", "My dog died last week.", "He lied to me again, I was furious."]


def _points(n: int, k: int = 6) -> list[int]:
    """Kill points spread over ``n`` changes: the first, the last and evenly between."""
    assert n >= 2, f"the command made {n} file-system changes: nothing to kill in between"
    return sorted({1, n, *np.linspace(1, n, k).round().astype(int).tolist()})


def _snapshot(path: Path) -> dict[str, str] | None:
    """sha256 of every file under ``path`` (hidden temporary files skipped), None when it is absent."""
    if not path.exists():
        return None
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and not any(part.startswith(".") for part in
                                                                         p.relative_to(path).parts)}


def _killed(reply: dict) -> None:
    assert reply["signal"] == KILLED, f"not killed: {reply}"


def _ok(reply: dict) -> None:
    assert reply["rc"] == 0, reply["log"]
    assert "Traceback" not in reply["log"], reply["log"]


# -- the commands' inputs, and the helper that runs and kills them ---------------------------------------
@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A toy CSV, two TF-IDF configs whose models differ, and texts to label."""
    root = tmp_path_factory.mktemp("crash")
    texts, labels = toy_texts(n_per_label=40)
    rng = np.random.default_rng(0)
    rows = [f"{t} ({i} {rng.integers(1_000_000)})" for i, t in enumerate(texts)]
    pd.DataFrame({"text": rows, "label": labels}).to_csv(root / "toy.csv", index=False)
    for name, c in (("a", 0.05), ("b", 4.0)):
        cfg = {"name": "crash", "data": {"dataset": str(root / "toy.csv"), "text_col": "text", "label_col": "label"},
               "model": {"backend": "tfidf", "C": c, "max_features": 2000}, "training": {"seed": 1}}
        (root / f"{name}.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    texts, _ = toy_texts(n_per_label=30)
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_csv(root / "in.csv", index=False)
    other = [f"something else {i}" for i in range(30)]
    pd.DataFrame({"id": range(len(other)), "text": other}).to_csv(root / "other.csv", index=False)
    return root


@pytest.fixture(scope="module")
def killer(work):
    pytest.importorskip("onnxruntime")
    warm = work / "warm"
    # no `export` among the warm-up commands: an onnxruntime session made in the helper leaves its
    # global thread state behind, and a forked child that starts another one can hang (seen in CI)
    k = Killer(warm=[["train", work / "a.yaml", "--run-dir", warm / "run"],
                     ["predict", warm / "run", "-i", work / "in.csv", "-o", warm / "p.csv"],
                     ["annotate", warm / "run", "-i", work / "in.csv", "-o", warm / "a.csv"],
                     ["feedback", "export", "--db", warm / "none.db", "--out", warm / "f.csv"]])
    yield k
    k.close()


# -- train ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def train_setup(work, killer):
    root = work
    configs = {name: root / f"{name}.yaml" for name in ("a", "b")}
    refs = {}
    for name in ("a", "b"):
        refs[name] = root / f"ref-{name}" / "run"
        reply = killer.run(["train", configs[name], "--run-dir", refs[name]], cwd=root, watch=refs[name].parent)
        _ok(reply)
        refs[name + "_events"] = len(reply["events"])
    return root, configs, refs


def _same_run(got: Path, ref: Path) -> None:
    """``got`` is a whole finished run equal to ``ref``: scores, predictions, model, labels and config."""
    a, b = Run.open(got, finished=True), Run.open(ref, finished=True)
    for split in ("dev", "test"):
        assert a.metrics[split] == b.metrics[split]
        np.testing.assert_allclose(a.predictions(split).scores, b.predictions(split).scores, atol=1e-6)
    for name in (rd.CONFIG_FILE, rd.LABELS_FILE, rd.DATA_FILE, rd.HISTORY_FILE):
        assert (got / name).read_bytes() == (ref / name).read_bytes(), name
    assert _snapshot(got / rd.MODEL_DIR) == _snapshot(ref / rd.MODEL_DIR)
    np.testing.assert_allclose(a.load().predict_proba(PROBE), b.load().predict_proba(PROBE), atol=1e-6)


def _no_leftovers(run_dir: Path) -> None:
    """After a successful command: no hidden staging folders or temporary files left beside or in the run."""
    stray = [p.name for p in run_dir.parent.iterdir() if p.name.startswith(f".{run_dir.name}.")]
    stray += [str(p.relative_to(run_dir)) for p in run_dir.rglob(".*")]
    assert not stray, stray


def test_train_killed_anywhere_leaves_nothing_or_an_unfinished_run_and_a_rerun_finishes(killer, train_setup):
    root, configs, refs = train_setup
    for k in _points(refs["b_events"], k=5):
        run_dir = root / f"fresh-{k}" / "run"
        _killed(killer.run(["train", configs["b"], "--run-dir", run_dir], cwd=root, watch=run_dir.parent, kill_at=k))
        if rd.is_finished(run_dir):
            _same_run(run_dir, refs["b"])  # finished means whole
        elif run_dir.exists():
            with pytest.raises(ModelError, match="unfinished"):
                Run.open(run_dir, finished=True)
            if (run_dir / rd.MODEL_DIR).exists():  # a model folder, when there, is a whole one
                Run.open(run_dir).load().predict_proba(PROBE)
        rerun = killer.run(["train", configs["b"], "--run-dir", run_dir], cwd=root, watch=run_dir.parent)
        _ok(rerun)
        _same_run(run_dir, refs["b"])
        _no_leftovers(run_dir)


def test_train_overwrite_killed_anywhere_keeps_the_old_run_or_has_the_new_one(killer, train_setup):
    root, configs, refs = train_setup
    probe = root / "over-probe" / "run"
    shutil.copytree(refs["a"], probe)
    counted = killer.run(["train", configs["b"], "--run-dir", probe, "--overwrite"], cwd=root, watch=probe.parent)
    _ok(counted)
    _same_run(probe, refs["b"])
    swaps = [i + 1 for i, e in enumerate(counted["events"]) if "renameat2" in e]
    assert swaps, counted["events"]  # the swap is one of the kill points below
    old = _snapshot(refs["a"])
    seen = set()
    for k in sorted(set(_points(len(counted["events"]), k=4)) | {swaps[0], swaps[0] + 1}):
        run_dir = root / f"over-{k}" / "run"
        shutil.copytree(refs["a"], run_dir)
        _killed(killer.run(["train", configs["b"], "--run-dir", run_dir, "--overwrite"], cwd=root,
                           watch=run_dir.parent, kill_at=k))
        if _snapshot(run_dir) == old:
            seen.add("old")
        else:
            _same_run(run_dir, refs["b"])
            seen.add("new")
        rerun = killer.run(["train", configs["b"], "--run-dir", run_dir, "--overwrite"], cwd=root,
                           watch=run_dir.parent)
        _ok(rerun)
        _same_run(run_dir, refs["b"])
        _no_leftovers(run_dir)
    assert seen == {"old", "new"}  # kills before and after the swap both happened


# -- predict and annotate --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corpus(work):
    return work


def _check_stream_kills(killer, root: Path, argv, out: Path, ref: bytes, old: bytes | None, duration: float,
                        events: int, overwrite: bool) -> set[str]:
    """Kill ``argv`` at each change and after several delays; the output is the old bytes or the new ones."""
    seen = set()
    kills = [{"kill_at": k} for k in _points(events, k=events)]
    kills += [{"kill_after": duration * f} for f in (0.3, 0.6, 0.9)]
    for kill in kills:
        if old is None:
            out.unlink(missing_ok=True)
        else:
            out.write_bytes(old)
        for stale in out.parent.glob(f".{out.name}.*"):
            stale.unlink()
        reply = killer.run(argv + (["--overwrite"] if overwrite else []), cwd=root, watch=out.parent, **kill)
        if reply["signal"] is None:  # a delay past the end: it finished
            _ok(reply)
        now = out.read_bytes() if out.exists() else None
        assert now in (old, ref), f"{kill}: the output is neither the previous nor the new one"
        seen.add("old" if now == old else "new")
        partial = out.with_name(f".{out.name}.partial")
        if partial.exists():
            seen.add("partial")
        rerun = killer.run(argv + (["--overwrite"] if overwrite else []), cwd=root, watch=out.parent)
        _ok(rerun)
        assert out.read_bytes() == ref, f"{kill}: the rerun did not end with the whole output"
        assert not partial.exists()
    return seen


@pytest.mark.parametrize("name, overwrite", [("new.csv", False), ("old.jsonl", True)])
def test_predict_output_killed_anywhere_is_the_old_file_or_the_whole_new_one(killer, train_setup, corpus,
                                                                             name, overwrite):
    _, _, refs = train_setup
    out = corpus / name
    base = ["predict", refs["b"], "-i", corpus / "in.csv", "-o", out, "--chunk-size", "8"]
    full = killer.run(base + ["--overwrite"], cwd=corpus, watch=out.parent)
    _ok(full)
    ref = out.read_bytes()
    old = None
    if overwrite:  # an earlier, finished output of another input is what --overwrite replaces
        _ok(killer.run(["predict", refs["b"], "-i", corpus / "other.csv", "-o", out, "--overwrite"], cwd=corpus))
        old = out.read_bytes()
        assert old != ref
    seen = _check_stream_kills(killer, corpus, base, out, ref, old, full["seconds"], len(full["events"]), overwrite)
    # (the new output appears with the last change, the rename: no kill point after it; reruns check it)
    assert "old" in seen and "partial" in seen


def test_predict_resumes_a_partial_output_left_by_a_kill(killer, train_setup, corpus):
    _, _, refs = train_setup
    out = corpus / "resume.jsonl"
    base = ["predict", refs["b"], "-i", corpus / "in.csv", "-o", out, "--chunk-size", "8"]
    full = killer.run(base, cwd=corpus, watch=out.parent)
    _ok(full)
    ref = out.read_bytes()
    out.unlink()
    commit = next(i + 1 for i, e in enumerate(full["events"]) if e.startswith("os.rename"))
    _killed(killer.run(base, cwd=corpus, watch=out.parent, kill_at=commit))  # every row written, not yet published
    assert not out.exists() and out.with_name(".resume.jsonl.partial").exists()
    for f in (0.3, 0.6, 0.9):  # killed again while resuming
        reply = killer.run(base, cwd=corpus, watch=out.parent, kill_after=full["seconds"] * f)
        assert not out.exists() or out.read_bytes() == ref, reply
    rerun = killer.run(base, cwd=corpus, watch=out.parent)
    _ok(rerun)
    assert out.read_bytes() == ref
    # a torn partial (a kill in the middle of a chunk's write) is cut back to its last whole row
    partial = out.with_name(".resume.jsonl.partial")
    partial.write_bytes(ref[: len(ref) // 2 + 7])
    out.unlink()
    rerun = killer.run(base, cwd=corpus, watch=out.parent)
    _ok(rerun)
    assert "from an earlier run" in rerun["log"] and out.read_bytes() == ref and not partial.exists()


def test_annotate_output_killed_anywhere_is_absent_or_whole(killer, train_setup, corpus):
    _, _, refs = train_setup
    out = corpus / "annotated.csv"
    base = ["annotate", refs["a"], refs["b"], "-i", corpus / "in.csv", "-o", out, "--chunk-size", "8"]
    full = killer.run(base, cwd=corpus, watch=out.parent)
    _ok(full)
    ref = out.read_bytes()
    seen = _check_stream_kills(killer, corpus, base, out, ref, None, full["seconds"], len(full["events"]), False)
    assert "old" in seen


# -- export --------------------------------------------------------------------------------------------
def _valid_export(run_dir: Path, int8: bool) -> None:
    run = Run.open(run_dir)
    torch_scores = run.load().predict_proba(PROBE)
    for q in (False, True) if int8 else (False,):
        got = Run.open(run_dir).load(onnx=True, int8=q).predict_proba(PROBE)
        np.testing.assert_allclose(got, torch_scores, atol=1e-4 if not q else 0.05)
    info = json.loads((run.onnx_dir / "export.json").read_text())
    assert Path(info["onnx_dir"]) == run.onnx_dir


@pytest.mark.parametrize("before", ["none", "fp32"])
def test_export_killed_anywhere_keeps_the_old_export_or_has_the_new_one(killer, tiny_encoder_run, tmp_path, before):
    # before="none": a run without an onnx folder gets `export --onnx`; "fp32": a run with an fp32 export
    # gets `export --onnx --int8` (the new export adds a file, so a mix of the two would show)
    argv_of = (lambda run: ["export", run, "--onnx"]) if before == "none" else \
        (lambda run: ["export", run, "--onnx", "--int8"])
    template = tmp_path / "template"
    shutil.copytree(tiny_encoder_run, template)
    if before == "fp32":
        _ok(killer.run(["export", template, "--onnx"], cwd=tmp_path))
    old = _snapshot(template / rd.ONNX_DIR)
    probe = tmp_path / "probe"
    shutil.copytree(template, probe)
    counted = killer.run(argv_of(probe), cwd=tmp_path, watch=probe)
    _ok(counted)
    n = len(counted["events"])
    swap = next(i + 1 for i, e in enumerate(counted["events"]) if "renameat2" in e or e.startswith("os.rename"))
    seen = set()
    points = sorted(k for k in {1, n // 2, swap, swap + 1} if k <= n)
    for k in points:
        run_dir = tmp_path / f"run-{k}"
        shutil.copytree(template, run_dir)
        _killed(killer.run(argv_of(run_dir), cwd=tmp_path, watch=run_dir, kill_at=k))
        now = _snapshot(run_dir / rd.ONNX_DIR)
        if now == old:
            seen.add("old")
            if old is None:
                with pytest.raises(ModelError, match="No ONNX export"):
                    Run.open(run_dir).load(onnx=True)
        else:
            _valid_export(run_dir, int8=before == "fp32")
            seen.add("new")
        if k in (n // 2, points[-1]):  # a rerun from a half-built staging folder and from the last state
            _ok(killer.run(argv_of(run_dir), cwd=tmp_path, watch=run_dir))
            _valid_export(run_dir, int8=before == "fp32")
            assert not [p.name for p in run_dir.iterdir() if p.name.startswith(".")]
    # both outcomes occur over an export over an old one; a fresh export is published by its rename, so
    # a kill before it leaves no onnx folder (a kill at a change after the rename sees the new one: fine)
    assert seen == {"old", "new"} if before == "fp32" else "old" in seen


# -- feedback -------------------------------------------------------------------------------------------
def _post_until_killed(url: str, stop: threading.Event, acked: list, worker: int) -> None:
    i = 0
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            text = f"feedback {worker}-{i}"
            try:
                r = client.post(url + "/v1/feedback", json={"text": text, "verdict": "up",
                                                            "predicted": {"labels": ["joy"]}})
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 201:
                acked.append((r.json()["id"], text))
            i += 1


def _serve_and_kill(killer, run: Path, db: Path, root: Path, rows: int) -> list[tuple[int, str]]:
    """A real server, three clients posting feedback, kill -9 once ``rows`` were acknowledged."""
    port = free_port()
    child = killer.run(["serve", run, "--port", port, "--feedback-db", db, "--log-level", "warning"], cwd=root,
                       wait=False)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            killer.kill(child["pid"])
            pytest.fail("the server did not start: " + Path(child["log"]).read_text(errors="replace")[-2000:])
        time.sleep(0.05)
    stop, acked = threading.Event(), []
    workers = [threading.Thread(target=_post_until_killed, args=(url, stop, acked, w)) for w in range(3)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 60
    while len(acked) < rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert killer.kill(child["pid"])["signal"] == KILLED  # while the clients are posting
    stop.set()
    for w in workers:
        w.join(timeout=10)
    return acked


def _check_db(db: Path, acked: list[tuple[int, str]]) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = dict(conn.execute("SELECT id, text FROM feedback").fetchall())
    finally:
        conn.close()
    missing = [(i, t) for i, t in acked if stored.get(i) != t]
    assert not missing, f"{len(missing)} acknowledged rows lost, e.g. {missing[:3]}"


def test_feedback_rows_acknowledged_before_a_kill_survive_and_export_is_atomic(killer, train_setup, tmp_path):
    _, _, refs = train_setup
    db = tmp_path / "feedback.db"
    acked = _serve_and_kill(killer, refs["b"], db, tmp_path, 20)
    assert len(acked) >= 20
    _check_db(db, acked)
    acked += _serve_and_kill(killer, refs["b"], db, tmp_path, 10)  # the same file again, after a kill
    _check_db(db, acked)

    out = tmp_path / "feedback.csv"
    out.write_text("text,label\nan older export,joy\n", encoding="utf-8")
    old = out.read_bytes()
    full = killer.run(["feedback", "export", "--db", db, "--out", tmp_path / "ref.csv"], cwd=tmp_path,
                      watch=tmp_path)
    _ok(full)
    ref = (tmp_path / "ref.csv").read_bytes()
    assert ref.count(b"\n") >= len(acked) + 1  # (rows committed but not yet acknowledged when killed: more)
    kills = [{"kill_at": k} for k in range(1, len(full["events"]) + 1)]
    kills += [{"kill_after": full["seconds"] * f} for f in (0.3, 0.6, 0.9)]
    for kill in kills:
        out.write_bytes(old)
        reply = killer.run(["feedback", "export", "--db", db, "--out", out], cwd=tmp_path, watch=tmp_path, **kill)
        if reply["signal"] is None:
            _ok(reply)
        assert out.read_bytes() in (old, ref), kill
        _ok(killer.run(["feedback", "export", "--db", db, "--out", out], cwd=tmp_path, watch=tmp_path))
        assert out.read_bytes() == ref
    _check_db(db, acked)  # exporting never wrote to the database
