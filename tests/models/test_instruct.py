"""Backend ``instruct`` on a tiny random Llama: trains, answers only valid labels, parses strictly, reloads."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from emotune.data.dataset import EmotionDataset
from emotune.data.instruct import EC_EMOTIONS, checklist_answer, parse_checklist, task_label_set, write_instructions
from emotune.errors import ConfigError, DataError, ModelError
from emotune.models.base import load_classifier
from emotune.evaluation.instruct import evaluate_view
from emotune.models.hf.checkpoints import last_checkpoint
from emotune.models.instruct import InstructClassifier
from emotune.models.instruct_prompt import Prompter
from emotune.config import InstructModelConfig, TrainingConfig, parse_model_config
from tests.tiny_models import build_tiny

# short wordings keep the tiny model's prompts (a byte-level vocabulary of 400) well under its 256 positions
SHORT = {"ec": ["Is there {emotion}? yes or no."], "ei-reg": ["{emotion} intensity 0-1?"],
         "ei-oc": ["{emotion} class 0-3?"], "v-reg": ["Valence 0-1?"], "v-oc": ["Valence class -3..3?"]}
TEXTS = ["I am so happy today", "He lied and I was furious", "I fear the dark street", "My dog died, I cried",
         "We won the match", "They cheated again", "A big dog ran at me", "I miss my grandmother"]
LABELS = [["joy", "optimism"], ["anger", "disgust"], ["fear"], ["sadness"], ["joy"], ["anger"], ["fear"], ["sadness"]]


def _configs(base, **training):
    mc = InstructModelConfig(name=str(base), lora={"r": 4, "alpha": 8})
    tc = TrainingConfig(**{"epochs": 2, "batch_size": 32, "eval_batch_size": 32, "learning_rate": 1e-2,
                           "max_length": 160, "warmup_ratio": 0.0, "early_stopping_patience": 0, "seed": 0,
                           "threads": 2, **training})
    return mc, tc


def ec_data(n_repeat: int = 1, split: str = "train") -> EmotionDataset:
    ds = EmotionDataset.from_texts(TEXTS * n_repeat, LABELS * n_repeat, task_label_set("ec"), name="semeval-ec",
                                   split=split)
    ds.frame["tweet_id"] = [f"{split}-{i}" for i in range(len(ds))]
    return ds


def make(base, task="ec", **training) -> InstructClassifier:
    clf = InstructClassifier(task_label_set(task), *_configs(base, **training))
    clf.templates = {k: list(v) for k, v in SHORT.items()}
    return clf


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return build_tiny("llama", tmp_path_factory.mktemp("llama"))


@pytest.fixture(scope="module")
def trained(tiny_llama, tmp_path_factory):
    """An E-c view trained for 2 epochs (88 yes/no rows, 3 steps each), with epoch checkpoints."""
    clf = make(tiny_llama)
    folder = tmp_path_factory.mktemp("ckpt")
    history = clf.fit(ec_data(), ec_data(split="dev").subset(range(4)), output_dir=folder)
    return clf, history, folder


def test_training_runs_and_reports_history(trained):
    clf, history, folder = trained
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(math.isfinite(row["train_loss"]) for row in history)
    assert history[1]["train_loss"] < history[0]["train_loss"]  # the loss on the answer tokens goes down
    assert history[0]["rows"] == {"ec": 8 * 11}
    assert "dev_f1_macro" in history[0]
    state = json.loads((Path(last_checkpoint(folder)) / "trainer_state.json").read_text())
    assert state["epoch"] == 2 and state["global_step"] == 6  # the shared Trainer's checkpoint, kept for resume
    assert clf.trained_tasks == ["ec"]


def test_loss_is_on_the_answer_only(tiny_llama):
    clf = make(tiny_llama)
    clf.build()
    feat = clf._features({"instruction": "Valence 0-1?", "input": "I am happy", "output": "0.900"})
    answer = [i for i in feat["labels"] if i != -100]
    assert answer == clf.prompter.answer_ids("0.900") + [clf.prompter.eos_id]
    assert feat["input_ids"][-len(answer):] == answer
    assert len(feat["labels"]) == len(feat["input_ids"])


def test_batched_loss_equals_the_models_own_loss_on_each_row(tiny_llama):
    """Left-padded batches and the LM head on the answer positions only give the model's own loss (the mean
    answer-token NLL), whatever the prompt and answer lengths in the batch."""
    import torch

    from emotune.models.hf.loss import _keeps_logits, answer_lm_loss
    from emotune.models.instruct_prompt import AnswerCollator

    clf = make(tiny_llama)
    clf.build()
    rows = [{"instruction": "Valence 0-1?", "input": "I am happy", "output": "0.900"},
            {"instruction": "Is there joy? yes or no.", "input": "We won the match, finally, after years",
             "output": "yes"},
            {"instruction": "Valence class -3..3?", "input": "Sad", "output": "-2"},
            # an E-c checklist: its "anger:" slots are given inside the answer (-100), its yes/no answers learned
            {"task": "ec", "instruction": "Which emotions?", "input": "We won", "output": checklist_answer(["joy"])}]
    feats = [clf._features(r) for r in rows]
    batch = AnswerCollator(clf.tokenizer.pad_token_id)(feats)
    assert batch["input_ids"].shape[1] == max(len(f["input_ids"]) for f in feats)
    assert (batch["labels"][:, -1] != -100).all()  # every answer ends the batch (left padding)
    model = clf.model.eval()
    assert _keeps_logits(model)  # the PEFT-wrapped Llama: the LM head runs on the answer positions only
    with torch.no_grad():
        loss, _ = answer_lm_loss(model, batch)
        nll, tokens = 0.0, 0
        for f in feats:  # the model's own loss, one unpadded row at a time, weighted by its answer tokens
            n = sum(1 for t in f["labels"] if t != -100)
            out = model(input_ids=torch.tensor([f["input_ids"]]), labels=torch.tensor([f["labels"]]))
            nll, tokens = nll + float(out.loss) * n, tokens + n
    assert float(loss) == pytest.approx(nll / tokens, rel=1e-4)


def test_classification_answers_are_always_valid_labels(trained):
    clf, _, _ = trained
    texts = ["completely unrelated words", "", "I passed my exam!!!"]
    proba = clf.predict_proba(texts)
    assert proba.shape == (3, len(EC_EMOTIONS)) and ((proba >= 0) & (proba <= 1)).all()
    assert all(set(labs) <= set(EC_EMOTIONS) for labs in clf.predict(texts))
    for task in ("v-oc", "ei-oc"):
        view = clf.view(task, emotion="joy" if task == "ei-oc" else None)
        p = view.predict_proba(texts)
        assert p.shape == (3, len(view.label_set)) and np.allclose(p.sum(axis=1), 1.0)
        assert all(lab in view.label_set.names for lab in view.predict(texts))


def test_ei_views_need_the_emotion(trained):
    clf, _, _ = trained
    view = clf.view("ei-oc")
    assert view.predict_proba(["anger: so annoying"]).shape == (1, 4)
    with pytest.raises(ModelError, match="needs the emotion"):
        view.predict_proba(["so annoying"])
    with pytest.raises(ConfigError, match="Unknown emotion"):
        clf.view("ei-reg", emotion="love")


def test_regression_answers_are_parsed_strictly_and_invalid_ones_counted(trained):
    clf, _, _ = trained
    view = clf.view("v-reg")
    texts = ["I am so happy today", "My dog died"]
    values, valid = view.predict_values(texts)
    # an E-c-only tiny model does not write numbers: every answer is invalid, none is guessed
    answers = view.last_answers
    assert len(answers) == 2 and not valid.any() and np.isnan(values).all()
    served = view.predict_proba(texts)
    assert np.allclose(served, 0.5) and view.invalid_stats["invalid"] >= 4
    ds = EmotionDataset.from_texts(texts, [0.9, 0.1], task_label_set("v-reg"))
    res = evaluate_view(view, ds)
    assert res["invalid"] == 2 and res["invalid_rate"] == 1.0
    assert res["metrics"]["mae"] == pytest.approx(0.9)  # worst case: 0.9 -> 0.0 and 0.1 -> 1.0
    assert res["metrics_as_served"]["mae"] == pytest.approx(0.4)


def test_save_and_load_give_identical_predictions(trained, tmp_path):
    clf, _, _ = trained
    clf.thresholds = np.full(len(EC_EMOTIONS), 0.4)
    clf.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "adapter_model.safetensors").is_file()
    assert not list((tmp_path / "model").glob("*.bin")) and not list((tmp_path / "model").glob("*.pt"))
    texts = ["I am so happy today", "They cheated again", "fear and anger"]
    again = load_classifier(tmp_path / "model")
    assert isinstance(again, InstructClassifier) and again.task_name == "ec"
    np.testing.assert_allclose(again.predict_proba(texts), clf.predict_proba(texts), atol=1e-6)
    np.testing.assert_allclose(again.thresholds, 0.4)
    assert again.templates == clf.templates
    voc = load_classifier(tmp_path / "model", task="v-oc")
    assert voc.thresholds is None and voc.label_set.names == ("-3", "-2", "-1", "0", "1", "2", "3")
    np.testing.assert_allclose(voc.predict_proba(texts), clf.view("v-oc").predict_proba(texts), atol=1e-6)
    assert load_classifier(tmp_path / "model", task="v-reg").generate(texts) == clf.view("v-reg").generate(texts)


def test_resume_continues_after_the_last_epoch(tiny_llama, trained):
    _, history, folder = trained
    clf = make(tiny_llama, epochs=3)
    more = clf.fit(ec_data(), ec_data(split="dev").subset(range(4)), output_dir=folder, resume=True)
    # epochs 1-2 came from the checkpoint (as for every Trainer backend, their rows are returned again)
    assert [row["epoch"] for row in more] == [1, 2, 3]
    assert [row["train_loss"] for row in more[:2]] == [row["train_loss"] for row in history]
    assert last_checkpoint(folder).endswith("checkpoint-9")


def test_multi_task_rows_from_an_instruction_file(tiny_llama, tmp_path):
    rows = [{"id": f"v-reg:train:x{i}", "task": "v-reg", "instruction": "Valence 0-1?", "input": t,
             "output": f"{v:.3f}", "label_set": None, "split": "train", "source_id": f"x{i}"}
            for i, (t, v) in enumerate(zip(TEXTS, np.linspace(0.1, 0.9, len(TEXTS))))]
    path = tmp_path / "extra.jsonl"
    write_instructions(rows, path)
    clf = make(tiny_llama, epochs=1, max_steps=1)
    clf.model_config = _with_instruct(clf.model_config, file=str(path))
    history = clf.fit(ec_data(), None)
    assert history[0]["rows"] == {"ec": 88, "v-reg": 8}
    assert clf.trained_tasks == ["ec", "v-reg"]
    # a dev/test split row may never be mixed into training
    write_instructions([{**rows[0], "split": "test"}], path)
    with pytest.raises(DataError, match="only train rows"):
        _fit_with(tiny_llama, path)


def _with_instruct(mc, **instruct):
    return parse_model_config({**mc.model_dump(), "instruct": instruct})


def _fit_with(base, path):
    clf = make(base, epochs=1)
    clf.model_config = _with_instruct(clf.model_config, file=str(path))
    clf.fit(ec_data(), None)


def test_extra_tasks_refused_for_a_dataset_that_overlaps_semeval(tiny_llama):
    from emotune.data.labels import LabelSet, Task

    wassa = LabelSet(("intensity",), Task.REGRESSION, name="wassa2017")
    mc, tc = _configs(tiny_llama)
    clf = InstructClassifier(wassa, _with_instruct(mc, tasks=["ec"]), tc, emotion="anger")
    ds = EmotionDataset.from_texts(TEXTS, np.linspace(0, 1, 8), wassa)
    with pytest.raises(ConfigError, match="leak"):
        clf.fit(ds, None)


def test_prompt_cuts_the_text_never_the_instruction(tiny_llama):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    p = Prompter(tok, "sys", max_length=80)
    ids = p.prompt_ids("Valence 0-1?", "word " * 200, reserve=5)
    assert len(ids) <= 75 and "Valence" in tok.decode(ids) and "Response" in tok.decode(ids)
    with pytest.raises(ConfigError, match="max_length"):
        Prompter(tok, "sys", max_length=20).prompt_ids("Valence 0-1? " * 5, "text")


def test_long_texts_are_windowed_to_the_room_the_prompt_leaves(trained):
    from emotune.inference.predict import predict_texts

    clf, _, _ = trained
    assert 8 < clf.max_length < clf.training_config.max_length  # the instruction takes its share
    pred = predict_texts(clf, ["I was so happy and then furious " * 40])[0]
    assert pred.windows > 1 and all(lab in EC_EMOTIONS for lab in pred.labels)


def test_ec_as_a_checklist_trains_on_one_row_a_tweet_and_reloads(tiny_llama, tmp_path):
    mc, tc = _configs(tiny_llama)
    mc.instruct.ec_format = "checklist"
    clf = InstructClassifier(task_label_set("ec"), mc, tc)
    clf.templates = {**{k: list(v) for k, v in SHORT.items()}, "ec": ["Which emotions? yes or no each."]}
    history = clf.fit(ec_data(), ec_data(split="dev").subset(range(4)))
    assert history[0]["rows"] == {"ec": 8} and "dev_f1_macro" in history[0]  # 8 tweets, not 88 questions
    feat = clf._features({"task": "ec", "instruction": "Which emotions?", "input": "We won",
                          "output": checklist_answer(["joy", "optimism"])})
    learned = [t for t in feat["labels"] if t != -100]
    checklist = parse_checklist(checklist_answer(["joy", "optimism"]))
    yes, no = clf.tokenizer(" yes", add_special_tokens=False)["input_ids"], clf.tokenizer(
        " no", add_special_tokens=False)["input_ids"]
    assert learned == [t for v in checklist.values() for t in (yes if v else no)] + [clf.prompter.eos_id]
    texts = ["I am so happy today", "They cheated again", "fear and anger"]
    proba = clf.predict_proba(texts)
    assert proba.shape == (3, len(EC_EMOTIONS)) and ((proba > 0) & (proba < 1)).all()
    clf.save_pretrained(tmp_path / "model")
    again = load_classifier(tmp_path / "model")
    assert again.ec_format == "checklist" and again.templates["ec"] == ["Which emotions? yes or no each."]
    np.testing.assert_allclose(again.predict_proba(texts), proba, atol=1e-6)
    # another task's view of the same weights keeps the format its E-c was trained in
    assert again.view("v-oc").view("ec").ec_format == "checklist"
