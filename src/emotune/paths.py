"""Where emotune reads data and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path

from emotune.errors import DataError

_REPO_ROOT = Path(__file__).resolve().parents[2]


def data_dir(must_exist: bool = True) -> Path:
    """``$EMOTUNE_DATA_DIR``, else ``../shared/data`` beside the checkout (never inside the repo)."""
    env = os.environ.get("EMOTUNE_DATA_DIR")
    path = Path(env).expanduser() if env else _REPO_ROOT.parent / "shared" / "data"
    if must_exist and not path.is_dir():
        where = "$EMOTUNE_DATA_DIR" if env else "the default location (../shared/data beside the checkout)"
        raise DataError(
            f"Data directory not found: {path}",
            hint=f"It was taken from {where}. Set EMOTUNE_DATA_DIR to the folder that holds the datasets.",
        )
    return path


def cache_dir() -> Path:
    """``$EMOTUNE_CACHE_DIR``, else ``~/.cache/emotune``: converted weights, embeddings."""
    env = os.environ.get("EMOTUNE_CACHE_DIR")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "emotune"
    path.mkdir(parents=True, exist_ok=True)
    return path
