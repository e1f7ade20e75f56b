"""The shared transformers glue (models/hf/): arguments, losses, metrics, history, inference helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotune.data.labels import LabelSet, Task
from emotune import runtime
from emotune.errors import ConfigError, ModelError
from emotune.metrics import scores_from_logits
from emotune.models.hf import args as hf_args
from emotune.models.hf import checkpoints as hf_checkpoints
from emotune.models.hf import data as hf_data
from emotune.models.hf import loss as hf_loss
from emotune.models.hf import resources as hf_resources
from emotune.models.hf import sequence as hf_sequence
from emotune.models.hf import trainer as hf_trainer
from emotune.config import TrainingConfig
from tests.fixtures.toy import toy_texts
from tests.tiny_models import build_tiny

SINGLE = LabelSet(("joy", "sadness", "anger"), name="t3")
MULTI = LabelSet(("joy", "sadness", "anger"), Task.MULTI, name="t3m")
REG = LabelSet(("valence", "arousal"), Task.REGRESSION, name="va")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = build_tiny("bert", tmp_path_factory.mktemp("bert"))
    with hf_resources.quiet_hf():
        return (AutoTokenizer.from_pretrained(path),
                AutoModelForSequenceClassification.from_pretrained(path, num_labels=3))


def test_metric_resolution_falls_back_to_the_task_primary():
    assert hf_args.resolve_metric(SINGLE, "f1_macro") == "f1_macro"
    assert hf_args.resolve_metric(SINGLE, "eval_accuracy") == "accuracy"
    assert hf_args.resolve_metric(REG, "f1_macro") == "pearson"
    assert hf_args.resolve_metric(MULTI, "jaccard_samples") == "jaccard_samples"
    assert hf_args.greater_is_better("f1_macro") and not hf_args.greater_is_better("loss")
    assert not hf_args.greater_is_better("mae") and not hf_args.greater_is_better("hamming_loss")


def test_progress_callback_prints_one_line_per_evaluation():
    from rich.console import Console
    from transformers import TrainerControl, TrainerState, TrainingArguments

    console = Console(record=True, width=200, force_terminal=False)
    cb = hf_trainer.rich_progress_callback("tiny")
    cb.console = console
    args = TrainingArguments(output_dir="unused", metric_for_best_model="f1_macro", report_to="none", use_cpu=True)
    state = TrainerState()
    state.epoch = 1.0
    cb.on_train_begin(args, state, TrainerControl())  # not a terminal: no live bar
    cb.on_log(args, state, TrainerControl(), logs={"loss": 1.2})
    cb.on_log(args, state, TrainerControl(), logs={"eval_loss": 0.9, "eval_f1_macro": 0.5, "eval_runtime": 3.0})
    cb.on_train_end(args, state, TrainerControl())
    text = console.export_text()
    assert "tiny epoch 1: dev loss=0.9000 f1_macro=0.5000" in text and "runtime" not in text


def test_training_arguments_mapping(tmp_path):
    t = TrainingConfig(epochs=2, batch_size=4, eval_batch_size=8, learning_rate=3e-5, warmup_ratio=0.2, seed=7,
                       grad_accum=2, metric="f1_macro", early_stopping_patience=1, max_steps=9, logging_steps=5)
    args = hf_args.build_training_args(t, tmp_path, label_set=SINGLE)
    assert args.eval_strategy == "epoch" and args.save_strategy == "epoch"
    assert args.load_best_model_at_end and args.metric_for_best_model == "f1_macro" and args.greater_is_better
    assert args.num_train_epochs == 2 and args.max_steps == 9
    assert args.per_device_train_batch_size == 4 and args.per_device_eval_batch_size == 8
    assert args.gradient_accumulation_steps == 2 and args.learning_rate == 3e-5 and args.seed == 7
    assert args.warmup_steps == pytest.approx(0.2)
    assert args.train_sampling_strategy == "group_by_length"
    assert args.save_total_limit == 1 and args.report_to in ([], "none", ["none"])
    # no dev set: no evaluation, no best-model selection
    args = hf_args.build_training_args(t.model_copy(update={"group_by_length": False}), tmp_path, label_set=REG,
                                  has_eval=False)
    assert args.eval_strategy == "no" and not args.load_best_model_at_end
    assert args.train_sampling_strategy == "random"
    # regression picks pearson (higher is better) even when the config says f1_macro
    args = hf_args.build_training_args(t, tmp_path, label_set=REG)
    assert args.metric_for_best_model == "pearson" and args.greater_is_better
    args = hf_args.build_training_args(t.model_copy(update={"metric": "loss"}), tmp_path, label_set=SINGLE)
    assert args.metric_for_best_model == "loss" and args.greater_is_better is False


def test_unknown_optimizer_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        hf_args.build_training_args(TrainingConfig(optimizer="sgd_but_better"), tmp_path, label_set=SINGLE)


def test_class_weights():
    w = hf_loss.class_weights(SINGLE, np.array([0, 0, 0, 1]))
    assert w.tolist() == pytest.approx([4 / 9, 4 / 3, 1.0])  # n / (k * n_c); absent class -> 1
    pw = hf_loss.class_weights(MULTI, np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]]))
    assert pw.tolist() == pytest.approx([1 / 3, 3.0, 1.0])  # neg / pos; never-positive label -> 1
    assert hf_loss.class_weights(REG, np.zeros((3, 2))) is None
    big = hf_loss.class_weights(SINGLE, np.array([0] * 1000 + [1]), max_weight=50)
    assert float(big.max()) == 50


def test_losses_match_torch():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    y = torch.tensor([0, 2])
    w = torch.tensor([1.0, 2.0, 3.0])
    expected = torch.nn.functional.cross_entropy(logits, y, weight=w)
    assert hf_loss.loss_fn(Task.SINGLE, logits, y, weights=w).item() == pytest.approx(expected.item())
    ym = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, ym, pos_weight=w)
    assert hf_loss.loss_fn(Task.MULTI, logits, ym, weights=w).item() == pytest.approx(expected.item())
    yr = torch.tensor([[0.5, 0.1, 0.0], [1.0, 1.0, 1.0]])
    assert hf_loss.loss_fn(Task.REGRESSION, logits, yr).item() == pytest.approx(torch.nn.functional.mse_loss(logits, yr).item())
    # BCE on one-hot targets for a single-label task
    one_hot = torch.nn.functional.one_hot(y, 3).float()
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, one_hot)
    assert hf_loss.loss_fn(Task.SINGLE, logits, y, kind="bce").item() == pytest.approx(expected.item())
    with pytest.raises(ConfigError):
        hf_loss.resolve_loss(Task.REGRESSION, "ce")


def test_scores_and_compute_metrics_hook():
    from transformers import EvalPrediction

    logits = np.array([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0], [3.0, 0.0, 0.0]])
    probs = scores_from_logits(Task.SINGLE, logits)
    assert np.allclose(probs.sum(axis=1), 1)
    assert np.all((scores_from_logits(Task.MULTI, logits) > 0) & (scores_from_logits(Task.MULTI, logits) < 1))
    assert np.allclose(scores_from_logits(Task.REGRESSION, logits), logits)
    out = hf_args.make_compute_metrics(SINGLE)(EvalPrediction(predictions=logits, label_ids=np.array([0, 1, 2, 1])))
    assert out["accuracy"] == pytest.approx(0.75)
    out = hf_args.make_compute_metrics(MULTI)(EvalPrediction(predictions=logits * 2 - 3,  # sigmoid(0) would be 0.5
                                                        label_ids=np.eye(3)[[0, 1, 2, 0]]))
    assert out["f1_macro"] == pytest.approx(1.0)


def test_history_from_log():
    log = [
        {"loss": 1.5, "epoch": 0.5, "step": 2},
        {"epoch_train_loss": 1.4, "epoch": 1.0, "step": 4},
        {"eval_loss": 1.2, "eval_f1_macro": 0.3, "eval_runtime": 0.1, "eval_samples_per_second": 9.0, "epoch": 1.0},
        {"epoch_train_loss": 1.1, "epoch": 2.0, "step": 8},
        {"eval_loss": 1.0, "eval_f1_macro": 0.5, "epoch": 2.0},
        {"train_runtime": 3.0, "train_loss": 1.25, "epoch": 2.0},
    ]
    rows = hf_trainer.history_from_log(log)
    assert rows == [{"epoch": 1, "train_loss": 1.4, "dev_loss": 1.2, "dev_f1_macro": 0.3},
                    {"epoch": 2, "train_loss": 1.1, "dev_loss": 1.0, "dev_f1_macro": 0.5}]
    rows = hf_trainer.history_from_log(log, epoch_offset=1, stage="full")
    assert [r["epoch"] for r in rows] == [2, 3] and rows[0]["stage"] == "full"


def test_tokenized_dataset(tiny_bert):
    tok, _ = tiny_bert
    texts = ["a much longer sentence about joy and fear", "short", "medium sized text"]
    ds = hf_data.TokenizedDataset(tok, texts, np.array([0, 1, 2]), max_length=6)
    assert len(ds) == 3 and max(ds.lengths) == 6  # truncated
    assert ds[1]["labels"] == 1 and "attention_mask" in ds[1]
    ordered = hf_data.TokenizedDataset(tok, texts, np.array([0, 1, 2]), max_length=32, sort_by_length=True)
    assert ordered.lengths == sorted(ordered.lengths) and [ordered[i]["labels"] for i in range(3)] == [1, 2, 0]
    multi = hf_data.TokenizedDataset(tok, texts, hf_data.encode_targets(MULTI, np.eye(3, dtype=int)))
    assert multi[0]["labels"] == [1.0, 0.0, 0.0]
    batch = hf_data.make_collator(tok)([multi[0], multi[1]])
    assert batch["labels"].dtype == torch.float32 and batch["input_ids"].shape[0] == 2
    with pytest.raises(ValueError):
        hf_data.TokenizedDataset(tok, texts, np.array([0, 1]))


def test_predict_logits_keeps_input_order(tiny_bert):
    tok, model = tiny_bert
    texts, _ = toy_texts(3)
    texts = texts + ["x", "a " * 50]
    together = hf_sequence.predict_logits(model, tok, texts, batch_size=64)
    one_by_one = np.concatenate([hf_sequence.predict_logits(model, tok, [t], batch_size=1) for t in texts])
    assert together.shape == (len(texts), 3)
    assert np.allclose(together, one_by_one, atol=1e-5)
    assert hf_sequence.predict_logits(model, tok, [], batch_size=4).shape == (0, 3)
    assert not model.training


def test_memory_check(monkeypatch):
    monkeypatch.setattr(runtime, "available_memory_bytes", lambda device=None: 1024 ** 3)
    hf_resources.check_fits(10_000_000, 4, what="small")  # 48 MB
    with pytest.raises(ModelError, match="needs about"):
        hf_resources.check_fits(7_000_000_000, 4, what="7B fp32", hint="use QLoRA")


def test_work_dir_and_checkpoints(tmp_path):
    with hf_checkpoints.work_dir(None) as tmp:
        assert tmp.is_dir()
    assert not tmp.exists()
    assert hf_checkpoints.checkpoint_dir(None) is None and hf_checkpoints.checkpoint_dir(tmp_path) == tmp_path
    assert hf_checkpoints.checkpoint_dir(tmp_path, "head") == tmp_path / "head"
    folder = tmp_path / "ckpt"
    with hf_checkpoints.work_dir(folder) as d:
        for n in (3, 12, 100):
            (d / f"checkpoint-{n}").mkdir()
        for n in (3, 12):
            (d / f"checkpoint-{n}" / "trainer_state.json").write_text("{}")
        (d / "head" / "checkpoint-2").mkdir(parents=True)
        # checkpoint-100 has no trainer_state.json: killed while it was being written
        assert hf_checkpoints.last_checkpoint(d).endswith("checkpoint-12")
    assert not folder.exists()  # removed after success
    with hf_checkpoints.work_dir(tmp_path / "keep") as d:
        (d / "checkpoint-1").mkdir()
        (d / "notes.txt").write_text("mine")
    assert sorted(p.name for p in (tmp_path / "keep").iterdir()) == ["notes.txt"]  # only checkpoints go
    with pytest.raises(RuntimeError), hf_checkpoints.work_dir(folder) as d:
        (d / "checkpoint-1").mkdir()
        (d / "checkpoint-1" / "trainer_state.json").write_text("{}")
        raise RuntimeError("killed")
    assert hf_checkpoints.last_checkpoint(folder).endswith("checkpoint-1")  # kept for resume
    assert hf_checkpoints.last_checkpoint(tmp_path / "missing") is None


def test_quiet_hf_restores_verbosity():
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    with hf_resources.quiet_hf():
        assert hf_logging.get_verbosity() == hf_logging.ERROR
    assert hf_logging.get_verbosity() == before


def test_counts():
    model = torch.nn.Linear(4, 2)
    model.bias.requires_grad_(False)
    assert hf_resources.count_parameters(model) == (8, 10)
    assert hf_resources.human_count(22_700_000) == "22.7M" and hf_resources.human_count(999) == "999"


def test_context_inputs_are_truncated_from_the_left_and_saved_that_way(tiny_bert, tmp_path):
    import pandas as pd
    from transformers import AutoTokenizer

    from emotune.data.dataset import EmotionDataset

    tok, _ = tiny_bert
    tok = AutoTokenizer.from_pretrained(tok.name_or_path)
    plain = EmotionDataset("toy", pd.DataFrame({"text": ["a"], "labels": [0]}), SINGLE)
    hf_data.prepare_for_context(tok, plain)
    assert tok.truncation_side == "right"  # no context: the tokenizer's default stays

    with_context = plain.with_frame(plain.frame)
    with_context.info["context"] = {"window": 2}
    hf_data.prepare_for_context(tok, with_context)
    history = " ".join(["joy"] * 40)
    target = "sadness anger"
    ids = tok(history + " >> " + target, truncation=True, max_length=8)["input_ids"]
    # the last tokens before [SEP] are the target utterance, not the start of the history
    assert tok.decode(ids[-3:-1]) == target
    tok.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path).truncation_side == "left"


def test_bitsandbytes_optimizers_are_refused_with_a_message_without_cuda(monkeypatch, tmp_path):
    monkeypatch.setattr(runtime, "cuda_available", lambda: False)
    training = TrainingConfig(optimizer="paged_adamw_32bit")
    with pytest.raises(ConfigError, match="paged_adamw_32bit needs a CUDA GPU") as err:
        hf_args.build_training_args(training, tmp_path, label_set=SINGLE)
    assert "adamw_torch_fused" in err.value.hint
    hf_args.check_optimizer("adamw_torch_fused")  # the default is fine anywhere


def test_timed_checkpoints_save_mid_epoch(tiny_bert, tmp_path):
    """checkpoint_minutes: a checkpoint every N minutes inside an epoch, not only at its end."""
    from transformers import TrainerCallback

    clock = iter(range(0, 10_000, 61))  # each reading one minute and a second after the last
    cb = hf_checkpoints.TimedCheckpointCallback(1, clock=lambda: next(clock))

    class Control:
        should_save = False

    control = cb.on_step_end(None, None, Control())
    assert control.should_save  # a minute passed
    cb.on_save(None, None, control)
    assert not hf_checkpoints.TimedCheckpointCallback(0).on_step_end(None, None, Control()).should_save  # 0: off

    saves = []

    class Spy(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            saves.append(state.global_step)

    tok, model = tiny_bert
    texts, _ = toy_texts(4, labels=SINGLE.names)  # 12 texts, 3 steps of 4
    y = np.repeat(np.arange(3), 4)
    train = hf_data.TokenizedDataset(tok, texts, y, max_length=16)
    training = TrainingConfig(epochs=1, batch_size=4, checkpoint_minutes=1e-9, logging_steps=1,
                              optimizer="adamw_torch", group_by_length=False)
    hf_trainer.run_trainer(model, tok, train, None, label_set=SINGLE, training=training, output_dir=tmp_path / "ck",
                           quiet=True, callbacks=[Spy()])
    assert len(saves) >= 3 and saves == sorted(saves)  # 4 steps in the epoch: saved inside it, not only at its end
