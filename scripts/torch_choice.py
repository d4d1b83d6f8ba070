"""Decide how scripts/setup.sh installs torch, and say why.

Standard library only: it runs before torch exists, under the new venv's python (its pip
supplies ``packaging``). The order, first match wins:

1. torch already importable: keep it.
2. a torch wheel for this interpreter and platform in pip's find-links (``PIP_FIND_LINKS``
   and ``pip config list``), version >= 2.3: install that exact version, newest first.
3. ``TORCH_INDEX_URL`` set: ``torch>=2.3`` from that index.
4. ``torch>=2.3`` from PyPI (on Linux a CUDA build of several GB).

``GVIN_TORCH=local|index|pypi`` forces a choice (and replaces a torch already installed).
Run as a script it prints the choice for setup.sh: what, why, then one pip argument a line.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

REQUIREMENT = "torch>=2.3"
MIN_VERSION = "2.3"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FORCED = ("local", "index", "pypi")


@dataclass(frozen=True)
class Choice:
    """How to install torch: ``kind`` names the rule, ``pip_args`` follow ``pip install``."""

    kind: str
    what: str
    reason: str
    pip_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Wheel:
    """A torch wheel file found in a find-links location."""

    path: Path
    version: object


def _packaging():
    """The ``packaging`` modules (pip's vendored copy first), or None where neither exists."""
    try:
        from pip._vendor.packaging import tags, utils, version
    except ImportError:
        try:
            from packaging import tags, utils, version
        except ImportError:
            return None
    return tags, utils, version


def _split_locations(value: str) -> list[str]:
    """find-links values: whitespace-separated paths or URLs."""
    return value.split()


def config_find_links(python: str = sys.executable) -> list[str]:
    """find-links entries from ``pip config list`` (config files and ``PIP_*`` variables)."""
    try:
        out = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True,
                             text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_config_list(out)


def parse_config_list(text: str) -> list[str]:
    """find-links entries from the text of ``pip config list`` (``key='value'`` lines)."""
    found: list[str] = []
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or not key.strip().endswith(".find-links"):
            continue
        try:
            value = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            value = raw.strip()
        found.extend(_split_locations(str(value)))
    return found


def find_links(env: Mapping[str, str], config: Iterable[str] = ()) -> list[str]:
    """``PIP_FIND_LINKS`` and the configured entries, without duplicates, in that order."""
    entries = _split_locations(env.get("PIP_FIND_LINKS", "")) + list(config)
    return list(dict.fromkeys(entries))


def _local_path(entry: str) -> Path | None:
    """The local path behind a find-links entry (plain path or file:// URL), else None."""
    parsed = urlparse(entry)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        return None
    return Path(entry)


def _wheel_files(entries: Iterable[str]) -> list[Path]:
    """torch wheel files in the local find-links entries (folders or wheel files)."""
    files: list[Path] = []
    for entry in entries:
        path = _local_path(entry)
        if path is None:
            continue
        if path.is_dir():
            files.extend(sorted(path.glob("torch-*.whl")))
        elif path.is_file() and path.name.startswith("torch-") and path.suffix == ".whl":
            files.append(path)
    return files


def compatible_wheels(entries: Iterable[str], supported: Iterable[object] | None = None) -> list[Wheel]:
    """torch wheels >= 2.3 that this interpreter can install, newest first.

    ``supported`` is the interpreter's tag set (``packaging.tags.sys_tags()`` by default).
    """
    modules = _packaging()
    if modules is None:
        return []
    tags, utils, version = modules
    accepted = set(tags.sys_tags() if supported is None else supported)
    wheels = []
    for path in _wheel_files(entries):
        try:
            name, ver, _, wheel_tags = utils.parse_wheel_filename(path.name)
        except (utils.InvalidWheelFilename, version.InvalidVersion):
            continue
        if name == "torch" and ver >= version.Version(MIN_VERSION) and accepted & set(wheel_tags):
            wheels.append(Wheel(path, ver))
    return sorted(wheels, key=lambda wheel: wheel.version, reverse=True)


def _keep(installed: str) -> Choice:
    return Choice("installed", f"keep torch {installed}", "already importable in the venv")


def _local(wheel: Wheel) -> Choice:
    spec = f"torch=={wheel.version}"
    return Choice("local", f"{spec} from a local wheel",
                  f"{wheel.path.name} in pip's find-links {wheel.path.parent} fits this Python and platform",
                  (spec, "--find-links", str(wheel.path.parent)))


def _index(url: str, why: str) -> Choice:
    return Choice("index", f"{REQUIREMENT} from {url}", why, (REQUIREMENT, "--index-url", url))


def _pypi(why: str) -> Choice:
    return Choice("pypi", f"{REQUIREMENT} from PyPI",
                  f"{why}; on Linux this is a CUDA build of several GB, "
                  f"TORCH_INDEX_URL={CPU_INDEX} gives a CPU-only one", (REQUIREMENT,))


def _forced(force: str, env: Mapping[str, str], wheels: list[Wheel]) -> Choice:
    """The choice ``GVIN_TORCH`` asks for; a forced local install with no wheel is an error."""
    why = f"GVIN_TORCH={force}"
    if force == "local":
        if not wheels:
            raise SystemExit(f"{why}, but no torch>=2.3 wheel for this Python/platform in pip's find-links")
        return _local(wheels[0])
    if force == "index":
        return _index(env.get("TORCH_INDEX_URL") or CPU_INDEX, why)
    return _pypi(why)


def choose(env: Mapping[str, str], installed: str | None, links: Iterable[str],
           supported: Iterable[object] | None = None) -> Choice:
    """The torch install for this environment.

    ``installed`` is the version of an importable torch (None: none), ``links`` the find-links
    entries, ``supported`` the interpreter's wheel tags (default: the running interpreter's).
    """
    force = env.get("GVIN_TORCH", "").strip()
    if force and force not in FORCED:
        raise SystemExit(f"GVIN_TORCH={force}: expected one of {', '.join(FORCED)}")
    wheels = compatible_wheels(links, supported)
    if force:
        return _forced(force, env, wheels)
    if installed:
        return _keep(installed)
    if wheels:
        return _local(wheels[0])
    if env.get("TORCH_INDEX_URL"):
        return _index(env["TORCH_INDEX_URL"], "TORCH_INDEX_URL is set and no local torch wheel fits")
    return _pypi("no local torch wheel for this Python/platform in pip's find-links and TORCH_INDEX_URL is unset")


def installed_torch() -> str | None:
    """The version of torch if this interpreter can import it, else None."""
    try:
        import torch
    except Exception:
        return None
    return str(torch.__version__)


def main() -> int:
    """Print what, why and the pip arguments, one a line, for scripts/setup.sh."""
    env = os.environ
    installed = None if env.get("GVIN_TORCH") else installed_torch()
    links = find_links(env, config_find_links()) if not installed else []
    choice = choose(env, installed, links)
    print("\n".join([choice.what, choice.reason, *choice.pip_args]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
