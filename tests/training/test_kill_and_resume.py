"""kill -9 in the middle of a real `emotune train`, run the same command again: it continues.

The fine-tuning backends keep one ``checkpoint-N`` (weights, optimizer, scheduler, RNG states) per
epoch in ``RUN/checkpoints``; the rerun must pick the last one up instead of starting over, and end
where an uninterrupted run with the same seed ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from emotune import runs as rd
from tests.fixtures.toy import toy_texts
from tests.tiny_models import build_tiny

ROOT = Path(__file__).resolve().parents[2]


def _command(config: Path, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "emotune", "train", str(config), "--run-dir", str(run_dir)]


def _setup(tmp_path: Path) -> Path:
    texts, labels = toy_texts(n_per_label=300)
    rng = np.random.default_rng(0)
    rows = [f"{t} ({i} {rng.integers(1_000_000)})" for i, t in enumerate(texts)]  # unique texts
    pd.DataFrame({"text": rows, "label": labels}).to_csv(tmp_path / "toy.csv", index=False)
    model = build_tiny("bert", tmp_path / "tiny-bert")
    config = {
        "name": "resume-me",
        "data": {"dataset": str(tmp_path / "toy.csv"), "text_col": "text", "label_col": "label"},
        "model": {"backend": "encoder", "name": str(model)},
        "training": {"epochs": 3, "batch_size": 4, "max_length": 32, "learning_rate": 1e-3, "seed": 3,
                     "early_stopping_patience": 0, "threads": 1},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_kill_9_mid_training_then_rerun_continues_from_the_checkpoint(tmp_path):
    config = _setup(tmp_path)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    killed_run = tmp_path / "killed"
    proc = subprocess.Popen(_command(config, killed_run), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    first = None
    while time.time() < deadline and proc.poll() is None:
        done = [p for p in (killed_run / rd.CHECKPOINT_DIR).glob("checkpoint-*") if (p / "trainer_state.json").exists()]
        if done:
            first = done[0]
            time.sleep(0.05)  # let the checkpoint finish writing, then kill during epoch 2
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert first is not None, "training ended (or timed out) before its first checkpoint: nothing was killed"
    assert proc.returncode == -signal.SIGKILL
    # the checkpoint holds the fit clock's reading, so the resumed run reports its whole fitting time
    clock = json.loads((first / "emotune_clock.json").read_text())["fit_seconds"]
    assert clock > 0
    assert not rd.is_finished(killed_run)  # no metrics.json: an unfinished run, not a corrupt finished one

    rerun = subprocess.run(_command(config, killed_run), cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "Resuming" in rerun.stderr
    assert rd.is_finished(killed_run)
    epochs = [row["epoch"] for row in rd.load_history(killed_run)]
    assert epochs == [1, 2, 3]
    resumed = json.loads((killed_run / "metrics.json").read_text())
    assert resumed["fit_resumed"] == "clocked" and resumed["fit_seconds"] > clock

    straight = tmp_path / "straight"
    subprocess.run(_command(config, straight), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                   check=True)
    a = json.loads((killed_run / "metrics.json").read_text())
    b = json.loads((straight / "metrics.json").read_text())
    for split in ("dev", "test"):  # the resumed run ends where the uninterrupted one does
        assert a[split]["f1_macro"] == pytest.approx(b[split]["f1_macro"], abs=1e-6)
    np.testing.assert_allclose(rd.load_predictions(killed_run, "test").scores,
                               rd.load_predictions(straight, "test").scores, atol=1e-5)
