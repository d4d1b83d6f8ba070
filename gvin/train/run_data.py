"""What data a run plans on: its settings resolved against the world's defaults and a saved run,
checked before anything is made, and loaded one split at a time.

The functions take ``settings``: any object with the data settings as attributes (``world``,
``npz``, ``kind``, ``size``, ``counts``, ``data_seed``, ``root``, ``connectivity``, ...; ``None`` when
not given), such as :class:`gvin.train.run.TrainSettings`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gvin._checks import check_memory as refuse_beyond_memory
from gvin.datasets.worlds import DEFAULT_WORLD, GENERATED, WORLDS, check_record, data_identity, get_world, world_of
from gvin.train.run_files import RunError, check_folder, listed, option


def check_memory(spec: dict[str, Any], items: int, batch: int = 0, kernel_size: int = 3) -> None:
    """Refuse data or batches that cannot fit in memory, before allocating anything.

    A lower bound: 2 bytes a node for stored items, 32 bytes an edge of a batch
    (the world's :meth:`~gvin.datasets.worlds.World.footprint` of ``spec["size"]``).
    """
    world = get_world(spec)
    nodes, edges = world.footprint(spec, kernel_size)
    steps = f" in batches of {batch}" if batch else ""
    if batch and world.grid:
        steps += f" with a {kernel_size}x{kernel_size} stencil"
    options = ["--counts", "--size", *(["--batch-size"] if batch else []),
               *(["--kernel-size"] if batch and world.grid else []),
               *(["--neighbours"] if batch and "neighbours" in world.settings else [])]
    try:  # the library's check, with the command's options as the remedy
        refuse_beyond_memory(2 * nodes * items + batch * 32 * edges, f"{items} {world.describe(spec)}{steps}",
                             f"reduce {listed(options)}")
    except ValueError as error:
        raise RunError(str(error)) from None


def data_options() -> tuple[str, ...]:
    """The data settings of every registered world (``npz``, ``kind``, ``size`` ...); each world takes
    some (its ``settings``). Computed when asked, so worlds registered later count."""
    return tuple(dict.fromkeys(["npz", *(key for world in WORLDS.values() for key in world.settings)]))


def checked_record(record: Any, source: Path) -> dict[str, Any]:
    """A data record (identity and ``kernel_size``) read from ``source``, validated."""
    try:
        return check_record(record, source)
    except ValueError as error:
        raise RunError(str(error)) from None


def check_world_options(world: str, given: dict[str, Any], settings: Any) -> None:
    """Refuse data options that ``world`` has no use for."""
    about = WORLDS[world]
    applies = set(about.settings) | ({"npz"} if about.files else set())
    wrong = [option(key) for key in data_options() if key in given and key not in applies]
    if not about.cached and getattr(settings, "root", None) is not None:
        wrong.append("--root")
    if wrong:
        raise RunError(f"{', '.join(wrong)}: not a setting of --world {world} (its data settings: "
                       f"{', '.join(option(key) for key in about.settings)})")
    if "connectivity" in given and given["connectivity"] not in about.connectivity:
        raise RunError(f"--connectivity {given['connectivity']}: --world {world} takes "
                       f"{' or '.join(map(str, about.connectivity))}")
    kernel_size = getattr(settings, "kernel_size", None)
    if not about.kernel_sizes and kernel_size is not None and kernel_size != 3:
        how = "with the one-step stencil" if about.grid else "without a stencil (its planners read edge geometry)"
        raise RunError(f"--kernel-size {kernel_size}: --world {world} builds its graphs {how} "
                       "(leave --kernel-size at its default)")
    if getattr(settings, "actions", "moves") == "directions" and not about.grid:
        raise RunError(f"--actions directions: --world {world} has no grid of move directions; "
                       "its policies choose among the moves (--actions moves)")


def data_spec(settings: Any, saved: dict[str, Any] | None = None) -> dict[str, Any]:
    """The data settings: command line, else the run's saved ones, else defaults.

    A ``--npz`` file is not combined with generator settings, and a world takes
    only its own settings (``RunError``).
    """
    world = getattr(settings, "world", None) or world_of(saved or {})
    given = {key: getattr(settings, key) for key in data_options() if getattr(settings, key, None) is not None}
    check_world_options(world, given, settings)
    if "npz" in given:
        given["npz"] = str(Path(given["npz"]).resolve())
    if "counts" in given:
        given["counts"] = list(given["counts"])
    defaults = WORLDS[world].default_settings()
    if world != DEFAULT_WORLD:
        base = dict(saved) if saved and world_of(saved) == world else defaults
        return data_identity({**base, **given, "world": world})
    generated = [option(key) for key in GENERATED if key in given]
    if "npz" in given and generated:
        raise RunError(f"--npz reads its mazes from a file; it cannot be combined with {', '.join(generated)} "
                       "(settings of generated mazes)")
    base = dict(saved) if saved and world_of(saved) == DEFAULT_WORLD else defaults
    if generated and base.get("npz"):  # from the run's file to generated mazes
        base = {**defaults, "connectivity": base.get("connectivity", defaults["connectivity"])}
    spec = data_identity({**base, **given})
    if getattr(settings, "root", None) is not None and "npz" in spec:
        raise RunError(f"--root is the cache folder of generated mazes; the data here is the file {spec['npz']}")
    return spec


def data_root(settings: Any, run: dict[str, Any] | None = None) -> Path:
    """Where generated mazes are cached: ``--root``, else the run's, else ``datasets/``."""
    if getattr(settings, "root", None) is not None:
        return Path(settings.root).resolve()
    saved = (run or {}).get("data", {}).get("root")
    return Path(saved) if isinstance(saved, str) else Path("datasets").resolve()


def load_split(spec: dict[str, Any], root: Path, split: str, kernel_size: int):
    """One split of the data as a dataset of labelled planning graphs (the world's loader)."""
    world = get_world(spec)
    if world.cached and "npz" not in spec:
        check_folder(root, "--root")
    return world.load(spec, root, split, kernel_size)


def check_planner_fits(checkpoint: Path, saved: Any, world: Any, spec: dict[str, Any], trained: str) -> None:
    """Refuse, before any data is made, a world whose graphs the checkpoint's planner cannot read.

    Compares the kind of graph (``edge_dim``: edge geometry, or edge types) and the node
    features (``in_channels``); the planner itself checks the stencil.
    """
    if not isinstance(saved, dict):
        return
    wanted = world.planner_kwargs(spec)
    for key, default in (("edge_dim", None), ("in_channels", 2)):
        before, now = saved.get(key, default), wanted.get(key, default)
        if before != now:
            raise RunError(f"--world {world.name}: {checkpoint} holds a planner of --world {trained} graphs "
                           f"({key}: saved {before!r} vs now {now!r}); plan with it on {trained} data")
