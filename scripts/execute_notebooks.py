"""Execute the notebooks at full size and save them with their outputs, so a repository page shows
their figures.

Each notebook in ``notebooks/`` (or the ones named) runs top to bottom in a fresh kernel, without
``GVIN_NOTEBOOK_QUICK``; its pictures are re-encoded as small PNGs (at most ``--max-width`` pixels
wide, 8-bit palette) and the notebook must stay under ``--max-bytes``. The run's settings go into the
notebook's metadata (``gvin.executed``: quick or not, seconds, the commit), which the tests read.

Usage::

    python scripts/execute_notebooks.py                      # all of them, about 2-3 min each on 2 cores
    python scripts/execute_notebooks.py notebooks/worlds.ipynb
"""
from __future__ import annotations

import argparse
import base64
import io
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 400_000
MAX_WIDTH = 720


def shrink_png(data: str, max_width: int) -> str:
    """A base64 PNG re-encoded at most ``max_width`` pixels wide with a 256-colour palette."""
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(data)))
    if image.width > max_width:
        image = image.resize((max_width, round(image.height * max_width / image.width)), Image.LANCZOS)
    image = image.convert("RGB").quantize(colors=256)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def execute(path: Path, timeout: int, max_width: int, max_bytes: int) -> tuple[float, int]:
    """Run ``path`` at full size and write it back with small outputs; returns (seconds, bytes)."""
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    env_quick = os.environ.pop("GVIN_NOTEBOOK_QUICK", None)
    started = time.perf_counter()
    try:
        nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_quick is not None:
            os.environ["GVIN_NOTEBOOK_QUICK"] = env_quick
    seconds = time.perf_counter() - started
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                data["image/png"] = shrink_png(data["image/png"], max_width)
                output.get("metadata", {}).pop("image/png", None)
    notebook.metadata["gvin"] = {"executed": {"quick": False, "seconds": round(seconds, 1), "commit": commit()}}
    text = nbformat.writes(notebook)
    if len(text.encode()) > max_bytes:
        raise SystemExit(f"{path.name}: {len(text.encode())} bytes with outputs, over the {max_bytes} cap; "
                         "draw fewer or smaller figures")
    path.write_text(text)
    return seconds, len(text.encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--max-width", type=int, default=MAX_WIDTH)
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES)
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        seconds, size = execute(path.resolve(), args.timeout, args.max_width, args.max_bytes)
        print(f"{path.name}: {seconds:.0f} s, {size / 1000:.0f} kB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
