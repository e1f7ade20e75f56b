import json
import os

import pytest

from emotune.config import RunConfig
from emotune.training.parallel import FoldRun, cache_primers, default_jobs, dependencies, run_cost, start_order


def _cfg(**model) -> RunConfig:
    return RunConfig.from_dict({"model": model})


def test_longest_runs_start_first():
    lora = _cfg(backend="causal-lm", name="smollm2")
    mpnet = _cfg(backend="encoder", name="mpnet")
    minilm = _cfg(backend="encoder", name="minilm")
    tfidf = _cfg(backend="tfidf")
    costs = [run_cost(c) for c in (lora, mpnet, minilm, tfidf)]
    assert costs == sorted(costs, reverse=True) and costs[2] > costs[3]


def test_instruct_cost_counts_the_other_tasks_items():
    def instruct(tasks):
        return RunConfig.from_dict({"data": {"max_train": 160}, "model": {
            "backend": "instruct", "name": "smollm2", "instruct": {"tasks": tasks, "max_per_task": 600}}})
    alone, mix = run_cost(instruct([])), run_cost(instruct(["ec", "ei-reg", "ei-oc", "v-reg", "v-oc"]))
    assert mix == alone * (160 + 4 * 600) / 160


def test_a_run_others_wait_for_starts_before_bigger_independent_runs():
    # instruct-multi looks cheap alone, but four views wait for it: it starts first, its views last
    costs = {"multi": 3.0, "single-a": 3.5, "single-b": 3.5, **{f"view-{i}": 1.0 for i in range(4)}}
    deps = {n: ({"multi"} if n.startswith("view") else set()) for n in costs}
    order = start_order(costs, deps)
    assert order[0] == "multi" and order[1:3] == ["single-a", "single-b"]
    assert set(order[3:]) == {f"view-{i}" for i in range(4)}
    chain = start_order({"a": 1.0, "b": 1.0, "c": 1.0, "x": 2.5}, {"a": set(), "b": {"a"}, "c": {"b"}, "x": set()})
    assert chain == ["a", "x", "b", "c"]  # a -> b -> c is 3 long: a goes before x (2.5)


def test_a_run_that_loads_another_waits_for_it(tmp_path):
    runs = {"instruct-multi": tmp_path / "runs" / "instruct-multi", "other": tmp_path / "runs" / "other"}
    view = _cfg(backend="instruct", name=str(tmp_path / "runs" / "instruct-multi"))
    ens = _cfg(backend="ensemble", members=[str(runs["other"]), str(runs["instruct-multi"])])
    assert dependencies(view, runs) == {"instruct-multi"}
    assert dependencies(ens, runs) == {"other", "instruct-multi"}
    assert dependencies(_cfg(backend="encoder", name="minilm"), runs) == set()
    stage2 = _cfg(backend="encoder", name="minilm", init_from=str(runs["other"]))  # transfer: after its stage 1
    assert dependencies(stage2, runs) == {"other"}


def test_later_seeds_of_a_frozen_embedding_model_wait_for_its_first(tmp_path):
    from types import SimpleNamespace

    def spec(run, seed, **model):
        cfg = RunConfig.from_dict({"name": run, "model": model, "training": {"seed": seed}})
        return SimpleNamespace(config=cfg, run_dir=tmp_path / run)

    minilm = [spec(f"embed-head-s{s}", s, backend="embed-head", name="minilm") for s in (42, 43, 44)]
    smollm2 = [spec(f"features-s{s}", s, backend="embed-head", name="smollm2") for s in (42, 43)]
    other = [spec("tfidf-s42", 42, backend="tfidf"), spec("tfidf-s43", 43, backend="tfidf")]
    wait = cache_primers(minilm + smollm2 + other)
    first, first_smol = str(minilm[0].run_dir), str(smollm2[0].run_dir)
    assert wait == {str(minilm[1].run_dir): {first}, str(minilm[2].run_dir): {first},
                    str(smollm2[1].run_dir): {first_smol}}
    # another split (a sample of train) embeds other texts: its own first seed; folds carry their own data
    sampled = spec("embed-head-10k-s43", 43, backend="embed-head", name="minilm")
    sampled.config = RunConfig.from_dict({"name": "x", "data": {"max_train": 10000},
                                          "model": {"backend": "embed-head", "name": "minilm"}})
    folds = [FoldRun(minilm[0].config, tmp_path / f"fold_{i}", data=object()) for i in range(2)]
    assert cache_primers([minilm[0], sampled, *folds]) == {}


def test_default_jobs_is_the_cpus_this_process_may_use():
    assert default_jobs() == len(os.sched_getaffinity(0))


def test_a_worker_reuses_a_run_that_finished_meanwhile(tmp_path, toy_data):
    """Another process finished the run after the suite listed it: the worker reuses it instead of retraining
    (`train(overwrite=True)` would replace it); a changed config is still retrained."""
    from emotune.training.parallel import _train_in_worker
    from emotune.experiments.suites import RunSpec
    from emotune.training.trainer import train

    cfg = RunConfig(name="t", data={"dataset": "toy-single"}, model={"backend": "tfidf"})
    run_dir = tmp_path / "runs" / "t"
    train(cfg, run_dir, progress=False)
    stamp = (run_dir / "metrics.json").stat().st_mtime_ns
    spec = RunSpec("tfidf", None, cfg, run_dir)
    assert _train_in_worker(spec) == {"status": "done", "reused": True, "core": None, "seconds": 0.0}
    assert (run_dir / "metrics.json").stat().st_mtime_ns == stamp
    changed = RunSpec("tfidf", None, cfg.model_copy(update={"model": cfg.model.model_copy(update={"C": 0.5})}),
                      run_dir)
    assert _train_in_worker(changed)["status"] == "done"
    assert (run_dir / "metrics.json").stat().st_mtime_ns != stamp
