"""Which policy head should be the default: the README's DT-VIN command with each head, over seeds.

Each row is the scoreboard's ``maze15`` row (``gvin train --npz <shared 15×15 file> --model dtvin
--actions directions --epochs 10``) with ``--head`` and ``--successor-init`` set: test %Optimal /
%Success at the trained depth (K = 45) and 8× deeper (K = 360), and on 31×31 and 63×63 mazes of
gvin's own generator (other code and seeds than the file's) at K = 3 × side:

* ``maze15``: the default (centred head ``Q - mean Q``, successor-value weight ``β`` from 1);
* ``maze15-advantage`` / ``maze15-raw``: the other heads, ``β`` from 1;
* ``maze15-advantage-beta0``: the previous default (``Q - V``, ``β`` from 0);
* ``maze15-raw-beta0``: the published DT-VIN head (raw ``Q``, ``β`` from 0).

Records go to ``benchmarks/results/scoreboard/`` beside the scoreboard's (resumable, as there), the
table to ``benchmarks/results/head_choice.md``. The learning curves are in each run's
``metrics.jsonl`` (``--runs``).

Usage::

    python benchmarks/head_choice.py --jobs 2          # 5 settings × 3 seeds, about 40 minutes on 2 cores
    python benchmarks/head_choice.py --report
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_store  # noqa: E402
import scoreboard  # noqa: E402

BOARD = [
    scoreboard.maze15_row(),
    scoreboard.maze15_row("advantage"),
    scoreboard.maze15_row("raw"),
    scoreboard.maze15_row("advantage", 0.0),
    scoreboard.maze15_row("raw", 0.0),
]
INTRO = """# Policy heads: the README's DT-VIN command with each head

Written by `benchmarks/head_choice.py`. Median over 3 seeds (worst – best); `deep`: the same
checkpoints at K = 360, 8× the trained depth; `gppnN`: 100 N×N mazes of gvin's own generator at K = 3N.
`maze15` is the default (centred head, β from 1); `-beta0` rows start the successor-value weight at 0,
as gvin did before (`maze15-advantage-beta0` was the default) and as the published heads do."""

if __name__ == "__main__":
    raise SystemExit(scoreboard.main(
        board=BOARD, records_dir=scoreboard.RECORDS, table=results_store.RESULTS / "head_choice.md",
        intro=INTRO, doc=__doc__))
