"""Crash-safe writes: a reader (or the next run after a ``kill -9`` or a power cut) sees a file or a
folder either as it was or as it is meant to be, never half written.

- :func:`write_text` / :func:`write_bytes`: a temporary file beside the target (same file system),
  flushed and fsynced, renamed over the target, then the folder fsynced (a rename is durable only
  once its folder is). The temporary file gets the mode a plain ``open`` would give (umask).
- :func:`swap_dir`: put a finished folder in place of another in one step. On Linux it is
  ``renameat2(RENAME_EXCHANGE)``: both names always exist, so no moment leaves the target
  missing; elsewhere two renames, with :func:`recover_swap` to finish or undo them after a crash.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import secrets
import shutil
from pathlib import Path

_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{8}\.tmp")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def fsync_dir(path: str | Path) -> None:
    """Make the renames and creations inside ``path`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_path(path: str | Path, tag: str = "tmp") -> Path:
    """A hidden, unique sibling of ``path`` (``.NAME.<random>.tmp``): never mistaken for a result."""
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.{tag}")


def remove_temps(folder: str | Path) -> list[Path]:
    """Delete the temporary files that killed writers left under ``folder`` (for a folder with one writer)."""
    gone = []
    for path in Path(folder).rglob(".*.tmp"):
        if path.is_file() and _TEMP_NAME.fullmatch(path.name):
            path.unlink(missing_ok=True)
            gone.append(path)
    return gone


def replace(src: str | Path, dst: str | Path) -> None:
    """``os.replace`` made durable: ``src`` fsynced before, the folder after."""
    fsync_file(src)
    os.replace(src, dst)
    fsync_dir(Path(dst).parent)


def fsync_file(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably."""
    path = Path(path)
    tmp = temp_path(path)
    # os.open with 0o666 honours the umask, as open(path, "w") does (mkstemp would give 0600)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2``); False where the system cannot."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def swap_dir(new: str | Path, target: str | Path, trash: str | Path) -> None:
    """Put the folder ``new`` at ``target``; whatever was at ``target`` is deleted.

    ``trash`` (a sibling name) holds the old folder between the two renames of the fallback;
    :func:`recover_swap` knows what to do with it after a crash.
    """
    new, target, trash = Path(new), Path(target), Path(trash)
    fsync_dir(new)
    if not target.exists():
        os.rename(new, target)
    elif _exchange(new, target):
        shutil.rmtree(new)  # the old folder, under the staging name now
    else:
        os.rename(target, trash)
        os.rename(new, target)
        shutil.rmtree(trash, ignore_errors=True)
    fsync_dir(target.parent)


def recover_swap(target: str | Path, trash: str | Path) -> None:
    """After a crash inside :func:`swap_dir`'s fallback: the old folder back if the new one is not in place."""
    target, trash = Path(target), Path(trash)
    if not trash.exists():
        return
    if target.exists():
        shutil.rmtree(trash)  # the new folder was in place: only the old one's removal was left
    else:
        os.rename(trash, target)
