"""The world registry: one description per kind of planning data, shared by the ``gvin`` command and Python.

A *world* (``maze``, ``maze3d``, ``terrain``, ``cspace``, ``roadmap``) says which
data settings it takes and their defaults, which connectivities it allows, its
dataset class (one split of its data is ``world.dataset(split, **settings)``),
and what a planner on its graphs is built with (a stencil of edge types, or
``edge_dim`` edge geometry; the input width). :func:`register_world` adds a
world, which ``gvin train --world <name>`` and
``gvin.train.run.train_run(world=<name>)`` then take.

A *spec* is a plain dict of data settings, e.g. ``{"world": "cspace", "size":
18, "counts": [2000, 200, 500], "data_seed": 0, "connectivity": 8}``. A maze
spec carries no ``"world"`` (so records written before worlds existed, which
are all mazes, keep their identity), and it may name a GPPN ``.npz`` file
instead of generator settings: ``{"npz": "/path/m15.npz", "connectivity": 4}``.

>>> from gvin.datasets.worlds import WORLDS, world_of
>>> world = WORLDS[world_of({"world": "roadmap"})]
>>> spec = {"world": "roadmap", **world.default_settings(), "counts": [8, 2, 2]}
>>> train = world.load(spec, root=None, split="train")      # RoadmapDataset("train", **settings)
>>> world.planner_kwargs(spec)                               # {'edge_dim': 3}

A dataset class takes the spec's keys as keywords (``size``, ``counts``,
``data_seed``, ``connectivity``, and the world's own), as the generated worlds'
:class:`~gvin.datasets.base.PlanningDataset` subclasses do.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

import torch
from torch_geometric.data import Data

from gvin.datasets.cspace import CSpaceDataset
from gvin.datasets.maze_dataset import GPPNDataset, Maze3DDataset, MazeDataset
from gvin.datasets.streets import StreetDataset
from gvin.graphs.streets import NETWORKS
from gvin.datasets.roadmap import RoadmapDataset
from gvin.datasets.terrain import TerrainDataset
from gvin.graphs.grid import grid_stencil

__all__ = [
    "World",
    "WORLDS",
    "register_world",
    "unregister_world",
    "DEFAULT_WORLD",
    "GENERATED",
    "SETTING_CHECKS",
    "world_of",
    "get_world",
    "data_identity",
    "check_record",
]

DEFAULT_WORLD = "maze"
GENERATED = ("kind", "size", "counts", "data_seed")
"""The settings of generated mazes (a maze spec holds these or an ``npz`` file)."""

DatasetClass = Callable[..., torch.utils.data.Dataset]
"""``dataset(split=..., **settings)`` → one split of a world's data."""


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


SETTING_CHECKS: Mapping[str, Callable[[Any], bool]] = MappingProxyType({
    "npz": lambda v: isinstance(v, str),
    "kind": lambda v: v in ("gppn", "gridworld"),
    "size": lambda v: _is_int(v, 3),
    "counts": lambda v: isinstance(v, list) and len(v) == 3 and all(_is_int(c, 0) for c in v),
    "data_seed": lambda v: _is_int(v, 0),
    "connectivity": lambda v: v in (4, 6, 8, 18, 26),
    "terrain_source": lambda v: v in ("jacksboro", "random"),
    "max_slope": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0,
    "neighbours": lambda v: _is_int(v, 1),
    "goal_mode": lambda v: v in ("angles", "point"),
    "self_loops": lambda v: isinstance(v, bool),
    "kernel_size": lambda v: _is_int(v, 3) and v % 2 == 1,
})
"""What a saved value of each data setting (and the record's ``kernel_size``) may be."""


