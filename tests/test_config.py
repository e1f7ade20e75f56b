from pathlib import Path

import pytest

from emotune.errors import ConfigError
from emotune.config import (BACKEND_CONFIGS, CausalLMModelConfig, EncoderModelConfig, RunConfig, apply_overrides,
                            parse_model_config)


def test_yaml_round_trip_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    RunConfig(name="x", model=CausalLMModelConfig()).save(path)  # model.lora is a key of causal-lm
    cfg = RunConfig.load(path, ["training.epochs=2", "model.lora.r=16", "data.cap={neutral: 100}"])
    assert cfg.training.epochs == 2 and cfg.model.lora.r == 16 and cfg.data.cap == {"neutral": 100}
    assert cfg.name == "x"


@pytest.mark.parametrize(
    "raw, key, guess",
    [({"trainig": {}}, "trainig", "training"), ({"training": {"epoch": 1}}, "training.epoch", "training.epochs"),
     ({"model": {"lora": {"rank": 4}}}, "model.lora.rank", None)],
)
def test_unknown_keys_name_the_closest_valid_key(raw, key, guess):
    with pytest.raises(ConfigError) as exc:
        RunConfig.from_dict(raw)
    assert f"unknown key '{key}'" in str(exc.value)
    if guess:
        assert f"Did you mean '{guess}'" in str(exc.value)


def test_bad_value_names_the_key():
    with pytest.raises(ConfigError, match="training.batch_size"):
        RunConfig.from_dict({"training": {"batch_size": "many"}})


def test_override_syntax_error():
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides({}, ["training.epochs"])


def test_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        RunConfig.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        RunConfig.load(bad)


def test_a_bare_preset_name_loads_from_any_folder(tmp_path, monkeypatch):
    from emotune.config import PRESETS_DIR, preset_names

    monkeypatch.chdir(tmp_path)
    assert "isear-minilm" in preset_names()
    for name in ("isear-minilm", "isear-minilm.yaml", "goemotions-qwen2.5-1.5b-lora"):
        cfg = RunConfig.load(name, ["training.epochs=1"])
        assert cfg.name == name.removesuffix(".yaml") and cfg.training.epochs == 1
    assert RunConfig.load("isear-minilm") == RunConfig.load(PRESETS_DIR / "isear-minilm.yaml")


def test_a_wrong_preset_name_suggests_the_closest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="not found") as e:
        RunConfig.load("isear-minlm")
    assert "Did you mean 'isear-minilm'?" in str(e.value)
    with pytest.raises(ConfigError, match="not found") as e:  # a path elsewhere names the packaged preset
        RunConfig.load("configs/isear-tfidf.yaml")
    assert "emotune train isear-tfidf" in str(e.value)


def test_configs_is_the_packaged_presets_folder():
    import tomllib
    from fnmatch import fnmatch

    from emotune.config import PRESETS_DIR

    root = Path(__file__).resolve().parents[1]
    assert (root / "configs").resolve() == PRESETS_DIR.resolve()
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["emotune"]
    files = [p.relative_to(PRESETS_DIR.parent).as_posix() for p in PRESETS_DIR.iterdir()]
    assert files and all(any(fnmatch(f, pat) for pat in patterns) for f in files)


def test_every_backend_round_trips_through_yaml(tmp_path):
    for backend, cls in BACKEND_CONFIGS.items():
        cfg = RunConfig(name=backend, model=parse_model_config({"backend": backend}))
        assert type(cfg.model) is cls and cfg.model.backend == backend
        cfg.save(tmp_path / "c.yaml")
        assert RunConfig.load(tmp_path / "c.yaml") == cfg


def test_a_config_without_a_backend_is_tfidf():
    assert RunConfig.from_dict({"model": {"C": 2}}).model.backend == "tfidf"
    assert RunConfig().model.backend == "tfidf"


def test_a_key_of_another_backend_is_refused_naming_the_backend():
    with pytest.raises(ConfigError, match="unknown key 'model.lora.r' for backend 'tfidf'") as e:
        RunConfig.load("isear-tfidf", ["model.lora.r=16"])
    assert "causal-lm" in str(e.value) and "Did you mean 'model." in str(e.value)
    with pytest.raises(ConfigError, match="unknown key 'model.members' for backend 'encoder' .a key of ensemble"):
        RunConfig.from_dict({"model": {"backend": "encoder", "head": "mlp", "members": []}})
    with pytest.raises(ConfigError, match="unknown key 'model.word_ngram' for backend 'tfidf'") as e:
        RunConfig.load("isear-tfidf", ["model.word_ngram=[1, 3]"])
    assert "Did you mean 'model.word_ngrams'?" in str(e.value)
    with pytest.raises(ConfigError, match="unknown backend 'encodr'") as e:
        RunConfig.from_dict({"model": {"backend": "encodr"}})
    assert "Did you mean 'encoder'?" in str(e.value)


