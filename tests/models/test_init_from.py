"""``model.init_from``: an encoder starts from a finished run's body with a fresh head (transfer)."""

import json

import pytest
import torch

from emotune import runs as rd
from emotune.config import EncoderModelConfig, RunConfig, TrainingConfig
from emotune.data.pipeline import prepare_data
from emotune.errors import ModelError
from emotune.models.encoder import EncoderClassifier
from emotune.training.trainer import train
from tests.fixtures.toy import toy_texts
from tests.tiny_models import build_tiny

TRAINING = dict(epochs=2, batch_size=16, eval_batch_size=32, learning_rate=5e-3, warmup_ratio=0.0, max_length=32,
                threads=1, early_stopping_patience=0)


def _file(tmp_path, name, labels=("joy", "sadness", "anger", "fear")):
    texts, ys = toy_texts(12, labels)
    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "label": y}) for t, y in zip(texts, ys)) + "\n")
    return str(path)


@pytest.fixture
def stage1(tmp_path):
    cfg = RunConfig(name="stage1", output_dir=str(tmp_path / "runs"), data={"dataset": _file(tmp_path, "source")},
                    model={"backend": "encoder", "name": str(build_tiny("bert", tmp_path / "tiny"))},
                    training=TRAINING)
    return train(cfg, progress=False).run_dir


def test_the_body_carries_over_and_the_head_is_fresh(tmp_path, stage1):
    target = _file(tmp_path, "target", ("joy", "sadness", "anger"))  # another label set: 3 labels
    cfg = RunConfig(name="stage2", output_dir=str(tmp_path / "runs"), data={"dataset": target},
                    model={"backend": "encoder", "init_from": str(stage1)}, training=TRAINING)
    data = prepare_data(cfg.data)
    clf = EncoderClassifier(data.label_set, cfg.model, cfg.training)
    clf.build()
    before = rd.Run.open(stage1).load().model.state_dict()
    after = clf.model.state_dict()
    body = [k for k in after if k.startswith("bert.")]
    assert body and all(torch.equal(after[k], before[k]) for k in body)
    assert clf.model.classifier.out_features == 3
    # same label count: the head is still re-initialised, not carried over
    same = EncoderClassifier(rd.load_labels(stage1), cfg.model, cfg.training)
    same.build()
    assert not torch.equal(same.model.classifier.weight, before["classifier.weight"])

    result = train(cfg, progress=False)
    assert result.metrics["init_from"]["run"] == str(stage1) and result.metrics["init_from"]["labels"] == 4
    assert "Initialised from run" in (result.run_dir / rd.CARD_FILE).read_text()
    assert rd.Run.open(result.run_dir).load().predict_proba(["I am happy"]).shape == (1, 3)


def test_init_from_needs_a_finished_encoder_run(tmp_path, toy_data):
    unfinished = tmp_path / "half"
    unfinished.mkdir()
    model = EncoderModelConfig(init_from=str(unfinished))
    with pytest.raises(ModelError, match="not a finished run"):
        EncoderClassifier(toy_data.ISEAR, model, TrainingConfig()).build()
    tfidf = train(RunConfig(name="tfidf", output_dir=str(tmp_path), data={"dataset": "toy-single"}), progress=False)
    with pytest.raises(ModelError, match="'tfidf' run"):
        EncoderClassifier(toy_data.ISEAR, EncoderModelConfig(init_from=str(tfidf.run_dir)), TrainingConfig()).build()


@pytest.mark.slow
def test_the_real_minilm_transfers(tmp_path):
    common = dict(epochs=1, batch_size=16, max_length=32, threads=1, early_stopping_patience=0)
    first = train(RunConfig(name="m1", output_dir=str(tmp_path), data={"dataset": _file(tmp_path, "a")},
                            model={"backend": "encoder", "name": "minilm"}, training=common), progress=False)
    second = train(RunConfig(name="m2", output_dir=str(tmp_path),
                             data={"dataset": _file(tmp_path, "b", ("joy", "sadness", "anger"))},
                             model={"backend": "encoder", "init_from": str(first.run_dir)}, training=common),
                   progress=False)
    assert second.metrics["init_from"]["base_model"] == "minilm" and 0 <= second.metrics["test"]["f1_macro"] <= 1


def test_model_layers_keeps_the_first_layers_of_the_body(tmp_path, stage1):
    """``model.layers=1`` of a 2-layer fine-tuned body: layer 0 and the embeddings carry over, layer 1 is gone,
    and the saved run reloads with one layer."""
    cfg = RunConfig(name="shallow", output_dir=str(tmp_path / "runs"), data={"dataset": _file(tmp_path, "target")},
                    model={"backend": "encoder", "init_from": str(stage1), "layers": 1}, training=TRAINING)
    data = prepare_data(cfg.data)
    clf = EncoderClassifier(data.label_set, cfg.model, cfg.training)
    clf.build()
    before = rd.Run.open(stage1).load().model.state_dict()
    after = clf.model.state_dict()
    assert clf.model.config.num_hidden_layers == 1 and len(clf.model.bert.encoder.layer) == 1
    kept = [k for k in after if k.startswith(("bert.embeddings.", "bert.encoder.layer.0."))]
    assert kept and all(torch.equal(after[k], before[k]) for k in kept)
    assert not any(k.startswith("bert.encoder.layer.1.") for k in after)
    assert any(k.startswith("bert.encoder.layer.1.") for k in before)

    result = train(cfg, progress=False)
    loaded = rd.Run.open(result.run_dir).load()
    assert loaded.model.config.num_hidden_layers == 1
    assert loaded.predict_proba(["I am happy", "so angry"]).shape == (2, 4)


def test_model_layers_beyond_the_body_is_one_clear_error(tmp_path, stage1, toy_data):
    model = EncoderModelConfig(init_from=str(stage1), layers=5)
    with pytest.raises(ModelError, match=r"model.layers=5, but .* has only 2 layers"):
        EncoderClassifier(rd.load_labels(stage1), model, TrainingConfig()).build()
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        EncoderModelConfig(layers=0)


def test_freeze_layers_keeps_the_embeddings_and_lower_layers_as_loaded(tmp_path, toy_data):
    """``model.freeze_layers=1`` of a 2-layer body: the embeddings and layer 0 do not move in training, layer 1
    and the head do; more layers than the body has is one clear error before any training."""
    tiny = str(build_tiny("bert", tmp_path / "tiny"))
    cfg = RunConfig(name="frozen", output_dir=str(tmp_path / "runs"), data={"dataset": "toy-single"},
                    model={"backend": "encoder", "name": tiny, "freeze_layers": 1}, training=TRAINING)
    data = prepare_data(cfg.data)
    clf = EncoderClassifier(data.label_set, cfg.model, cfg.training)
    clf.build()
    before = {k: v.clone() for k, v in clf.model.state_dict().items()}
    clf.fit(data.train, data.dev)
    after = clf.model.state_dict()
    frozen = [k for k in after if k.startswith(("bert.embeddings.", "bert.encoder.layer.0."))]
    trained = [k for k in after if k.startswith(("bert.encoder.layer.1.", "classifier."))]
    assert frozen and all(torch.equal(after[k], before[k]) for k in frozen)
    assert trained and all(not torch.equal(after[k], before[k]) for k in trained if k.endswith("weight"))
    too_many = EncoderClassifier(data.label_set, EncoderModelConfig(name=tiny, freeze_layers=3), cfg.training)
    with pytest.raises(ModelError, match=r"model.freeze_layers=3, but .* has only 2 layers"):
        too_many.build()
