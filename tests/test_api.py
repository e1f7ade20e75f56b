"""The lazy public API of ``import emotune`` and the README's Python example."""

import re
import subprocess
import sys
from pathlib import Path

import emotune

README = Path(__file__).resolve().parents[1] / "README.md"
PUBLIC = ["load_dataset", "load_run", "train", "evaluate", "RunConfig", "EmotionClassifier", "LabelSet", "Task",
          "EmotionDataset", "EmotuneError", "__version__"]


def test_import_emotune_imports_nothing_heavy():
    code = ("import sys, emotune; emotune.__version__; emotune.EmotuneError; "
            "print(sorted(m for m in ('torch', 'sklearn', 'pandas', 'transformers', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_public_names_resolve_to_the_real_objects():
    from emotune.config import RunConfig
    from emotune.data.labels import Task
    from emotune.models.base import EmotionClassifier
    from emotune.runs import load_run
    from emotune.training.trainer import train

    assert set(PUBLIC) <= set(emotune.__all__) and set(PUBLIC) <= set(dir(emotune))
    assert (emotune.RunConfig, emotune.Task, emotune.EmotionClassifier) == (RunConfig, Task, EmotionClassifier)
    assert (emotune.train, emotune.load_run) == (train, load_run)
    assert all(getattr(emotune, name) is not None for name in PUBLIC)
    try:
        emotune.no_such_name
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown attribute must raise AttributeError")


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    block = re.search(r"```python\n(import emotune\n.*?)```", README.read_text(encoding="utf-8"), re.S).group(1)
    preset = 'RunConfig.load("isear-tfidf")'
    assert preset in block
    # the same example on a 600-row sample of ISEAR train (seconds instead of a minute on 2 cores)
    block = block.replace(preset, 'RunConfig.load("isear-tfidf", ["data.max_train=600"])')
    monkeypatch.chdir(tmp_path)  # the run directory goes to ./runs
    scope: dict = {}
    exec(compile(block, str(README), "exec"), scope)
    assert (tmp_path / "runs" / "isear-tfidf" / "metrics.json").is_file()
    labels = scope["data"].label_set.names
    assert scope["clf"].predict(["My friend lied to me."])[0] in labels
    assert 0.2 < scope["report"]["metrics"]["f1_macro"] < 0.9
