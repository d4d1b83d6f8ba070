"""scripts/torch_choice.py: which torch build the set-up installs, and why (nothing installed)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "torch_choice.py"


def _load():
    spec = importlib.util.spec_from_file_location("torch_choice", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tc = _load()
pytest.importorskip("pip._vendor.packaging.tags")
from pip._vendor.packaging.tags import sys_tags  # noqa: E402

HERE = next(iter(sys_tags()))
OTHER_PLATFORM = "macosx_11_0_arm64" if "linux" in HERE.platform else "manylinux_2_28_x86_64"


def wheel(folder: Path, version: str, tag: str | None = None) -> Path:
    """An empty file named like a torch wheel; ``tag`` defaults to this interpreter's."""
    tag = tag or f"{HERE.interpreter}-{HERE.abi}-{HERE.platform}"
    path = folder / f"torch-{version}-{tag}.whl"
    path.touch()
    return path


def choose(links: list[Path], env: dict[str, str] | None = None, installed: str | None = None):
    return tc.choose(env or {}, installed, [str(link) for link in links])


def test_compatible_local_wheel_is_chosen_with_exact_version(tmp_path):
    wheel(tmp_path, "2.13.0+cpu")
    choice = choose([tmp_path], {"TORCH_INDEX_URL": "https://example.invalid/whl"})
    assert choice.kind == "local"
    assert choice.pip_args == ("torch==2.13.0+cpu", "--find-links", str(tmp_path))
    assert "--no-index" not in choice.pip_args
    assert "torch-2.13.0+cpu" in choice.reason


def test_wheel_for_another_python_or_platform_is_ignored(tmp_path):
    wheel(tmp_path, "2.13.0+cpu", "cp27-cp27mu-manylinux1_x86_64")
    wheel(tmp_path, "2.13.0+cpu", f"{HERE.interpreter}-{HERE.abi}-{OTHER_PLATFORM}")
    assert choose([tmp_path]).kind == "pypi"


def test_newest_compatible_version_wins_across_folders(tmp_path):
    old, new = tmp_path / "a", tmp_path / "b"
    old.mkdir(), new.mkdir()
    wheel(old, "2.10.0+cpu")
    wheel(new, "2.13.0+cpu")
    wheel(old, "2.9.1+cpu")
    assert choose([old, new]).pip_args[0] == "torch==2.13.0+cpu"


def test_torch_older_than_2_3_is_ignored(tmp_path):
    wheel(tmp_path, "2.2.2+cpu")
    assert choose([tmp_path]).kind == "pypi"


def test_find_links_as_file_url_and_wheel_path(tmp_path):
    path = wheel(tmp_path, "2.5.1+cpu")
    assert choose([]).kind == "pypi"
    assert tc.choose({}, None, [tmp_path.as_uri()]).pip_args[0] == "torch==2.5.1+cpu"
    assert tc.choose({}, None, [str(path)]).pip_args[0] == "torch==2.5.1+cpu"
    assert tc.choose({}, None, ["https://example.invalid/wheels", str(tmp_path / "missing")]).kind == "pypi"


def test_index_url_used_when_no_local_wheel(tmp_path):
    url = "https://download.pytorch.org/whl/cpu"
    choice = choose([tmp_path], {"TORCH_INDEX_URL": url})
    assert choice.kind == "index"
    assert choice.pip_args == ("torch>=2.3", "--index-url", url)


def test_pypi_fallback_warns_about_cuda_build(tmp_path):
    choice = choose([tmp_path])
    assert choice.kind == "pypi"
    assert choice.pip_args == ("torch>=2.3",)
    assert "CUDA build of several GB" in choice.reason
    assert "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in choice.reason


def test_installed_torch_is_kept(tmp_path):
    wheel(tmp_path, "2.13.0+cpu")
    choice = choose([tmp_path], {"TORCH_INDEX_URL": "https://example.invalid"}, installed="2.12.0+cpu")
    assert choice.kind == "installed"
    assert choice.pip_args == ()
    assert "2.12.0+cpu" in choice.what


def test_gvin_torch_forces_a_choice(tmp_path):
    wheel(tmp_path, "2.13.0+cpu")
    assert choose([tmp_path], {"GVIN_TORCH": "pypi"}, installed="2.13.0+cpu").kind == "pypi"
    assert choose([tmp_path], {"GVIN_TORCH": "index"}).pip_args[-1] == tc.CPU_INDEX
    assert choose([tmp_path], {"GVIN_TORCH": "local"}, installed="2.12.0").kind == "local"
    with pytest.raises(SystemExit, match="no torch>=2.3 wheel"):
        choose([], {"GVIN_TORCH": "local"})
    with pytest.raises(SystemExit, match="expected one of"):
        choose([tmp_path], {"GVIN_TORCH": "cuda"})


def test_find_links_from_env_and_pip_config():
    listing = ("global.find-links='/opt/wheels'\n:env:.find-links='/opt/wheels /srv/w'\n"
               "global.index-url='https://example.invalid'\ninstall.find-links='/a\\n/b'\n")
    config = tc.parse_config_list(listing)
    assert config == ["/opt/wheels", "/opt/wheels", "/srv/w", "/a", "/b"]
    assert tc.find_links({"PIP_FIND_LINKS": "/env/w"}, config) == ["/env/w", "/opt/wheels", "/srv/w", "/a", "/b"]


def test_script_prints_what_why_and_pip_args(tmp_path):
    wheel(tmp_path, "2.13.0+cpu")
    env = {**os.environ, "PIP_FIND_LINKS": str(tmp_path), "PIP_CONFIG_FILE": os.devnull, "GVIN_TORCH": "local"}
    out = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, check=True,
                         timeout=60).stdout.splitlines()
    assert out[0] == "torch==2.13.0+cpu from a local wheel"
    assert out[2:] == ["torch==2.13.0+cpu", "--find-links", str(tmp_path)]
