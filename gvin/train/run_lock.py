"""One run folder, one writer: an exclusive lock on a run folder for the lifetime of a run.

Two training processes started on the same output folder would both run to the end and leave
files (a checkpoint, a history) that mix them. A :class:`RunLock` taken before the first write
refuses the second at once with :class:`RunFolderInUse`, which names the folder and the process
that holds it::

    with RunLock(out):          # RunFolderInUse if another process holds ``out``
        ...                     # train, write checkpoints

The lock is an OS lock on ``<folder>/.lock`` (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on
Windows), held on a file kept open while the lock is held. The OS drops it when the file is
closed, so a process that dies, even by ``SIGKILL``, never leaves its folder locked: the file
may stay behind, but an unheld file locks nothing. The holder writes its pid, host and start
time into the file, for the message of the process it refuses. Where neither lock exists, a
:class:`RunLock` warns (:class:`RunLockUnavailableWarning`) and locks nothing.

Notes:
    The lock belongs to the open file, not to the process: a process opening the folder's lock
    twice (two :class:`RunLock` objects) is refused too. Processes *forked* while the lock is held
    (e.g. ``DataLoader`` workers) share the open file, so the lock lasts until the last of them
    exits. On network file systems, ``flock`` locks only as far as the file system supports it.
"""
from __future__ import annotations

import datetime
import json
import os
import socket
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt
except ImportError:  # POSIX
    msvcrt = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "RunLock", "RunFolderInUse", "RunLockUnavailableWarning", "lock_holder"]

LOCK_FILE = ".lock"
"""The lock file's name inside the run folder."""

# The holder's record starts at byte 1: Windows locks byte 0, which others then cannot read.
_RECORD_OFFSET = 1
# How long a refused process waits for a holder that has just taken the lock to write its record.
_RECORD_WAIT_S = 0.2


class RunFolderInUse(RuntimeError):
    """Another writer holds the run folder's lock (another process, or another :class:`RunLock`
    of this one).

    Attributes:
        folder: the run folder.
        pid: the holder's process id (``None`` if it has not written its record yet).
        host: the holder's host name (``None`` if unknown).
        started: when the holder took the lock, ISO 8601 local time (``None`` if unknown).
    """

    def __init__(self, folder: Path, pid: int | None = None, host: str | None = None, started: str | None = None):
        self.folder, self.pid, self.host, self.started = folder, pid, host, started
        if pid is None:
            who = "another process (its pid is not recorded yet)"
        elif pid == os.getpid() and host in (None, socket.gethostname()):
            who = f"this process (pid {pid}: another RunLock on the folder is held here)"
        else:
            where = f" on host {host}" if host and host != socket.gethostname() else ""
            since = f", running since {started}" if started else ""
            who = f"another process (pid {pid}{where}{since})"
        super().__init__(
            f"run folder {folder} is in use by {who}; one run folder takes one writer: "
            "choose another --out folder, or wait for that run to finish"
        )


class RunLockUnavailableWarning(RuntimeWarning):
    """This platform has neither ``fcntl`` nor ``msvcrt``: the run folder is not locked."""


def _folder(folder: Any) -> Path:
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a str or path, got {type(folder).__name__}")
    return Path(folder)


def _read_record(fd: int) -> dict[str, Any] | None:
    """The holder's record in the open lock file ``fd`` (``None`` if none, or unreadable)."""
    try:
        os.lseek(fd, _RECORD_OFFSET, os.SEEK_SET)
        chunks = []
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
        record = json.loads(b"".join(chunks).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def lock_holder(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The record of the last process that took ``folder``'s lock: ``{"pid", "host", "started"}``.

    Returns ``None`` if the folder has no lock file or its record is empty (a holder releasing
    the lock empties it). A record says who took the lock, not that it still holds it: only a
    :class:`RunLock` tells that.
    """
    path = _folder(folder) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_record(fd)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock on the open file ``fd`` without waiting; ``False`` if it is held."""
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as error:
            if error.errno in (getattr(os, "EWOULDBLOCK", None), getattr(os, "EAGAIN", None)):
                return False
            raise
        return True
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


class RunLock:
    """An exclusive, non-blocking lock on a run folder, held from :meth:`acquire` (or ``with``) to
    :meth:`release` (or the end of the ``with`` block, or the process).

    Args:
        folder: the run folder; created (with its parents) if it does not exist yet.

    Attributes:
        folder: the run folder.
        path: the lock file, ``folder / ".lock"``.

    Raises (from :meth:`acquire` and ``with``):
        RunFolderInUse: another process holds the folder, or this process does through
            another :class:`RunLock` (or this one, acquired twice).
        NotADirectoryError: ``folder`` is a file.
        OSError: the folder or its lock file cannot be created (permissions, ...).

    Example::

        with RunLock("runs/maze15") as lock:
            trainer.fit(...)
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = _folder(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None
        self._unlocked = False  # acquired without an OS lock (no fcntl / msvcrt)
        self._started: str | None = None

    @property
    def held(self) -> bool:
        """This object holds the folder (between :meth:`acquire` and :meth:`release`)."""
        return self._fd is not None or self._unlocked

    def acquire(self) -> "RunLock":
        """Take the lock now (never waits); returns ``self``.

        Raises:
            RunFolderInUse: the folder is held (see the class).
        """
        if self.held:
            raise RunFolderInUse(self.folder, os.getpid(), socket.gethostname(), self._started)
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(f"run folder {self.folder} is a file; expected a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        if fcntl is None and msvcrt is None:
            warnings.warn(
                f"this platform has no file locks (neither fcntl nor msvcrt): run folder {self.folder} is not "
                "locked, and a second run on it would not be refused",
                RunLockUnavailableWarning,
                stacklevel=2,
            )
            self._unlocked, self._started = True, _now()
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        try:
            if not _try_lock(fd):
                record = _read_record(fd)
                deadline = time.monotonic() + _RECORD_WAIT_S
                while record is None and time.monotonic() < deadline:  # the holder is writing it
                    time.sleep(0.01)
                    record = _read_record(fd)
                record = record or {}
                pid = record.get("pid")
                raise RunFolderInUse(self.folder, pid if isinstance(pid, int) else None,
                                     record.get("host"), record.get("started"))
            self._started = _now()
            self._write_record(fd, {"pid": os.getpid(), "host": socket.gethostname(), "started": self._started})
        except BaseException:
            os.close(fd)  # closing drops the lock if it was taken
            raise
        self._fd = fd
        return self

    @staticmethod
    def _write_record(fd: int, record: dict[str, Any]) -> None:
        data = b"\n" + json.dumps(record).encode("utf-8") + b"\n"
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, data[:_RECORD_OFFSET])  # the byte Windows locks: written, never read by others
        view = memoryview(data)[_RECORD_OFFSET:]
        while view:
            view = view[os.write(fd, view):]

    def release(self) -> None:
        """Let the folder go (empties the record, keeps the file); a no-op if not held."""
        fd, self._fd, self._unlocked = self._fd, None, False
        if fd is None:
            return
        try:
            try:
                os.ftruncate(fd, _RECORD_OFFSET)
            except OSError:
                pass  # the record is advice only; the lock is what counts
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()

    def __del__(self) -> None:
        # A lock object dropped while held: close its file (the OS then drops the lock).
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __repr__(self) -> str:
        return f"RunLock({str(self.folder)!r}, {'held' if self.held else 'not held'})"


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")