# the model section of a config.yaml / emotune_model.json saved by the previous release: every field of
# its flat ModelConfig, whatever the backend
PREVIOUS_RELEASE_MODEL = {
    "backend": "tfidf", "name": None, "head": "linear", "head_hidden": 128, "head_dropout": 0.5,
    "lora": {"enabled": True, "r": 8, "alpha": 16, "dropout": 0.05, "target_modules": None},
    "quantization": "none", "double_quant": True, "gradient_checkpointing": False,
    "input_template": "Classify emotion: {text}", "max_target_length": 10,
    "prompt": {"shots": 0, "system": "s", "instruction": "i {labels}", "max_new_tokens": 8, "length_normalize": False,
               "calibrate": False},
    "instruct": {"tasks": [], "templates_per_task": 3, "max_per_task": None, "template": 0, "file": None},
    "word_ngrams": [1, 2], "char_ngrams": [2, 5], "C": 4.0, "max_features": 200000, "members": [], "combine": "mean",
}


def _as_saved(saved, kept) -> bool:
    """Every value the old config saved is kept (nested sections may have gained keys since)."""
    if isinstance(saved, dict) and isinstance(kept, dict):
        return all(k in kept and _as_saved(v, kept[k]) for k, v in saved.items())
    return saved == (list(kept) if isinstance(kept, tuple) else kept)


@pytest.mark.parametrize("backend", list(BACKEND_CONFIGS))
def test_a_config_saved_by_the_previous_release_still_loads(tmp_path, backend):
    import yaml

    model = {**PREVIOUS_RELEASE_MODEL, "backend": backend, "head": "mlp", "C": 0.5}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"name": "old", "model": model}))
    cfg = RunConfig.load(path)
    assert type(cfg.model) is BACKEND_CONFIGS[backend] and parse_model_config(model) == cfg.model
    kept = cfg.model.model_dump()
    assert all(_as_saved(model[k], v) for k, v in kept.items() if k in model)
    if backend == "instruct":  # a nested key added since (E-c's format): the behaviour of the release that saved it
        assert kept["instruct"]["ec_format"] == "questions"
    assert all(v is None for k, v in kept.items() if k not in model)  # keys added since (init_from): their default
    with pytest.raises(ConfigError, match="unknown key"):  # one foreign key too few: a hand-written config, strict
        RunConfig.from_dict({"model": {k: v for k, v in model.items() if k != "combine"} | {"backend": "lexicon"}})


def test_a_backend_override_drops_the_presets_keys_of_the_old_backend(caplog):
    cfg = RunConfig.load("isear-minilm", ["model.backend=tfidf", "model.C=2"])
    assert cfg.model.backend == "tfidf" and cfg.model.C == 2 and cfg.data.dataset == "isear"
    assert "dropped the preset's model.head" in caplog.text
    with pytest.raises(ConfigError, match="unknown key 'model.head' for backend 'tfidf'"):  # the user's own: refused
        RunConfig.load("isear-minilm", ["model.backend=tfidf", "model.head=mlp"])
    cfg = RunConfig.load("isear-minilm", ["model.backend=embed-head"])  # keys both have stay
    assert (cfg.model.backend, cfg.model.name, cfg.model.head) == ("embed-head", "minilm", "linear")
    assert isinstance(RunConfig.load("isear-minilm", ["model.name=mpnet"]).model, EncoderModelConfig)


def test_a_dataset_override_drops_the_presets_dataset_keys(caplog, tmp_path):
    # the README's own-file command: ISEAR's respondent grouping would break any other file
    cfg = RunConfig.load("isear-tfidf", ["data.dataset=my.csv", "data.text_col=text", "data.label_col=emotion"])
    assert cfg.data.split.group_by is None and (cfg.data.text_col, cfg.data.label_col) == ("text", "emotion")
    assert cfg.data.split.dev == 0.1 and "dropped the config's data.split.group_by" in caplog.text
    # set by the user: kept (and a missing column then says how to fix it)
    cfg = RunConfig.load("isear-tfidf", ["data.dataset=my.csv", "data.split.group_by=writer"])
    assert cfg.data.split.group_by == "writer"
    # the preset's own dataset: everything stays
    assert RunConfig.load("isear-tfidf", ["data.dataset=isear"]).data.split.group_by == "respondent_id"
    assert RunConfig.load("isear-tfidf").data.split.group_by == "respondent_id"
    own = tmp_path / "goemo.yaml"
    own.write_text("data:\n  dataset: goemotions\n  label_map: ekman\n  cap: {neutral: 100}\n"
                   "  options: {x: 1}\n")
    cfg = RunConfig.load(own, ["data.dataset=other.csv"])
    assert (cfg.data.label_map, cfg.data.cap, cfg.data.options) == (None, {}, {})


def test_an_empty_or_non_utf8_config_is_refused(tmp_path):
    empty = tmp_path / "empty.yaml"
    for body in (b"", b"# only a comment\n", b"\n\n"):
        empty.write_bytes(body)
        with pytest.raises(ConfigError, match="empty.yaml is empty"):
            RunConfig.load(empty)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\u00e9\n".encode("cp1252"))
    with pytest.raises(ConfigError, match=r"not valid UTF-8 \(byte 0xe9 on line 1, column 10\)"):
        RunConfig.load(latin)
