from pathlib import Path

import pytest

from emotune.errors import ConfigError
from emotune.config import RunConfig, apply_overrides


def test_yaml_round_trip_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    RunConfig(name="x").save(path)
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
