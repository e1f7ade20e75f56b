"""What every corpus loader shares: finding its files under the data folder and reading CSV/TSV."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from emotune.errors import DataError
from emotune.paths import data_dir


def source_file(root: Path, *parts: str) -> Path:
    path = root.joinpath(*parts)
    if not path.is_file():
        raise DataError(
            f"Data file not found: {path}",
            hint=f"Check that {root} holds the dataset as described in its SOURCE.md (or set EMOTUNE_DATA_DIR).",
        )
    return path


def folder(data_root: Path | None, name: str) -> Path:
    root = Path(data_root) if data_root is not None else data_dir()
    path = root / name
    if not path.is_dir():
        raise DataError(
            f"Dataset folder not found: {path}",
            hint="Set EMOTUNE_DATA_DIR to the folder that holds the datasets (see `emotune data list`).",
        )
    return path


def read_csv(path: Path, **kw) -> pd.DataFrame:
    try:
        return pd.read_csv(path, encoding="utf-8", keep_default_na=False, **kw)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: cannot be parsed ({exc})") from None


def check_columns(path: Path, frame: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")


def single(labels) -> list[tuple[str, ...]]:
    return [(str(x),) for x in labels]
