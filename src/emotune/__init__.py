"""emotune: build, compare and serve text emotion classifiers."""

from emotune._version import __version__
from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.errors import EmotuneError

__all__ = ["__version__", "EmotionDataset", "EmotuneError", "LabelSet", "Task", "load_dataset", "load_run"]


def load_dataset(name: str, **kwargs) -> EmotionDataset:
    """Load a built-in dataset by name (see ``emotune data list``) or a user file path."""
    from emotune.data.registry import load_dataset as _load

    return _load(name, **kwargs)


def load_run(run_dir, **kwargs):
    """Load the classifier stored in a run directory (or a bare model directory)."""
    from emotune.runs import Run

    return Run.open(run_dir).load(**kwargs)
