"""The affect suites (meld, emorynlp, ei-reg, emobank, instruct) and their cross-contamination check."""

from pathlib import Path

import pytest
import yaml

from emotune.errors import ConfigError, DataError
from emotune.experiments.contamination import assert_no_cross_contamination, training_sources
from emotune.experiments.suites import INSTRUCT_BUDGET, INSTRUCT_VIEWS, SUITES, instruct_pairs, suite_configs
from emotune.models.registry import BACKENDS
from emotune.config import RunConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRESETS = ["meld-minilm", "meld-mpnet", "meld-minilm-context", "meld-minilm-context-balanced", "meld-tfidf", "emorynlp-minilm",
           "emorynlp-minilm-context", "emorynlp-tfidf", "ei-reg-minilm", "ei-reg-tfidf", "emobank-minilm",
           "emobank-tfidf", "instruct-smollm2", "instruct-smollm2-quick", "instruct-smollm2-cpu"]


@pytest.mark.parametrize("stem", PRESETS)
def test_presets_parse(stem):
    cfg = RunConfig.load(CONFIGS / f"{stem}.yaml")
    assert cfg.name == stem and cfg.description and cfg.model.backend in BACKENDS


def test_preset_details():
    assert RunConfig.load(CONFIGS / "meld-minilm.yaml").data.context.window == 0
    assert RunConfig.load(CONFIGS / "meld-minilm-context.yaml").data.context.window == 3
    bal = RunConfig.load(CONFIGS / "meld-minilm-context-balanced.yaml")
    assert bal.data.cap == {"neutral": 2000} and bal.training.class_weights
    ei = RunConfig.load(CONFIGS / "ei-reg-minilm.yaml")
    assert (ei.data.dataset, ei.data.options, ei.data.text_prefix_col) == ("semeval-ei-reg", {"emotion": "all"}, "emotion")
    ins = RunConfig.load(CONFIGS / "instruct-smollm2.yaml")
    assert ins.model.instruct.tasks == ["ec", "ei-reg", "ei-oc", "v-reg", "v-oc"] and ins.model.lora.enabled


AFFECT = sorted(n for n, s in SUITES.items() if s.check_contamination)  # meld, emorynlp, ei-reg, emobank, instruct


def test_the_affect_suites():
    assert AFFECT == ["ei-reg", "emobank", "emorynlp", "instruct", "meld"]


def test_meld_gives_mpnet_one_seed_and_says_so(tmp_path):
    configs = {c.name: c for c in suite_configs("meld", out_dir=tmp_path)}
    assert "meld-mpnet" in configs and not any(n.startswith("meld-mpnet-s") for n in configs)
    assert configs["meld-mpnet"].model.name == "mpnet" and configs["meld-mpnet"].data.max_train is None
    from emotune.experiments.suites import build_suite
    runs = build_suite("meld", out_dir=tmp_path).runs
    note = next(r.note for r in runs if r.key == "mpnet")
    # the preset's description goes on into the note as one sentence (its full stop dropped)
    assert note.startswith("all-mpnet-base-v2 on MELD") and "cross-entropy); 1 seed" in note
    assert ".;" not in " ".join(r.note for r in runs)


@pytest.mark.parametrize("name", AFFECT)
@pytest.mark.parametrize("quick", [False, True])
def test_suites_return_named_configs(name, quick, tmp_path):
    configs = suite_configs(name, quick=quick, out_dir=tmp_path)
    names = [c.name for c in configs]
    assert len(names) == len(set(names)) and all(Path(c.output_dir) == tmp_path / "runs" for c in configs)
    if quick:
        assert all(c.data.max_train and c.data.max_train <= 300 for c in configs)
        assert all(c.training.epochs <= 1 for c in configs if c.model.backend != "tfidf")
    elif name != "instruct":
        assert len({c.training.seed for c in configs}) == 3  # neural runs get three seeds


