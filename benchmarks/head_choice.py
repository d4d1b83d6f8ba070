"""Which policy head should be the default: the README's DT-VIN command with each ``--head``, over seeds.

Rows ``maze15-centered``, ``maze15-advantage`` and ``maze15-raw`` are the scoreboard's ``maze15``
row (``gvin train --npz <shared 15×15 file> --model dtvin --actions directions --epochs 10``) with
``--head`` set: test %Optimal / %Success at the trained depth (K = 45) and 8× deeper (K = 360),
and on 31×31 and 63×63 mazes of gvin's own generator (other code and seeds than the file's) at
K = 3 × side. Records go to ``benchmarks/results/head_choice/`` (resumable, as the scoreboard's),
the table to ``benchmarks/results/head_choice.md``. The learning curves are in each run's
``metrics.jsonl`` (``--runs``).

Usage::

    python benchmarks/head_choice.py --jobs 2          # 3 heads × 3 seeds, about 35 minutes on 2 cores
    python benchmarks/head_choice.py --report
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_store  # noqa: E402
import scoreboard  # noqa: E402

HEADS = ("centered", "advantage", "raw")
BOARD = [scoreboard.maze15_row(head) for head in HEADS]
INTRO = """# Policy heads: the README's DT-VIN command with each `--head`

Written by `benchmarks/head_choice.py`. Median over 3 seeds (worst – best); `deep`: the same
checkpoints at K = 360, 8× the trained depth; `gppnN`: 100 N×N mazes of gvin's own generator at K = 3N."""

if __name__ == "__main__":
    raise SystemExit(scoreboard.main(
        board=BOARD, records_dir=results_store.RESULTS / "head_choice", table=results_store.RESULTS / "head_choice.md",
        intro=INTRO, doc=__doc__))
