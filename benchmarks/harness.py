"""What the benchmark scripts share: memory probes, child processes, timers, the commit, markdown tables.

Standard library only at import time (torch is imported where a function needs it), so a script
can import it before deciding what to load. The scripts import it as a sibling module
(``from harness import ...``): ``python benchmarks/x.py`` puts ``benchmarks/`` first on
``sys.path``.

* memory of this process: :func:`current_rss`, :func:`peak_rss` (``ru_maxrss`` in bytes),
  :func:`reset_peak_rss` (Linux ``clear_refs``), :func:`release_memory`;
* child processes: :func:`run_child` runs a command (threads pinned through the environment,
  optional timeout, its lines streamed to a callback) and returns a :class:`ChildRun` with its
  output, exit status, wall time, CPU seconds and peak RSS (``wait4``'s ``ru_maxrss`` of that
  child); :func:`run_function` runs a module-level function of a script file in a fresh
  interpreter the same way (JSON arguments and result); :func:`run_json_child` is the
  ``--single`` protocol of the step benchmarks (the child prints one JSON line);
* timers: :func:`timed` (one call, its value and seconds), :func:`timings` (the samples),
  :func:`time_calls` / :func:`time_each` (warm-up, then the median, or ``reduce=min`` for
  best-of, of repeated timings; :func:`time_each` interleaves several callables), with
  :func:`device_sync` for CUDA;
* the machine: :func:`load_warning`, :func:`resolve_wait_policy` (``OMP_WAIT_POLICY`` on a busy
  machine);
* :func:`git_commit`: ``(short or full hash, dirty)`` of the checkout;
* :func:`markdown_header` / :func:`markdown_row` / :func:`markdown_table`.
"""
from __future__ import annotations

