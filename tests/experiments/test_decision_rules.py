"""benchmarks/thresholds.py re-chooses a finished run's decision rule on dev from its saved predictions."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sklearn.metrics as skm

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "thresholds.py"


def _script():
    spec = importlib.util.spec_from_file_location("thresholds_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_macro_f1_from_counts_is_sklearns_over_every_class():
    t = _script()
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 6, 400), rng.integers(0, 5, 400)  # class 5 never predicted
    want = skm.f1_score(y, pred, labels=range(6), average="macro", zero_division=0)
    assert t._macro_f1(y, pred, 6) == pytest.approx(want, abs=1e-12)


def test_class_offsets_lift_a_rare_class_that_argmax_never_picks():
    t = _script()
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(300, int), np.ones(30, int)]
    # the rare class scores higher on its own rows but never wins the argmax
    p1 = np.where(y == 1, 0.4, 0.1) + rng.uniform(0, 0.05, len(y))
    logp = np.log(np.c_[1 - p1, p1])
    off = t.class_offsets(y, logp)
    assert t._macro_f1(y, (logp + off).argmax(1), 2) > t._macro_f1(y, logp.argmax(1), 2) + 0.3
    assert off[1] - off[0] > 0


def test_single_label_run_gets_argmax_and_offsets_rows_with_a_cross_fitted_score(isear_tfidf_run, tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "t", f"tfidf={isear_tfidf_run}", "--results", str(tmp_path),
                          "--note", "n", "--chosen", "argmax"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    rec = json.loads((tmp_path / "recipes-t.json").read_text())
    rows = {r["label"]: r for r in rec["rows"]}
    assert list(rows) == ["tfidf: argmax", "tfidf: class offsets"] and rec["chosen"] == "argmax"
    argmax, offsets = rows["tfidf: argmax"], rows["tfidf: class offsets"]
    # argmax chooses nothing: its cross-fitted dev score is its dev score; the offsets are chosen on dev
    assert argmax["dev_cross_fitted"]["f1_macro"] == argmax["dev"] and not any(argmax["offsets"])
    assert offsets["dev"] >= argmax["dev"] and 0 <= offsets["test"] <= 1
    assert set(offsets["accuracy"]) == {"dev", "test"} and len(offsets["offsets"]) == 7


def test_bad_run_arguments_are_one_line_errors(tmp_path):
    for arg, says in ((f"x={tmp_path / 'nope'}", "nope"), ("no-equals-sign", "LABEL=RUN_DIR")):
        out = subprocess.run([sys.executable, str(SCRIPT), "t", arg, "--results", str(tmp_path)],
                             capture_output=True, text=True, cwd=ROOT)
        assert out.returncode != 0 and says in out.stderr and "Traceback" not in out.stderr
    assert not list(tmp_path.glob("recipes-*.json"))
