"""Atomic file writes: nothing a user saved is lost to a crash or an error mid-write."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator


_WRITE_MODES = ("w", "wb", "wt", "bw", "tw")


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success rename it over ``path``.

    Readers see either the old file or the complete new one; on an error the
    temporary file is removed and ``path`` is untouched. The data and the rename
    are flushed to disk, and the file gets mode 0644.

    Args:
        path: the file to write (its parent directories are created).
        mode: ``"wb"`` (bytes) or ``"w"`` (text); ``"+"`` is allowed. Reading and
            appending modes are refused: the file is always written anew.

    Raises:
        TypeError: ``path`` is not a str or ``os.PathLike``.
        ValueError: ``mode`` is not a write mode.
        IsADirectoryError: ``path`` is a directory.
        NotADirectoryError: a parent of ``path`` is a file.

    Example:
        >>> with atomic_write("run.json", "w") as file:  # doctest: +SKIP
        ...     json.dump(payload, file)
    """
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    if not isinstance(mode, str) or mode.replace("+", "") not in _WRITE_MODES:
        raise ValueError(
            f"mode must be a write mode ('w' for text, 'wb' for bytes), got {mode!r}: the file is "
            "written anew and renamed over the old one, so reading or appending cannot work"
        )
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a directory; give a file path")
    for parent in (path.parent, *path.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"cannot write {path}: {parent} is a file, not a directory")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