import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
MIB = 1 << 20
GIB = 1 << 30
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# ----------------------------------------------------------------------------- memory of this process
def _status() -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` in bytes from /proc/self/status (empty off Linux)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def _maxrss_bytes(maxrss: int) -> int:
    """``ru_maxrss`` in bytes (it is bytes on macOS, KiB on Linux)."""
    return maxrss if sys.platform == "darwin" else maxrss * 1024


def peak_rss() -> int:
    """Peak RSS of this process in bytes: ``getrusage(RUSAGE_SELF).ru_maxrss``.

    On Linux :func:`reset_peak_rss` lowers it to the current RSS (the kernel's
    ``clear_refs`` reset applies to ``ru_maxrss`` as well as to ``VmHWM``).
    """
    import resource

    return _maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def current_rss() -> int:
    """Resident set size now in bytes (falls back to the peak where /proc is absent)."""
    return _status().get("VmRSS", peak_rss())


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so RSS reflects live memory."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); ``False`` where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return peak_rss() <= current_rss() + MIB


# ----------------------------------------------------------------------------- child processes
def child_env(threads: int | None = None, *, repo_on_path: bool = False,
              extra: Mapping[str, str | None] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: ``base`` (this process's) with ``OMP`` / ``MKL`` / ``OPENBLAS``
    threads set to ``threads``, this checkout first on ``PYTHONPATH`` (``repo_on_path``: benchmark
    the gvin of this checkout, installed or not), then ``extra`` (``None`` removes a variable)."""
    env = dict(os.environ if base is None else base)
    if threads is not None:
        env.update({key: str(threads) for key in THREAD_VARIABLES})
    if repo_on_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a running process so far (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Running:
    """A child while it runs (what :func:`run_child`'s ``on_line`` gets with each line)."""

    pid: int
    started: float  # time.perf_counter() at its start

    @property
    def elapsed(self) -> float:
        """Wall seconds since it started."""
        return time.perf_counter() - self.started

    def cpu_s(self) -> float | None:
        """Its CPU seconds so far (Linux; ``None`` elsewhere)."""
        return process_cpu(self.pid)


@dataclass
class ChildRun:
    """What a finished child gave.

    Attributes:
        command: what ran.
        returncode: its exit status (negative: killed by that signal).
        stdout, stderr: its output (``stderr`` is empty when it was merged into ``stdout``).
        wall_s: wall seconds from start to exit.
        cpu_s: its user + system CPU seconds (with its waited-for children); ``None`` where unknown.
        peak_rss: its peak RSS in bytes (``ru_maxrss`` from ``wait4``); ``None`` where unknown.
        timed_out: it ran past the timeout and was killed.
        result: :func:`run_function`'s return value (``None`` otherwise, or when the function failed).
    """

    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float | None = None
    peak_rss: int | None = None
    timed_out: bool = False
    result: Any = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def json_line(self) -> Any:
        """The last stdout line that is a JSON object, decoded; ``None`` when there is none."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    continue
        return None

    def last_line(self, prefix: str = "") -> str | None:
        """The last line of stderr (else of stdout) that starts with ``prefix``."""
        for text in (self.stderr, self.stdout):
            lines = [line for line in text.strip().splitlines() if line.startswith(prefix)]
            if lines:
                return lines[-1]
        return None


def run_child(command: Sequence[str], *, threads: int | None = None, env: Mapping[str, str] | None = None,
              cwd: str | Path | None = None, timeout: float | None = None,
              on_line: Callable[[str, Running], None] | None = None, merge_stderr: bool = False) -> ChildRun:
    """Run ``command`` in a fresh process and wait for it.

    Args:
        threads: pin the math libraries' threads (``OMP`` / ``MKL`` / ``OPENBLAS_NUM_THREADS``);
            see :func:`child_env` (applied on top of ``env``, this process's environment by default).
        timeout: seconds after which the child is killed (``timed_out`` then).
        on_line: called with each stdout line (without its newline) as it arrives, and a
            :class:`Running` (pid, elapsed time, CPU so far).
        merge_stderr: send stderr into stdout (one stream, in order).

    Wall time is measured around the child; its CPU seconds and peak RSS are its own rusage
    (``os.wait4``), so other children of this process do not count.
    """
    command = [str(part) for part in command]
    env = child_env(threads, base=env) if (threads is not None or env is not None) else None
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                               text=True, cwd=cwd, env=env)
    running = Running(process.pid, start)
    out: list[str] = []
    err: list[str] = []

    def read_out() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            out.append(line)
            if on_line is not None:
                on_line(line.rstrip("\n"), running)

    def read_err() -> None:
        assert process.stderr is not None
        err.append(process.stderr.read())

    readers = [threading.Thread(target=read_out, daemon=True)]
    if not merge_stderr:
        readers.append(threading.Thread(target=read_err, daemon=True))
    for reader in readers:
        reader.start()
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        process.kill()

    timer = threading.Timer(timeout, kill) if timeout is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    cpu = peak = None
    try:
        if hasattr(os, "wait4"):
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
            cpu, peak = usage.ru_utime + usage.ru_stime, _maxrss_bytes(usage.ru_maxrss)
        else:  # pragma: no cover - not POSIX
            process.wait()
    except BaseException:
        if process.returncode is None:
            process.kill()
            process.wait()
        raise
    finally:
        if timer is not None:
            timer.cancel()
    wall = time.perf_counter() - start
    for reader in readers:  # a grandchild may keep the pipes open: do not wait for it for long
        reader.join(timeout=10)
    timed_out = killed.is_set() and process.returncode != 0  # not a kill that came after the exit
    return ChildRun(command, process.returncode, "".join(out), "".join(err), wall, cpu, peak, timed_out)


_BOOTSTRAP = """\
import importlib.util, json, os, sys
path, name, qualname, result_file, arguments = sys.argv[1:6]
sys.path.insert(0, os.path.dirname(path))  # as when the script itself runs: its siblings import
spec = importlib.util.spec_from_file_location(name, path)
module = importlib.util.module_from_spec(spec)
sys.modules[name] = module
spec.loader.exec_module(module)
function = module
for part in qualname.split("."):
    function = getattr(function, part)
args, kwargs = json.loads(arguments)
value = function(*args, **kwargs)
with open(result_file, "w") as handle:
    json.dump(value, handle)
"""


def run_function(function: Callable[..., Any], *args: Any, threads: int | None = None,
                 env: Mapping[str, str] | None = None, timeout: float | None = None,
                 repo_on_path: bool = False, **kwargs: Any) -> ChildRun:
    """``function(*args, **kwargs)`` in a fresh interpreter; its return value in ``.result``.

    ``function`` must be a module-level function of a Python file (a benchmark script's
    functions qualify: the file is loaded as a module, so its ``if __name__ == "__main__"``
    block does not run); the arguments and the value must be JSON-able. The run's wall time,
    CPU seconds and peak RSS are those of the whole child (interpreter start and imports
    included), as in :func:`run_child`; a failure leaves ``result`` ``None`` and the traceback's
    last line in :meth:`ChildRun.last_line`.
    """
    module = sys.modules[function.__module__]
    path = Path(module.__file__).resolve()
    name = path.stem if function.__module__ == "__main__" else function.__module__
    base = child_env(threads, repo_on_path=repo_on_path, base=env)
    with tempfile.TemporaryDirectory(prefix="harness-") as folder:
        result_file = Path(folder) / "result.json"
        run = run_child([sys.executable, "-c", _BOOTSTRAP, str(path), name, function.__qualname__,
                         str(result_file), json.dumps([list(args), kwargs])], env=base, timeout=timeout)
        if run.ok and result_file.exists():
            run.result = json.loads(result_file.read_text())
    return run


def run_json_child(command: Sequence[str], base: dict[str, Any], *, threads: int, timeout: float,
                   wait_policy: str | None = None) -> dict[str, Any]:
    """Run a ``--single`` benchmark child (it prints one JSON line) on this checkout's gvin, with
    ``threads`` threads (and ``OMP_WAIT_POLICY=wait_policy`` if given): its last JSON line, or
    ``base`` with ``status`` ``"timeout > T s"`` / ``"error"`` (and ``error``: its last output line)."""
    env = child_env(threads, repo_on_path=True, extra={"OMP_WAIT_POLICY": wait_policy} if wait_policy else None)
    run = run_child(command, env=env, timeout=timeout)
    if run.timed_out:
        return {**base, "status": f"timeout > {timeout:.0f} s"}
    result = run.json_line()
    if run.returncode != 0 or result is None:
        tail = run.last_line() or f"exit {run.returncode}"
        return {**base, "status": "error", "error": tail[:200]}
    return result


# ----------------------------------------------------------------------------- timers
def device_sync(device: Any = None) -> Callable[[], None] | None:
    """A function that waits for ``device``'s queued work (CUDA); ``None`` for the CPU."""
    if device is None or getattr(device, "type", str(device).split(":")[0]) != "cuda":
        return None
    import torch

    return lambda: torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory of a stretch of work on ``device``: this process's RSS on the CPU, the allocated GPU
    memory on CUDA. :meth:`start` releases what it can and returns the memory in use; :meth:`peak`
    the most in use since."""

    def __init__(self, device: Any):
        import torch

        self.torch, self.device = torch, torch.device(device)
        self.cuda = self.device.type == "cuda"

    def start(self) -> int:
        release_memory()
        if self.cuda:
            self.torch.cuda.synchronize(self.device)
            self.torch.cuda.reset_peak_memory_stats(self.device)
            return self.torch.cuda.memory_allocated(self.device)
        before = current_rss()
        reset_peak_rss()
        return before

    def peak(self) -> int:
        if self.cuda:
            self.torch.cuda.synchronize(self.device)
            return self.torch.cuda.max_memory_allocated(self.device)
        return peak_rss()


def timed(call: Callable[[], Any], sync: Callable[[], None] | None = None) -> tuple[Any, float]:
    """``(call(), seconds)``, synchronised before and after with ``sync`` (see :func:`device_sync`)."""
    if sync is not None:
        sync()
    start = time.perf_counter()
    value = call()
    if sync is not None:
        sync()
    return value, time.perf_counter() - start


def timings(call: Callable[[], Any], repeats: int, *, inner: int = 1,
            sync: Callable[[], None] | None = None) -> list[float]:
    """``repeats`` timings of ``call``, each the mean seconds of ``inner`` calls in a row."""
    def batch() -> None:
        for _ in range(inner):
            call()

    return [timed(batch, sync)[1] / inner for _ in range(repeats)]


def time_each(calls: Mapping[str, Callable[[], Any]], repeats: int, *, inner: int = 1, warmup: int = 1,
              sync: Callable[[], None] | None = None,
              reduce: Callable[[list[float]], float] = statistics.median) -> dict[str, float]:
    """Seconds per call of each of ``calls``: ``warmup`` untimed calls each, then ``repeats``
    timings (each the mean of ``inner`` calls), reduced by ``reduce`` (the median; ``min`` for
    best-of). The callables are timed in turn within every repeat, so a change in machine load
    affects all of them alike and their ratios stay meaningful."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            samples[name] += timings(call, 1, inner=inner, sync=sync)
    return {name: reduce(times) for name, times in samples.items()}


def time_calls(call: Callable[[], Any], repeats: int, *, inner: int = 1, warmup: int = 1,
               sync: Callable[[], None] | None = None,
               reduce: Callable[[list[float]], float] = statistics.median) -> float:
    """Seconds per call of ``call``: :func:`time_each` of one callable."""
    return time_each({"call": call}, repeats, inner=inner, warmup=warmup, sync=sync, reduce=reduce)["call"]


# ----------------------------------------------------------------------------- the machine
def load_warning(threads: int) -> str | None:
    """A warning when other processes keep the CPUs busy (multi-threaded timings then mislead)."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
    cpus = os.cpu_count() or 1
    if load + threads <= cpus + 0.5:
        return None
    return (f"warning: load average {load:.1f} on {cpus} CPUs: other processes compete for the cores, so "
            f"times are pessimistic (compare ratios within one run)")


def resolve_wait_policy(choice: str, busy: bool) -> str | None:
    """``OMP_WAIT_POLICY`` for the children: ``auto`` = PASSIVE on a busy machine, else the environment's.

    With spinning (active) OpenMP workers on a machine whose other cores are
    busy, every parallel op waits for a descheduled worker (milliseconds); passive
    workers sleep and are woken at once.
    """
    if choice == "auto":
        return "PASSIVE" if busy and "OMP_WAIT_POLICY" not in os.environ else os.environ.get("OMP_WAIT_POLICY")
    return None if choice == "unset" else choice.upper()


# ----------------------------------------------------------------------------- provenance
def git_commit(*, short: bool = True, paths: Sequence[str] | None = None, untracked: bool = False,
               cwd: str | Path = REPO_ROOT) -> tuple[str, bool] | None:
    """``(commit, dirty)`` of the checkout: ``git rev-parse [--short] HEAD``, and whether tracked
    files (``paths`` only, if given; untracked ones too with ``untracked``) differ from it.
    ``None`` outside git or without it."""
    status = ["git", "status", "--porcelain", "--untracked-files=" + ("normal" if untracked else "no")]
    try:
        head = subprocess.run(["git", "rev-parse", *(["--short"] if short else []), "HEAD"], cwd=cwd,
                              capture_output=True, text=True, timeout=30, check=True).stdout.strip()
        dirty = subprocess.run([*status, "--", *(paths or [])], cwd=cwd, capture_output=True, text=True,
                               timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head, bool(dirty)) if head else None


# ----------------------------------------------------------------------------- markdown tables
def markdown_row(cells: Iterable[Any], width: int | None = None) -> str:
    """``| a | b |`` (an empty cell: ``| |``); padded with empty cells to ``width`` columns."""
    cells = [str(cell) for cell in cells]
    if width is not None and len(cells) < width:
        cells += [""] * (width - len(cells))
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def markdown_header(columns: Sequence[str], align: str | None = None, compact: bool = False) -> str:
    """The header and separator lines; ``align`` one letter a column (``l``, ``r``, ``c``; default
    left), ``compact``: ``|---|---:|`` instead of ``| --- | ---: |``."""
    align = align or "l" * len(columns)
    if len(align) != len(columns):
        raise ValueError(f"align {align!r} has {len(align)} letters for {len(columns)} columns")
    rules = [{"l": "---", "r": "---:", "c": ":---:"}[a] for a in align]
    separator = "|" + "|".join(rules) + "|" if compact else markdown_row(rules)
    return markdown_row(columns) + "\n" + separator


def markdown_table(columns: Sequence[str], rows: Iterable[Iterable[Any]], align: str | None = None,
                   compact: bool = False) -> str:
    """A whole table: :func:`markdown_header` and a :func:`markdown_row` per row (padded to the header)."""
    return "\n".join([markdown_header(columns, align, compact), *(markdown_row(r, len(columns)) for r in rows)])
