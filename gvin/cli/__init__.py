"""The ``gvin`` command: generate, train, evaluate, plan, demo.

A training run writes into its ``--out`` folder: ``checkpoint.pt`` (every epoch,
atomically; ``train`` resumes from it), ``run.json`` (the data and model
settings, for people and older checkpoints), ``metrics.jsonl`` (one JSON line
per epoch, appended as it ends: ``epoch``, ``loss``, ``valid_*`` rates,
``seconds``; rewritten from the checkpoint's history on a resume, so no epoch
appears twice), ``learning_curve.png`` (drawn at the end) and ``plan.png``
(values and a planned path next to the optimal one). The checkpoint itself records the data
it was trained on and its stencil, so ``evaluate`` and ``plan`` need only it,
and a resume on other data is refused.

The implicit planners (``--model implicit_vin`` / ``implicit_dtvin`` / ``implicit_gppn``)
solve their recurrence as a fixed point: ``--depth`` is then the forward solver's
iteration limit, and the solver options (``--f-solver``, ``--f-tol``,
``--b-solver``, ...) fill ``model_kwargs["fixed_point"]``, a dict of plain
:class:`~gvin.nn.FixedPoint` fields saved in the checkpoint. ``evaluate`` and
``plan`` may give them a larger ``--depth`` than training used, and report how
the solves went.

A user error ends in one ``error: ...`` line on stderr and exit status 2.
"""
from __future__ import annotations

import sys
import warnings

from gvin.cli.commands import COMMANDS
from gvin.cli.parser import build_parser
from gvin.nn.implicit import ConvergenceError, ConvergenceWarning
from gvin.train.run import DeeperThanTrainedWarning
from gvin.train.run_files import RunError
from gvin.train.run_lock import RunFolderInUse

CLIError = RunError
"""A mistake in the command line or its files: reported as one ``error:`` line (the run layer's error)."""


_show_warning = warnings.showwarning


def _show_note(message, category, *args, **kwargs) -> None:
    """The run layer's notes as one ``note:`` line on stderr; other warnings as Python shows them."""
    if issubclass(category, DeeperThanTrainedWarning):
        print(f"note: {message}", file=sys.stderr)
    else:
        _show_warning(message, category, *args, **kwargs)


def _out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, MemoryError) or "out of memory" in text or "can't allocate memory" in text


def main(argv: list[str] | None = None) -> int:
    """Run the ``gvin`` command; returns the exit status (argparse exits itself on usage errors)."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():  # the commands summarise how the fixed-point solves went instead
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("always", DeeperThanTrainedWarning)
            warnings.showwarning = _show_note
            return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (RunError, ValueError, OSError, ImportError, FloatingPointError, MemoryError, RuntimeError) as error:
        known = (ConvergenceError, RunFolderInUse)
        if isinstance(error, RuntimeError) and not _out_of_memory(error) and not isinstance(error, known):
            raise  # gvin's own bug: keep the traceback
        if isinstance(error, OSError) and error.strerror and error.filename:
            message = f"{error.filename}: {error.strerror}"
        elif _out_of_memory(error):
            message = "out of memory: reduce --counts, --size, --batch-size, --hidden or --depth"
        elif isinstance(error, FloatingPointError):
            message = f"{error}; training diverged: try a lower --lr"
        elif isinstance(error, ConvergenceError):  # a checkpoint whose fixed_point settings say strict=True
            message = f"{error}; try a larger --depth"
        else:
            message = str(error) or type(error).__name__
        print(f"error: {' '.join(message.split())}", file=sys.stderr)
        return 2


__all__ = ["main", "build_parser", "CLIError", "COMMANDS"]