@pytest.mark.parametrize("quick", [True, False])
def test_instruct_suite_trains_once_then_evaluates_each_task(tmp_path, quick):
    configs = suite_configs("instruct", quick=quick, out_dir=tmp_path)
    assert [c.name for c in configs] == ["instruct-multi", *(f"instruct-multi-{v}" for v in INSTRUCT_VIEWS),
                                         "instruct-single-ec", *(f"instruct-single-{v}" for v in INSTRUCT_VIEWS)]
    first, views, singles = configs[0], configs[1:5], configs[5:]
    n_ec, n_task, n_eval = INSTRUCT_BUDGET[quick]
    assert first.training.epochs == 1 and first.model.instruct.tasks and first.data.max_train == n_ec
    assert first.model.instruct.max_per_task == n_task
    run_dir = str(tmp_path / "runs" / first.name)
    datasets = ["semeval-ei-reg", "semeval-ei-oc", "semeval-v-reg", "semeval-v-oc"]
    assert [c.data.dataset for c in views] == datasets
    assert all(c.model.name == run_dir and c.training.epochs == 0 and not c.model.instruct.tasks for c in views)
    assert views[0].data.text_prefix_col == "emotion"
    # single-task counterparts: the same base model, LoRA and epochs, one task, the same rows of it
    assert [c.data.dataset for c in singles] == ["semeval-ec", *datasets]
    for c in singles:
        assert c.model.name == first.model.name and c.model.lora == first.model.lora and not c.model.instruct.tasks
        assert c.training.epochs == first.training.epochs and c.training.learning_rate == first.training.learning_rate
        assert c.model.instruct.ec_format == first.model.instruct.ec_format  # E-c asked the same way
    assert [c.data.max_train for c in singles] == [n_ec] + [n_task] * 4
    # every pair is scored on the same fixed test sample
    assert {c.data.max_eval for c in configs} == {n_eval} and len({c.data.split.seed for c in configs}) == 1
    assert instruct_pairs([c.name for c in configs]) == [
        ("ec", "instruct-multi", "instruct-single-ec"),
        *((v, f"instruct-multi-{v}", f"instruct-single-{v}") for v in INSTRUCT_VIEWS)]
    # a view learns from what the trained run learnt from; a single-task run only from its own task
    sources = training_sources(views[0], {run_dir: first})
    assert {s for s, _ in sources} >= {"semeval-ec", "semeval-v-oc", "semeval-ei-reg"}
    assert [s for s, _ in training_sources(singles[1])] == ["semeval-ei-reg"]


def test_ei_reg_suite_is_clean(tmp_path):
    report = assert_no_cross_contamination(suite_configs("ei-reg", quick=True, out_dir=tmp_path))
    assert all(e["test"] == "semeval-ei-reg" and e["sources"] == ["semeval-ei-reg"] and e["checked_texts"] > 0
               for e in report.values())
    with pytest.raises(ConfigError, match="Unknown benchmark suite") as e:
        suite_configs("ei_regg")
    assert "Did you mean 'ei-reg'?" in str(e.value)


def test_wassa_and_semeval_never_meet(tmp_path):
    cfg = suite_configs("ei-reg", quick=True, out_dir=tmp_path)[0]
    raw = cfg.model_dump(mode="json")
    # an instruct model trained on SemEval tasks, tested on WASSA-2017 (= SemEval EI train): refused
    bad = RunConfig.from_dict({**raw, "data": {"dataset": "wassa2017"},
                               "model": {"backend": "instruct", "name": "smollm2", "instruct": {"tasks": ["ei-oc"]}}})
    with pytest.raises(ConfigError, match="tested on wassa2017 .* learns from semeval-ei-oc"):
        assert_no_cross_contamination([bad], check_texts=False)
    # starting from a run trained on WASSA and testing on SemEval: refused too
    parent = tmp_path / "wassa-run"
    parent.mkdir()
    (parent / "config.yaml").write_text(yaml.safe_dump({**raw, "data": {"dataset": "wassa2017"}}), encoding="utf-8")
    child = RunConfig.from_dict({**raw, "model": {"backend": "encoder", "name": str(parent)}})
    with pytest.raises(ConfigError, match="learns from wassa2017"):
        assert_no_cross_contamination([child], check_texts=False)


def test_text_overlap_through_a_parent_run_is_caught(tmp_path):
    # A run that starts from a model trained on a user file which holds SemEval E-c test tweets
    # would be scored on tweets it has seen.
    import csv

    from emotune.data.registry import load_dataset

    tweets = load_dataset("semeval-ec").split("test").frame["text_original"].tolist()[:40]
    data = tmp_path / "mine.csv"
    with open(data, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows([t, ("pos", "neg")[i % 2]] for i, t in enumerate(tweets))
    parent = tmp_path / "my-run"
    parent.mkdir()
    (parent / "config.yaml").write_text(RunConfig.from_dict(
        {"data": {"dataset": str(data), "text_col": "text", "label_col": "label"}}).to_yaml(), encoding="utf-8")
    child = RunConfig.from_dict({"name": "ec-from-mine", "data": {"dataset": "semeval-ec"},
                                 "model": {"backend": "encoder", "name": str(parent)}})
    with pytest.raises(DataError, match=r"test text\(s\) of semeval-ec also occur in its train split \(.*mine.csv\) "
                                        r"of the run it starts from"):
        assert_no_cross_contamination([child])
    # the same run tested on its own data is fine
    assert assert_no_cross_contamination([RunConfig.from_dict({"name": "ec", "data": {"dataset": "semeval-ec"}})])
