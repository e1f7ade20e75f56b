import pytest

from emotune.cli.main import main


def _run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out, out.err


def test_models_list_shows_every_preset(capsys):
    from emotune.models.zoo import PRESETS

    code, out, _ = _run(["models", "list"], capsys)
    assert code == 0
    for name in PRESETS:
        assert name.split("-")[0] in out
    assert "EMOTUNE_ALLOW_DOWNLOADS" in out


def test_models_prepare_unknown_name_is_a_clean_error(capsys):
    code, out, err = _run(["models", "prepare", "minilmm"], capsys)
    assert code == 2
    assert "Unknown model preset 'minilmm'" in err and "Did you mean 'minilm'?" in err
    assert "Traceback" not in err


def test_models_prepare_hub_model_offline_says_how(capsys, monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.delenv("EMOTUNE_ALLOW_DOWNLOADS", raising=False)
    code, _, err = _run(["models", "prepare", "flan-t5-small"], capsys)
    assert code == 2 and "not available offline" in err and "EMOTUNE_ALLOW_DOWNLOADS=1" in err


@pytest.mark.slow
def test_models_prepare_nrc(capsys):
    code, out, _ = _run(["models", "prepare", "nrc", "--no-progress"], capsys)
    assert code == 0 and "nrc: ready" in out
