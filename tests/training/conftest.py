import pytest

from tests.training import toy


@pytest.fixture
def toy_data(monkeypatch):
    """Route data preparation to the in-memory toy sets: ``data.dataset`` = toy-single/-multi/-regression."""
    from emotune.training import trainer

    real = trainer.prepare

    def fake_prepare(config):
        name = config.data.dataset
        if name.startswith("toy-"):
            return toy.prepared(name.removeprefix("toy-"))
        return real(config)

    monkeypatch.setattr(trainer, "prepare", fake_prepare)
    return toy
