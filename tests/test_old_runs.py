"""Run directories written by the previous release (tests/fixtures/runs_v0_1) load and predict.

They were trained before the redesign by benchmarks/golden_check.py; their stored test predictions
are what that code computed, so the model loaded now must give the same scores on the same inputs.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emotune.runs import Run

OLD = Path(__file__).resolve().parent / "fixtures" / "runs_v0_1"


@pytest.fixture
def old_run(tmp_path, request):
    """A writable copy (loading must not need to write, but the fixture stays pristine either way)."""
    return Path(shutil.copytree(OLD / request.param, tmp_path / request.param))


@pytest.mark.parametrize("old_run", ["ei-reg-minilm", "emorynlp-minilm-context"], indirect=True)
def test_old_run_scores_its_stored_test_inputs_as_it_did(old_run):
    run = Run.open(old_run, finished=True)
    stored = run.predictions("test")
    np.testing.assert_allclose(run.load().predict_proba(stored.texts), stored.scores, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("old_run", ["ei-reg-minilm"], indirect=True)
def test_old_prefixed_run_answers_one_intensity_per_emotion(old_run):
    run = Run.open(old_run)
    assert run.input_spec.text_prefix is not None  # derived from config.yaml: the old run has no "input" key
    served = run.load().view()
    assert served.label_set.names == ("anger", "fear", "joy", "sadness")
    text = "They cancelled my flight again."
    model = run.load()
    want = [model.predict_proba([f"{emotion}: {text}"])[0, 0] for emotion in served.label_set.names]
    np.testing.assert_allclose(served.predict_proba([text])[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("old_run", ["emorynlp-minilm-context"], indirect=True)
def test_old_context_run_keeps_its_dialogue_context(old_run):
    spec = Run.open(old_run).input_spec
    assert spec.context is not None and spec.context.window == 3


@pytest.mark.parametrize("old_run", ["ei-reg-minilm"], indirect=True)
def test_old_run_predicts_from_the_command_line(old_run):
    proc = subprocess.run([sys.executable, "-m", "emotune", "predict", str(old_run), "I am furious about this."],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for emotion in ("anger", "fear", "joy", "sadness"):
        assert emotion in proc.stdout
