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