@dataclass(frozen=True)
class World:
    """One kind of planning data.

    Attributes:
        name: the ``--world`` name.
        help: a few words for ``--world``'s help, e.g. ``"2-D grid mazes, default"``.
        title: what its data is called in a list, e.g. ``"3-D mazes"``.
        size_help: what ``size`` counts, e.g. ``"cells a side"``.
        settings: the data settings of a generated spec and their defaults
            (read-only; :meth:`default_settings` gives a copy). A custom world's
            settings hold at least ``size`` and ``counts``.
        dataset: its dataset class: :meth:`load` builds ``dataset(split=split,
            **settings)`` with the spec's settings as keywords (and ``root`` where
            :attr:`cached`, ``kernel_size`` where :attr:`kernel_sizes`).
        connectivity: the connectivities it allows (``()``: it has none).
        in_channels: node features ``x [N, F]`` of its graphs.
        edge_dim: ``D`` of ``edge_attr [E, D]`` for geometric planners; ``None``
            for grid worlds, whose planners read edge types through a stencil.
        depth_factor: the training recipe's ``TrainConfig.depth_factor`` for VIN and
            DT-VIN on this world (``gvin train --depth-factor``'s default): training
            depths drawn from ``[K, F·K]``. 3 where it was measured to let planners plan
            deeper and on larger maps (mazes; C-spaces lose nothing), 1 on terrain,
            where it cost 3–6 points of success (``benchmarks/results/head_ablation.md``).
        edge_features: (grid worlds) ``D`` of the ``edge_attr [E, D]`` its typed
            planners also read by default, as per-edge features (terrain: rise,
            slope, lengths); ``None``: edge types say all there is.
        ndim: grid dimensions (grid worlds).
        cached: generated data is cached under a ``root`` folder (``--root``).
        file_dataset: (worlds that can read their data from a GPPN ``.npz`` file,
            ``npz``) ``file_dataset(path, split=..., connectivity=..., kernel_size=...)``.
        kernel_sizes: its graphs may use an ``F×F`` stencil (``--kernel-size``).
        noun: what one item is called, e.g. ``"maze"`` (plural: ``noun + "s"``).
        later: settings added after records of this world were first saved, with
            the value a record without them means. A spec records such a setting
            only when it differs from that value, so older records keep their identity.
        checks: what a saved value of each of its settings may be, for settings
            that :data:`SETTING_CHECKS` does not know (a custom world's own).
    """

    name: str
    help: str
    title: str
    size_help: str
    settings: Mapping[str, Any]
    dataset: DatasetClass = field(repr=False)
    connectivity: tuple[int, ...] = ()
    in_channels: int = 2
    edge_dim: int | None = None
    edge_features: int | None = None
    depth_factor: float = 1.0
    ndim: int = 2
    cached: bool = False
    file_dataset: DatasetClass | None = field(default=None, repr=False)
    kernel_sizes: bool = False
    noun: str = "maze"
    later: Mapping[str, Any] = field(default_factory=dict)
    checks: Mapping[str, Callable[[Any], bool]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in ("settings", "later", "checks"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def files(self) -> bool:
        """It can read its data from a GPPN ``.npz`` file (``npz``)."""
        return self.file_dataset is not None

    def check(self, key: str) -> Callable[[Any], bool]:
        """What a saved value of setting ``key`` may be (its own :attr:`checks`, else :data:`SETTING_CHECKS`)."""
        return self.checks.get(key) or SETTING_CHECKS[key]

    # -- settings
    @property
    def grid(self) -> bool:
        """Its graphs are grids (edge types, a stencil, ``data.action``); else geometric graphs."""
        return self.edge_dim is None

    def default_settings(self) -> dict[str, Any]:
        """A fresh copy of :attr:`settings` (safe to change)."""
        return copy.deepcopy(dict(self.settings))

    def identity_keys(self, spec: Mapping[str, Any]) -> tuple[str, ...]:
        """The settings that decide which data ``spec`` means (a maze file: the file and connectivity)."""
        if self.files and spec.get("npz"):
            return ("npz", "connectivity")
        return tuple(self.settings)

    # -- data
    def load(self, spec: Mapping[str, Any], root: str | Path | None, split: str, kernel_size: int = 3):
        """One split (``"train"``, ``"valid"``, ``"test"``) of ``spec``'s data as a dataset of labelled graphs.

        ``root`` is the cache folder of a :attr:`cached` world (default ``datasets``; ignored by the
        others). A spec naming an ``npz`` file is read with :attr:`file_dataset`; else the dataset is
        ``dataset(split=split, **settings)``, a setting the spec lacks given its :attr:`later` value.
        """
        if self.files and spec.get("npz"):
            return self.file_dataset(spec["npz"], split=split, connectivity=spec["connectivity"],
                                     kernel_size=kernel_size)
        settings = {key: spec[key] if key in spec else self.later[key]
                    for key in self.settings if key in spec or key in self.later}
        if self.kernel_sizes:
            settings["kernel_size"] = kernel_size
        if self.cached:
            settings["root"] = Path(root) if root is not None else Path("datasets")
        return self.dataset(split=split, **settings)

    def stencil(self, spec: Mapping[str, Any], kernel_size: int = 3) -> list | None:
        """The ``[T, d]`` offsets table its graphs are built with (``None`` for geometric worlds)."""
        if not self.grid:
            return None
        if self.ndim == 3:
            return grid_stencil(3, spec["connectivity"]).tolist()
        return grid_stencil(2, spec["connectivity"], kernel_size).tolist()

    def planner_kwargs(
        self, spec: Mapping[str, Any], kernel_size: int = 3, edge_features: bool = True
    ) -> dict[str, Any]:
        """A planner's constructor arguments that the data decides.

        ``{"stencil": ...}`` or ``{"edge_dim": D}``, ``in_channels`` where it
        is not the planners' default 2 (so that runs recorded without it are
        unchanged), and ``edge_features`` where the world has them and
        ``edge_features`` is true.
        """
        kwargs: dict[str, Any] = {"stencil": self.stencil(spec, kernel_size)} if self.grid \
            else {"edge_dim": self.edge_dim}
        if self.in_channels != 2:
            kwargs["in_channels"] = self.in_channels
        if edge_features and self.edge_features is not None:
            kwargs["edge_features"] = self.edge_features
        return kwargs

    def side(self, item: Data) -> int:
        """A length scale of ``item`` in moves (the default depth is a multiple of it).

        The grid's longest side, or ``⌈√N⌉`` for a roadmap of ``N`` nodes.
        """
        shape = getattr(item, "grid_shape", None)
        if self.grid and shape is not None:
            return int(torch.as_tensor(shape).max())
        return max(1, math.ceil(math.sqrt(item.num_nodes)))

    def footprint(self, spec: Mapping[str, Any], kernel_size: int = 3) -> tuple[int, int]:
        """``(nodes, edges)`` of one item of generated data (``spec["size"]``), for memory estimates."""
        size = int(spec["size"])
        if not self.grid:
            return size, 2 * int(spec.get("neighbours", 8)) * size  # symmetrised k-NN: at most 2k links a node
        nodes = size ** self.ndim
        return nodes, nodes * kernel_size ** self.ndim

    def describe(self, spec: Mapping[str, Any]) -> str:
        """One item's size in words: ``"mazes of 7x7"``, ``"roadmaps of 100 samples"``."""
        if not self.grid:
            return f"{self.noun}s of {spec['size']} samples"
        return f"{self.noun}s of {'x'.join([str(spec['size'])] * self.ndim)}"


# ----------------------------------------------------------------------------- the registry
_MAZE = {"kind": "gppn", "size": 11, "counts": [2000, 200, 500], "data_seed": 0, "connectivity": 4}

_BUILT_IN = (
    World("maze", "2-D grid mazes, default", "mazes", "cells a side", _MAZE, MazeDataset,
          connectivity=(4, 8), cached=True, file_dataset=GPPNDataset, kernel_sizes=True, depth_factor=3.0),
    World("maze3d", "3-D mazes, --size S: S×S×S", "3-D mazes", "cells a side", {**_MAZE, "connectivity": 6},
          Maze3DDataset, connectivity=(6, 18, 26), ndim=3, cached=True, depth_factor=3.0),
    World("terrain", "rover terrain windows, --size cells a side", "terrain", "cells a side",
          {"terrain_source": "jacksboro", "size": 32, "counts": [200, 50, 50], "data_seed": 0, "max_slope": 20.0,
           "connectivity": 8},
          TerrainDataset, connectivity=(4, 8), in_channels=4, edge_features=4, noun="terrain window"),  # free, goal, elevation, steepest slope
    World("cspace", "2-link arm, --size bins a joint", "C-spaces", "bins a joint",
          {"size": 18, "counts": [2000, 200, 500], "data_seed": 0, "connectivity": 8, "goal_mode": "angles"},
          CSpaceDataset, connectivity=(4, 8), later={"goal_mode": "angles"}, noun="C-space", depth_factor=3.0),
    World("roadmap", "probabilistic roadmaps of 2-D workspaces, --size samples", "roadmaps", "samples",
          {"size": 100, "counts": [2000, 200, 500], "data_seed": 0, "neighbours": 8, "self_loops": True},
          RoadmapDataset, edge_dim=3, noun="roadmap", later={"self_loops": False}),  # edge_attr: offset and length (gvin.datasets.roadmap.EDGE_DIM)
    World("streets", "windows of a real street network (OpenStreetMap; needs gvin[osm]), --size intersections",
          "street windows", "intersections", {"size": 200, "counts": [1000, 200, 200], "data_seed": 0,
                                              "city": "helsinki", "network": "walking"}, StreetDataset,
          edge_dim=3, noun="street window",
          checks={"city": lambda v: isinstance(v, str) and bool(v), "network": lambda v: v in NETWORKS}),
)
_REGISTRY: dict[str, World] = {world.name: world for world in _BUILT_IN}

WORLDS: Mapping[str, World] = MappingProxyType(_REGISTRY)
"""Every world by name, in the order the command lists them (read-only; :func:`register_world` adds to it)."""


def register_world(world: World) -> World:
    """Add a world to :data:`WORLDS`, for ``gvin train --world <name>`` and ``train_run(world=<name>)``.

    Register it before the command's parser is built (before :func:`gvin.cli.main`). Its
    ``settings`` need ``size`` and ``counts`` (the command's ``--size`` and ``--counts``),
    ``data_seed`` by convention, and ``connectivity`` exactly when it allows some; a setting
    that :data:`SETTING_CHECKS` does not know needs a check in ``world.checks`` (the command
    sets only the settings it has options for; the others keep their defaults).

    Returns:
        ``world``.

    Raises:
        TypeError: not a :class:`World`. ValueError: a name already registered (built in or
        not), or settings that break the rules above.
    """
    if not isinstance(world, World):
        raise TypeError(f"register_world takes a gvin.datasets.worlds.World, got {type(world).__name__}")
    if not isinstance(world.name, str) or not world.name.isidentifier():
        raise ValueError(f"a world's name must be a word (letters, digits, _), got {world.name!r}")
    if world.name in _REGISTRY:
        raise ValueError(f"a world named {world.name!r} is already registered; pick another name "
                         f"(registered: {', '.join(_REGISTRY)})")
    missing = [key for key in ("size", "counts") if key not in world.settings]
    if missing:
        raise ValueError(f"world {world.name!r}: its settings need {' and '.join(missing)}")
    if bool(world.connectivity) != ("connectivity" in world.settings):
        raise ValueError(f"world {world.name!r}: a 'connectivity' setting goes with connectivity=(...) and only then")
    unknown = [key for key in world.settings if key not in world.checks and key not in SETTING_CHECKS]
    if unknown:
        raise ValueError(f"world {world.name!r}: no check for setting(s) {', '.join(unknown)}; give them in checks=")
    bad = [key for key, value in world.settings.items() if not world.check(key)(value)]
    if bad or ("connectivity" in world.settings and world.settings["connectivity"] not in world.connectivity):
        raise ValueError(f"world {world.name!r}: bad default of {', '.join(bad or ['connectivity'])}")
    _REGISTRY[world.name] = world
    return world


def unregister_world(name: str) -> World:
    """Remove a world that :func:`register_world` added (``ValueError`` for a built-in or unknown name)."""
    if name in {world.name for world in _BUILT_IN}:
        raise ValueError(f"{name!r} is a built-in world; only registered worlds can be removed")
    if name not in _REGISTRY:
        raise ValueError(f"no registered world named {name!r}")
    return _REGISTRY.pop(name)


def world_of(spec: Mapping[str, Any]) -> str:
    """A spec's world; records written before worlds existed are mazes."""
    return spec.get("world") or DEFAULT_WORLD


def get_world(spec_or_name: Mapping[str, Any] | str) -> World:
    """The :class:`World` of a spec or a name (``ValueError`` naming the known worlds)."""
    name = spec_or_name if isinstance(spec_or_name, str) else world_of(spec_or_name)
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r}; expected one of {', '.join(WORLDS)}")
    return WORLDS[name]


def data_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that decide which data a spec means: the file, or the generator's settings (and world).

    A maze's identity holds no ``"world"``, as records from before worlds did.
    """
    world = get_world(spec)
    identity = {key: spec.get(key) for key in world.identity_keys(spec)
                if not (key in world.later and spec.get(key, world.later[key]) == world.later[key])}
    return identity if world.name == DEFAULT_WORLD else {"world": world.name, **identity}


def check_record(record: Any, source: Any) -> dict[str, Any]:
    """A saved data record (a spec's identity and ``kernel_size``) from ``source``, validated.

    Raises:
        ValueError: ``"<source> holds a broken data record (missing or bad: size, counts); fix or delete it"``
            (or not a mapping, or an unknown world).
    """
    if not isinstance(record, dict):
        raise ValueError(f"{source} holds a broken data record (a {type(record).__name__}, not a mapping)")
    name = record.get("world", DEFAULT_WORLD)
    world = WORLDS.get(name) if isinstance(name, str) else None
    if world is None:
        raise ValueError(f"{source} holds a broken data record (missing or bad: world); fix or delete it")
    keys = world.identity_keys(record)
    filled = {**world.later, **record}
    bad = [key for key in (*keys, "kernel_size") if key not in filled or not world.check(key)(filled[key])]
    if not bad and "connectivity" in keys and record["connectivity"] not in world.connectivity:
        bad = ["connectivity"]
    if bad:
        raise ValueError(f"{source} holds a broken data record (missing or bad: {', '.join(bad)}); fix or delete it")
    return record
