"""One run folder, one writer: gvin.train.run_lock.RunLock across processes and within one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from gvin.train import run_lock
from gvin.train.run_lock import LOCK_FILE, RunFolderInUse, RunLock, lock_holder

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="holds the lock in a POSIX child process")

# A child that takes the lock, says so, and holds it until killed or its stdin closes. It loads
# run_lock.py by path (the module needs only the standard library): importing gvin would import
# torch, seconds per child.
HOLDER = textwrap.dedent(
    """
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("run_lock", sys.argv[2])
    run_lock = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_lock)
    with run_lock.RunLock(sys.argv[1]):
        print("held", flush=True)
        sys.stdin.read()
    """
)


def start_holder(folder) -> subprocess.Popen:
    """A child process holding ``folder``'s lock (returns once it holds it)."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), run_lock.__file__],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = child.stdout.readline()
    if line.strip() != "held":
        child.kill()
        raise AssertionError(f"the holder did not take the lock: {line!r} {child.stderr.read()}")
    return child


def test_another_process_is_refused_with_the_holders_pid(tmp_path):
    child = start_holder(tmp_path)
    try:
        with pytest.raises(RunFolderInUse, match=rf"pid {child.pid}\b") as error:
            RunLock(tmp_path).acquire()
        message = str(error.value)
        assert str(tmp_path) in message and "another process" in message
        assert "--out" in message and "wait" in message
        assert error.value.pid == child.pid and error.value.folder == tmp_path and error.value.started
        assert isinstance(error.value, RuntimeError)
        assert lock_holder(tmp_path)["pid"] == child.pid
        # the refused attempt leaves the holder's record alone
        with pytest.raises(RunFolderInUse, match=rf"pid {child.pid}\b"):
            with RunLock(tmp_path):
                pass
    finally:
        child.stdin.close()
        child.wait(timeout=10)
    assert child.returncode == 0, child.stderr.read()
    lock = RunLock(tmp_path).acquire()  # a holder that has exited has let the folder go
    try:
        assert lock.held and lock_holder(tmp_path)["pid"] == os.getpid()
    finally:
        lock.release()
    assert not lock.held and lock_holder(tmp_path) is None


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    child = start_holder(tmp_path)
    with pytest.raises(RunFolderInUse):
        RunLock(tmp_path).acquire()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert (tmp_path / LOCK_FILE).exists()  # the file stays; an unheld file locks nothing
    lock = RunLock(tmp_path).acquire()  # at once: the OS dropped the lock with the process
    try:
        assert lock.held and lock_holder(tmp_path)["pid"] == os.getpid()
    finally:
        lock.release()


def test_the_same_process_cannot_take_it_twice(tmp_path):
    with RunLock(tmp_path) as first:
        with pytest.raises(RunFolderInUse, match=rf"this process \(pid {os.getpid()}\b"):
            RunLock(tmp_path).acquire()
        with pytest.raises(RunFolderInUse, match=str(os.getpid())):
            first.acquire()  # nor the same object twice
        assert first.held
    assert not first.held
    with RunLock(tmp_path) as second:  # released: free again, in this process too
        assert second.held
    first.release()  # releasing twice is a no-op


def test_a_failed_block_releases_the_lock(tmp_path):
    with pytest.raises(KeyError):
        with RunLock(tmp_path):
            raise KeyError("boom")
    with RunLock(tmp_path) as lock:
        assert lock.held


def test_a_missing_folder_is_created(tmp_path):
    folder = tmp_path / "runs" / "new"
    with RunLock(folder) as lock:
        assert folder.is_dir() and lock.path == folder / LOCK_FILE and lock.path.exists()
        assert lock_holder(folder)["pid"] == os.getpid()


def test_a_file_is_not_a_run_folder(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        RunLock(target).acquire()
    with pytest.raises(TypeError, match="folder must be a str or path"):
        RunLock(3)


def test_no_lock_platform_warns_and_locks_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(run_lock, "fcntl", None)
    monkeypatch.setattr(run_lock, "msvcrt", None)
    with pytest.warns(run_lock.RunLockUnavailableWarning, match="not locked"):
        lock = RunLock(tmp_path).acquire()
    assert lock.held
    lock.release()
    assert not lock.held


def test_a_run_refused_the_lock_leaves_the_holders_new_folder_alone(tmp_path, monkeypatch):
    """Two runs start on one new folder: the one refused the lock must not remove the holder's lock or folder."""
    from pathlib import Path

    from gvin.train import run

    out = tmp_path / "run"
    exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: False if self == out else exists(self))  # it saw no folder
    with RunLock(out):  # the other run, holding the lock on the folder it just made
        with pytest.raises(RunFolderInUse):
            run._train(run.TrainSettings(out=out), {}, tmp_path, None)
        assert (out / LOCK_FILE).is_file()
