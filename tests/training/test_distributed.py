"""Training in 2 processes with the Trainer's DDP (gloo on CPU): torchrun, ``emotune train --nproc 2``,
a rank killed with -9 and the run resumed, and the DeepSpeed / FSDP presets' settings reaching
``TrainingArguments`` (they need GPUs: here only the configuration is checked).

The 2-process runs are real ``torchrun --standalone`` launches of ``python -m emotune train`` on
tiny models (tests/tiny_models.py) and 120 rows; their scores are compared with a one-process run
of the same effective batch (8 = 2 processes x 4 here). Without dropout (whose random draws differ
per process) and with an unweighted loss (DDP averages the processes' batch means), the two runs
take the same optimizer steps on the same batches: they agree to float rounding.
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
from emotune import runtime
from emotune.config import RunConfig
from emotune.errors import ConfigError
from emotune.training.trainer import train
from tests.fixtures.toy import toy_texts
from tests.tiny_models import build_tiny

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
TRAINING = {"epochs": 3, "batch_size": 8, "max_length": 32, "learning_rate": 3e-3, "seed": 3,
            "early_stopping_patience": 0, "group_by_length": False, "threads": 1, "class_weights": False}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A toy CSV (120 unique rows, 4 labels) and configs for a tiny BERT and a tiny Llama with LoRA."""
    root = tmp_path_factory.mktemp("ddp")
    texts, labels = toy_texts(n_per_label=30)
    rng = np.random.default_rng(0)
    rows = [f"{t} ({i} {rng.integers(1_000_000)})" for i, t in enumerate(texts)]
    pd.DataFrame({"text": rows, "label": labels}).to_csv(root / "toy.csv", index=False)
    bert = build_tiny("bert", root / "tiny-bert")
    hf_config = json.loads((bert / "config.json").read_text())
    hf_config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # (the tiny Llama has none)
    (bert / "config.json").write_text(json.dumps(hf_config))
    models = {"encoder": {"backend": "encoder", "name": str(bert)},
              "lora": {"backend": "causal-lm", "name": str(build_tiny("llama", root / "tiny-llama")),
                       "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}}
    paths = {}
    for key, model in models.items():
        # the decoder: 2 epochs, killed in the second
        training = {**TRAINING, "epochs": 2} if key == "lora" else TRAINING
        config = {"name": f"ddp-{key}", "model": model, "training": training,
                  "data": {"dataset": str(root / "toy.csv"), "text_col": "text", "label_col": "label"}}
        paths[key] = root / f"{key}.yaml"
        paths[key].write_text(yaml.safe_dump(config), encoding="utf-8")
    return root, paths


def _env() -> dict:
    # one thread a process, and the worktree's source first (also in the processes torchrun starts)
    src = str(ROOT / "src")
    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def _assert_valid_two_process_run(run_dir: Path, epochs: int) -> dict:
    """A finished run directory as a one-process run leaves it, whose card records 2 processes."""
    assert rd.is_finished(run_dir)
    metrics = json.loads((run_dir / rd.METRICS_FILE).read_text())
    assert metrics["distributed"] == {"world_size": 2, "strategy": "ddp", "backend": "gloo",
                                      "per_device_batch_size": 4, "grad_accum": 1, "effective_batch": 8}
    assert "Processes: 2 (ddp, gloo); per-device batch 4 x gradient accumulation 1" in \
        (run_dir / rd.CARD_FILE).read_text()
    assert [r["epoch"] for r in rd.load_history(run_dir)] == list(range(1, epochs + 1))  # one writer: no row twice
    assert not (run_dir / rd.CHECKPOINT_DIR).exists()
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]
    clf = rd.Run.open(run_dir).load()
    assert clf.predict_proba(["I am so happy today"]).shape == (1, 4)
    return metrics


def _assert_close_to_one_process(two: Path, one: Path) -> None:
    """Same effective batch, same steps: the same training losses, scores and metrics (float rounding)."""
    h2, h1 = rd.load_history(two), rd.load_history(one)
    assert len(h2) == len(h1)
    for a, b in zip(h2, h1):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
        # the dev loss during training comes from the Trainer's evaluation split over the 2 processes
        assert a["dev_loss"] == pytest.approx(b["dev_loss"], abs=5e-3)
    s2, s1 = rd.load_predictions(two, "test").scores, rd.load_predictions(one, "test").scores
    np.testing.assert_allclose(s2, s1, atol=1e-4)
    m2, m1 = (json.loads((d / rd.METRICS_FILE).read_text()) for d in (two, one))
    for split in ("dev", "test"):  # rank 0 scores in one process, as the one-process run does
        for key in ("accuracy", "f1_macro"):
            assert m2[split][key] == pytest.approx(m1[split][key], abs=1e-6), (split, key)


def _one_process(config: Path, run_dir: Path) -> Path:
    train(RunConfig.load(config), run_dir, progress=False)
    return run_dir


def test_torchrun_two_processes_tiny_encoder(setup, tmp_path):
    _, paths = setup
    logs = tmp_path / "logs"
    two = tmp_path / "two"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
           f"--log-dir={logs}", "--redirects=3", "-m", "emotune", "train", str(paths["encoder"]),
           "--run-dir", str(two)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_valid_two_process_run(two, epochs=3)
    # rank 0 alone told the story and wrote the run; rank 1 trained and left
    err = {r: (next(logs.rglob(f"attempt_0/{r}/stderr.log"))).read_text() for r in (0, 1)}
    assert "Done" in err[0] and "Training ddp-encoder" in err[0]
    assert "Done" not in err[1] and "Training" not in err[1]
    _assert_close_to_one_process(two, _one_process(paths["encoder"], tmp_path / "one"))


@pytest.mark.slow
def test_accelerate_launch_two_processes_real_minilm(setup, tmp_path):
    """``accelerate launch`` (its torchrun launcher; ``--multi_gpu`` is its name for it, on CPU too)
    with the packaged MiniLM, one epoch on the toy rows."""
    root, _ = setup
    config = {"name": "ddp-minilm", "model": {"backend": "encoder", "name": "minilm"},
              "training": {**TRAINING, "epochs": 1}, "data": {"dataset": str(root / "toy.csv"), "text_col": "text",
                                                              "label_col": "label", "max_train": 48}}
    path = tmp_path / "minilm.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes=2",
           "--num_machines=1", "--mixed_precision=no", "--dynamo_backend=no", "-m", "emotune", "train", str(path),
           "--run-dir", str(tmp_path / "run")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = _assert_valid_two_process_run(tmp_path / "run", epochs=1)
    assert metrics["sizes"]["train"] == 48 and metrics["model"] == "minilm"


def _completed_checkpoints(run_dir: Path) -> list[Path]:
    return [p for p in (run_dir / rd.CHECKPOINT_DIR).glob("checkpoint-*") if (p / "trainer_state.json").exists()]


def _rank_process(launcher, rank: int, timeout: float = 120):
    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        for child in psutil.Process(launcher.pid).children(recursive=True):
            try:
                if child.environ().get("RANK") == str(rank):
                    return child
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        time.sleep(0.1)
    raise AssertionError(f"no rank {rank} process under the launcher")


def test_nproc_lora_decoder_survives_a_killed_rank_and_resumes(setup, tmp_path):
    _, paths = setup
    run_dir = tmp_path / "killed"
    cmd = [sys.executable, "-m", "emotune", "train", str(paths["lora"]), "--run-dir", str(run_dir), "--nproc", "2"]
    launcher = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
    rank1 = _rank_process(launcher, 1)
    deadline = time.time() + 300
    while time.time() < deadline and launcher.poll() is None and not _completed_checkpoints(run_dir):
        time.sleep(0.05)
    assert _completed_checkpoints(run_dir), "no checkpoint before the run ended: nothing was killed mid-training"
    time.sleep(0.1)
    rank1.send_signal(signal.SIGKILL)  # kill -9 one rank during epoch 2 (of 2)
    _, err = launcher.communicate(timeout=120)
    assert launcher.returncode != 0, "torchrun reported success although a rank was killed"
    assert not rd.is_finished(run_dir)

    rerun = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "Resuming ddp-lora" in rerun.stderr
    _assert_valid_two_process_run(run_dir, epochs=2)
    _assert_close_to_one_process(run_dir, _one_process(paths["lora"], tmp_path / "one"))


# -- without launching processes ---------------------------------------------------------------
def test_backends_without_the_trainer_run_in_rank_0_alone(tmp_path, monkeypatch):
    from tests.fixtures import toy

    toy.register("single")
    config = RunConfig.from_dict({"name": "tfidf-ddp", "data": {"dataset": "toy-single"},
                                  "model": {"backend": "tfidf"}})
    for key, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(key, value)
    result = train(config, tmp_path / "run", progress=False)
    assert not result.main_process and result.metrics == {}
    assert not (tmp_path / "run").exists()  # rank 1 wrote nothing
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    result = train(config, tmp_path / "run", progress=False)
    assert result.main_process and rd.is_finished(tmp_path / "run")
    assert runtime.world_size() == 1  # rank 0 went on as one process
    assert "distributed" not in result.metrics


def test_effective_batch_of_the_preset_is_kept_per_process():
    from emotune.data.labels import LabelSet
    from emotune.models.hf.args import training_args_kwargs

    labels = LabelSet(("a", "b"))
    q = RunConfig.load(CONFIGS / "isear-mistral7b-lora-fsdp.yaml").training
    for processes in (1, 2, 4, 8):
        kw = training_args_kwargs(q, "/tmp/x", label_set=labels, processes=processes)
        assert kw["per_device_train_batch_size"] * kw["gradient_accumulation_steps"] * processes == \
            q.batch_size * q.grad_accum
    grow = q.model_copy(update={"distributed": q.distributed.model_copy(update={"effective_batch": "grow"})})
    kw = training_args_kwargs(grow, "/tmp/x", label_set=labels, processes=4)
    assert (kw["per_device_train_batch_size"], kw["gradient_accumulation_steps"]) == (q.batch_size, q.grad_accum)


def test_fsdp_preset_reaches_training_arguments(monkeypatch, tmp_path):
    from emotune.data.labels import LabelSet
    from emotune.models.hf import args as hf_args

    # built on this CPU machine (the refusal without CUDA is tested below); the FSDP part is what is checked
    monkeypatch.setattr(hf_args, "check_distributed", lambda training: None)
    cfg = RunConfig.load(CONFIGS / "isear-mistral7b-lora-fsdp.yaml")
    args = hf_args.build_training_args(cfg.training, tmp_path, label_set=LabelSet(("a", "b")), use_cpu=True,
                                       bf16=False)
    assert args.fsdp and args.fsdp_config["transformer_layer_cls_to_wrap"] == ["MistralDecoderLayer"]
    assert args.fsdp_plugin_args["fsdp_version"] == 2
    assert args.fsdp_plugin_args["activation_checkpointing"] is True
    assert args.fsdp_plugin_args["state_dict_type"] == "FULL_STATE_DICT"


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_presets_reach_training_arguments(stage):
    from emotune.data.labels import LabelSet
    from emotune.models.hf.args import training_args_kwargs

    cfg = RunConfig.load(CONFIGS / f"isear-mistral7b-lora-deepspeed-zero{stage}.yaml")
    kwargs = training_args_kwargs(cfg.training, "/tmp/x", label_set=LabelSet(("a", "b")))
    ds = kwargs["deepspeed"]
    assert ds == cfg.training.distributed.deepspeed and ds["zero_optimization"]["stage"] == stage
    # the batch and the optimizer come from our config: transformers fills in the "auto" values
    assert ds["train_micro_batch_size_per_gpu"] == ds["gradient_accumulation_steps"] == "auto"
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None or not runtime.cuda_available():
        pytest.skip("deepspeed (and a CUDA GPU) are not here: checked up to the TrainingArguments keywords")
    from transformers import TrainingArguments

    args = TrainingArguments(**kwargs)
    assert args.hf_deepspeed_config.config["zero_optimization"]["stage"] == stage


def test_deepspeed_and_fsdp_without_a_gpu_are_refused_with_the_way_out():
    from emotune.data.labels import LabelSet
    from emotune.models.hf.args import build_training_args

    if runtime.cuda_available():
        pytest.skip("this machine has a GPU")
    for preset, key in (("isear-mistral7b-lora-fsdp", "fsdp"), ("isear-mistral7b-lora-deepspeed-zero2", "deepspeed")):
        cfg = RunConfig.load(CONFIGS / f"{preset}.yaml")
        with pytest.raises(ConfigError) as err:
            build_training_args(cfg.training, "/tmp/x", label_set=LabelSet(("a", "b")))
        assert f"training.distributed.{key}" in str(err.value) and "CUDA" in str(err.value)
        assert f"--set training.distributed.{key}=null" in err.value.hint


def test_nproc_hands_over_to_torchrun():
    from emotune.training.distributed import torchrun_command

    cmd = torchrun_command(2, ["isear-minilm", "--set", "training.epochs=1"])
    assert cmd[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert cmd[5:] == ["-m", "emotune", "train", "isear-minilm", "--set", "training.epochs=1"]
