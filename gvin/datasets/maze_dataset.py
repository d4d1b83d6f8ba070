"""PyG datasets of grid mazes with exact expert labels.

Both datasets keep *compact* arrays in memory (bit-packed mazes, goal indices,
``uint16`` distances) and build each planning graph on access, so 10,000 mazes
of 100×100 take ~210 MB instead of gigabytes of collated edges. Items are
exactly ``gvin.from_grid(maze, goal, connectivity=..., kernel_size=...)`` (all
cells as nodes) plus the expert labels of the planning-graph conventions:

* ``dist`` ``[N]`` float32: moves to the goal, ``inf`` on walls / unreachable;
* ``optimal`` ``[E]`` bool: move ``(s, s')`` with ``s`` not the goal,
  ``dist[s]`` finite and ``dist[s] == 1 + dist[s']`` (ties kept).

:class:`MazeDataset` generates its mazes (seeded) on first use and caches them
under ``root``; :class:`GPPNDataset` reads a GPPN ``.npz`` file.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch_geometric.data import Data, InMemoryDataset

from gvin._checks import as_array, binary, check_memory
from gvin.datasets._io import atomic_savez
from gvin.datasets.base import check_split, renamed_keywords
from gvin.datasets.generators import (
    KINDS,
    SPLITS,
    MazeBatch,
    as_counts,
    as_shape,
    generate_splits,
)
from gvin.datasets.gppn import default_gppn_actions, gppn_label_errors, load_gppn_npz
from gvin.graphs.grid import TEMPLATE_FIELDS, grid_stencil, grid_template, move_offsets
from gvin.planners.grid import grid_distances

__all__ = ["GridMazeDataset", "MazeDataset", "Maze3DDataset", "GPPNDataset", "GridGraphBuilder", "maze_dataset_bytes"]

_FORMAT_VERSION = 1
_LABEL_CHUNK_CELLS = 1 << 22


# ----------------------------------------------------------------------------- graph building


class GridGraphBuilder:
    """Builds ``from_grid`` graphs for one grid shape from a shared edge template.

    The edge structure of ``from_grid`` (without ``free_only``) does not depend
    on the maze, so it is computed once (:func:`gvin.graphs.grid.grid_template`,
    shared with :func:`gvin.from_terrain`); each graph then only needs its node
    flags, ``move`` / ``action`` masks and labels (a few numpy gathers, ~10× faster
    than ``from_grid``; numpy also keeps this fast inside DataLoader workers and
    on busy machines, where small multi-threaded torch kernels can stall).

    ``tests/test_datasets.py`` holds it equal to ``from_grid``.

    Args:
        shape: grid shape ``(H, W)`` or ``(D, H, W)``.
        connectivity: move connectivity (see :func:`gvin.from_grid`).
        kernel_size: optional odd stencil size (see :func:`gvin.from_grid`).
        wrap: a torus (see :func:`gvin.from_grid`), e.g. joint-angle C-spaces.
    """

    def __init__(
        self, shape: Sequence[int], connectivity: int | None = None, kernel_size: int | None = None,
        wrap: bool = False,
    ) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.connectivity, self.kernel_size, self.wrap = connectivity, kernel_size, wrap
        template = grid_template(self.shape, connectivity, kernel_size, wrap)
        self._fields = {key: template[key] for key in TEMPLATE_FIELDS}  # read-only, shared
        self._stencil = template["stencil"]
        self._edge_is_move = template["is_move"]

    @property
    def num_cells(self) -> int:
        return int(np.prod(self.shape))

    def _check_free(self, free: Any) -> np.ndarray:
        array = as_array(free, "free")
        if array.size != self.num_cells:
            raise ValueError(
                f"free must have one entry per cell ({self.num_cells} for shape {self.shape}), "
                f"got shape {array.shape}"
            )
        return binary(array, "free", "free must be binary (True/1 = free, False/0 = wall)").reshape(self.num_cells)

    def _check_goal(self, goal: Any, free: np.ndarray) -> int:
        if isinstance(goal, (bool, np.bool_)) or not isinstance(goal, (int, np.integer)):
            raise TypeError(f"goal must be an integer flat cell index, got {goal!r}")
        if not 0 <= goal < self.num_cells:
            raise ValueError(f"goal {int(goal)} is out of range for a grid of {self.num_cells} cells")
        if not free[goal]:
            where = tuple(int(i) for i in np.unravel_index(int(goal), self.shape))
            raise ValueError(f"goal {int(goal)} (cell {where}) is on a wall")
        return int(goal)

    def build(self, free: np.ndarray, goal: int, dist: np.ndarray | None = None) -> Data:
        """One planning graph.

        Args:
            free: ``[C]`` bool (flat, row-major).
            goal: flat goal index.
            dist: ``[C]`` float32 distances (adds ``dist`` and ``optimal``).

        Returns:
            :class:`~torch_geometric.data.Data` equal to ``from_grid(maze, goal, ...)``.
        """
        free = self._check_free(free)
        goal = self._check_goal(goal, free)
        goal_mask = np.zeros(self.num_cells, dtype=bool)
        goal_mask[goal] = True
        source, target = self._fields["edge_index"]
        action = self._edge_is_move & free[source]
        move = action & free[target]
        tensors = {key: torch.from_numpy(value.copy()) for key, value in self._fields.items()}
        data = Data(
            x=torch.from_numpy(np.stack([free, goal_mask], axis=1).astype(np.float32)),
            move=torch.from_numpy(move),
            action=torch.from_numpy(action),
            goal=torch.from_numpy(goal_mask),
            stencil=self._stencil,
            **tensors,
        )
        if dist is not None:
            dist = np.asarray(dist, dtype=np.float32)
            if dist.size != self.num_cells:
                raise ValueError(
                    f"dist must have one entry per cell ({self.num_cells} for shape {self.shape}), "
                    f"got shape {dist.shape}"
                )
            dist = dist.reshape(self.num_cells)
            start = dist[source]
            optimal = move & ~goal_mask[source] & np.isfinite(start) & (start == dist[target] + 1)
            data.dist = torch.from_numpy(dist.copy())
            data.optimal = torch.from_numpy(optimal)
        return data


# ----------------------------------------------------------------------------- compact labels


def _code_dtype(cells: int) -> type:
    """uint16 suffices when every finite distance (< cells) stays below the inf code."""
    return np.uint16 if cells < np.iinfo(np.uint16).max else np.int32


def _encode_dist(dist: np.ndarray, dtype: type) -> np.ndarray:
    """float distances (inf = unreachable) → integer codes; the dtype's max means inf."""
    finite = np.isfinite(dist)
    codes = np.full(dist.shape, np.iinfo(dtype).max, dtype=dtype)
    codes[finite] = dist[finite]
    return codes


def _decode_dist(codes: np.ndarray) -> np.ndarray:
    out = codes.astype(np.float32)
    out[codes == np.iinfo(codes.dtype).max] = np.inf
    return out


def maze_dataset_bytes(size: Any, counts: Any, ndim: int | None = None, split: str | None = None) -> int:
    """A lower bound on the memory, in bytes, that a :class:`MazeDataset` of these parameters needs.

    Every maze takes one byte a cell as a bool array, its distance labels two (four past
    65,535 cells) and its goal eight; the real peak is higher (generation keeps copies and
    keys), so a bound above the machine's memory surely fails.

    Args:
        size: the maze side or shape (see :class:`MazeDataset`).
        counts: ``(train, valid, test)`` or a mapping with those keys.
        ndim: 2 or 3 (default: from ``size``).
        split: ``None``: generating every split at once (a dataset's first use, or
            ``force_reload``); ``"train"``, ``"valid"`` or ``"test"``: loading that split from
            the cache file.

    Returns:
        The bound in bytes (a Python int: no overflow for absurd counts).
    """
    shape = as_shape(size, ndim)
    wanted = as_counts(counts)
    cells = int(np.prod(shape))
    per_maze = cells * (1 + np.dtype(_code_dtype(cells)).itemsize) + 8
    count = sum(wanted.values()) if split is None else wanted[check_split(split)]
    return count * per_maze


def _label(mazes: np.ndarray, goals: np.ndarray, connectivity: int | None) -> np.ndarray:
    """``[n, *shape]`` mazes, ``[n]`` goals → ``[n, C]`` distance codes (chunked)."""
    n, cells = len(mazes), int(np.prod(mazes.shape[1:]))
    dtype = _code_dtype(cells)
    codes = np.empty((n, cells), dtype=dtype)
    per = max(1, _LABEL_CHUNK_CELLS // max(cells, 1))
    for i in range(0, n, per):
        dist = grid_distances(
            mazes[i : i + per], goals[i : i + per], connectivity, ndim=mazes.ndim - 1
        )
        codes[i : i + per] = _encode_dist(dist.reshape(-1, cells), dtype)
    return codes


# ----------------------------------------------------------------------------- base dataset


class GridMazeDataset(InMemoryDataset):
    """Base class: compact maze arrays in memory, graphs built in :meth:`get`.

    Subclasses call :meth:`_set_arrays`. Besides graphs, the arrays are exposed
    for conv (grid) models: :attr:`mazes`, :attr:`goals`, :attr:`goal_maps`,
    :attr:`distances`.
    """

    def __init__(
        self,
        root: str | None,
        connectivity: int | None,
        kernel_size: int | None,
        transform: Callable | None = None,
        log: bool = True,
    ) -> None:
        super().__init__(root, transform, log=log)
        self.connectivity = connectivity
        self.kernel_size = kernel_size
        self._builder: GridGraphBuilder | None = None
        self._packed = np.zeros((0, 0), dtype=np.uint8)
        self._goals = np.zeros(0, dtype=np.int64)
        self._codes = np.zeros((0, 0), dtype=np.uint16)
        self._shape: tuple[int, ...] = ()

    def _set_arrays(self, mazes: np.ndarray, goals: np.ndarray, codes: np.ndarray) -> None:
        self._shape = tuple(int(s) for s in mazes.shape[1:])
        self._packed = np.packbits(mazes.reshape(len(mazes), int(np.prod(self._shape))), axis=1)
        self._goals = np.asarray(goals, dtype=np.int64)
        self._codes = codes
        self._builder = GridGraphBuilder(self._shape, self.connectivity, self.kernel_size)

    # -- PyG interface
    def len(self) -> int:
        return len(self._goals)

    def get(self, idx: int) -> Data:
        cells = int(np.prod(self._shape))
        free = np.unpackbits(self._packed[idx], count=cells).astype(bool)
        return self._builder.build(free, int(self._goals[idx]), _decode_dist(self._codes[idx]))

    def copy(self, idx: Any = None) -> "GridMazeDataset":
        """A copy (of the subset ``idx``) sharing nothing mutable with this dataset."""
        subset = self if idx is None else self.index_select(idx)
        rows = np.asarray(subset.indices(), dtype=np.int64)
        out = copy.copy(self)
        out._indices = None
        out._packed = self._packed[rows].copy()
        out._goals = self._goals[rows].copy()
        out._codes = self._codes[rows].copy()
        return out

    # -- arrays for grid models
    def _rows(self) -> np.ndarray:
        return np.asarray(self.indices(), dtype=np.int64)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """The grid shape of every item."""
        return self._shape

    @property
    def mazes(self) -> np.ndarray:
        """``[n, *shape]`` bool free maps (this view's items, in order)."""
        cells = int(np.prod(self._shape))
        flat = np.unpackbits(self._packed[self._rows()], axis=1, count=cells).astype(bool)
        return flat.reshape((-1,) + self._shape)

    @property
    def goals(self) -> np.ndarray:
        """``[n]`` int64 flat goal indices."""
        return self._goals[self._rows()]

    @property
    def goal_maps(self) -> np.ndarray:
        """``[n, *shape]`` bool one-hot goal maps."""
        return MazeBatch(self.mazes, self.goals).goal_masks()

    @property
    def distances(self) -> np.ndarray:
        """``[n, *shape]`` float32 distances to the goal (``inf`` on walls / unreachable)."""
        return _decode_dist(self._codes[self._rows()]).reshape((-1,) + self._shape)


def _check_kernel(kernel_size: int | None) -> int | None:
    if kernel_size is not None:
        grid_stencil(2, None, kernel_size)  # raises on a bad size
    return kernel_size


# ----------------------------------------------------------------------------- generated mazes


class MazeDataset(GridMazeDataset):
    """Generated mazes (GPPN-style or random gridworlds), cached under ``root``.

    On first use the three splits are generated with
    :func:`~gvin.datasets.generators.generate_splits`, labelled, and written
    atomically to ``root/mazes/<parameters>.npz``; later instances with the same
    parameters read that file.

    Args:
        root: data root (default ``"datasets"``).
        split: ``"train"``, ``"valid"`` or ``"test"``.
        kind: ``"gppn"`` (depth-first maze + decimation) or ``"gridworld"``
            (random obstacles).
        size: side length (int) or shape tuple; every side ``>= 3``. 3-D mazes:
            a 3-tuple ``(D, H, W)`` or an int with ``ndim=3``; the cache file
            name holds the shape (``gppn_8x8x8_c6_...``), so 2-D and 3-D caches
            never collide. 3-D goals default to ``goal_mode="connected"`` (see
            :mod:`gvin.datasets.generators`).
        counts: ``(train, valid, test)`` sizes (``count=``: deprecated name).
        seed: integer seed (``data_seed=``, the world spec's key, is the same).
        connectivity: moves (4 / 8 in 2-D, 6 / 18 / 26 in 3-D; default 4 / 6).
        ndim: 2 or 3 (default: from ``size``, 2 for an int).
        kernel_size: passed to :func:`gvin.from_grid` (edge stencil only).
        transform: PyG transform applied on access.
        force_reload: regenerate even if the cache file exists.
        log: print progress to stderr.
        **options: generator options (``decimation=(lo, hi)`` for ``"gppn"``;
            ``density``, ``border`` for ``"gridworld"``; ``unique``, ``goal_mode``).

    Raises:
        ValueError: counts whose arrays cannot fit in this machine's memory
            (:func:`maze_dataset_bytes` of every split when generating, of ``split``
            when loading the cache), refused before anything is allocated.
    """

    @renamed_keywords(deprecated={"count": "counts"}, synonyms={"data_seed": "seed"})
    def __init__(
        self,
        root: str | os.PathLike = "datasets",
        split: str = "train",
        kind: str = "gppn",
        size: Any = 15,
        counts: Sequence[int] = (10000, 2000, 2000),
        seed: int = 0,
        connectivity: int | None = None,
        ndim: int | None = None,
        kernel_size: int | None = None,
        transform: Callable | None = None,
        force_reload: bool = False,
        log: bool = True,
        **options: Any,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        integer = isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_))
        if not integer or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.split = check_split(split)
        self.kind, self.seed = kind, int(seed)
        self.shape = as_shape(size, ndim)
        self.ndim = len(self.shape)
        move_offsets(self.ndim, connectivity)  # validates the connectivity
        self.counts = tuple(as_counts(counts).values())
        self.options = dict(options)
        super().__init__(str(root), connectivity, _check_kernel(kernel_size), transform, log)
        self._load_or_generate(force_reload)

    @property
    def processed_dir(self) -> str:
        return os.path.join(self.root, "mazes")

    @property
    def processed_file_names(self) -> list[str]:
        conn = self.connectivity or {2: 4, 3: 6}[self.ndim]
        record: dict[str, Any] = {"v": _FORMAT_VERSION, "options": self.options}
        if self.ndim == 3:  # 3-D goals default to the "connected" rule (a newer 3-D format)
            record["goals3d"] = 2
        key = json.dumps(record, sort_keys=True, default=str)
        digest = hashlib.sha1(key.encode()).hexdigest()[:8]
        shape = "x".join(map(str, self.shape))
        counts = "-".join(map(str, self.counts))
        return [f"{self.kind}_{shape}_c{conn}_n{counts}_seed{self.seed}_{digest}.npz"]

    @property
    def path(self) -> Path:
        """The cache file of these parameters."""
        return Path(self.processed_dir) / self.processed_file_names[0]

    def _check_memory(self, generate: bool) -> None:
        """Refuse counts whose arrays cannot fit in this machine's memory (:func:`maze_dataset_bytes`)."""
        split = None if generate else self.split
        count = sum(self.counts) if generate else self.counts[SPLITS.index(self.split)]
        doing = "generating" if generate else f"loading the {self.split} split of"
        check_memory(
            maze_dataset_bytes(self.shape, self.counts, split=split),
            f"MazeDataset(counts={self.counts}): {doing} {count:,} mazes of {'x'.join(map(str, self.shape))} "
            "with their labels would",
            "reduce counts or size",
        )

    def _load_or_generate(self, force_reload: bool) -> None:
        generate = force_reload or not self.path.exists()
        self._check_memory(generate)
        if generate:
            self._generate()
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                mazes = archive[f"{self.split}_mazes"]
                goals = archive[f"{self.split}_goals"]
                codes = archive[f"{self.split}_dist"]
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise ValueError(
                f"cannot read the maze cache {self.path} ({exc}); "
                "delete it or pass force_reload=True"
            ) from exc
        cells = int(np.prod(self.shape))
        n = self.counts[SPLITS.index(self.split)]
        if mazes.shape != (n,) + self.shape or goals.shape != (n,) or codes.shape != (n, cells):
            raise ValueError(
                f"maze cache {self.path} does not match its parameters; pass force_reload=True"
            )
        self._set_arrays(mazes.astype(bool), goals, codes)

    def _generate(self) -> None:
        if self.log:
            print(f"Generating {self.path} ...", file=sys.stderr)
        splits = generate_splits(
            self.kind, self.shape, self.counts, self.seed, ndim=self.ndim, **self.options
        )
        arrays: dict[str, np.ndarray] = {}
        for name, batch in splits.items():
            arrays[f"{name}_mazes"] = batch.mazes
            arrays[f"{name}_goals"] = batch.goals
            arrays[f"{name}_dist"] = _label(batch.mazes, batch.goals, self.connectivity)
        atomic_savez(self.path, arrays)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.shape))
        return f"{self.__class__.__name__}({self.kind}, {shape}, split={self.split}, n={len(self)})"


class Maze3DDataset(MazeDataset):
    """Generated 3-D mazes: a :class:`MazeDataset` with ``ndim=3`` (an int ``size`` is a cube).

    The same cache files as ``MazeDataset(..., size=(S, S, S))``; the registry's ``maze3d`` world.
    """

    def __init__(self, root: str | os.PathLike = "datasets", split: str = "train", **kwargs: Any) -> None:
        super().__init__(root, split, **{**kwargs, "ndim": 3})


# ----------------------------------------------------------------------------- GPPN files


class GPPNDataset(GridMazeDataset):
    """One split of a GPPN ``.npz`` file as planning graphs.

    The file's mazes and goals are kept; ``dist`` / ``optimal`` are recomputed
    exactly (all optimal moves, not the file's single tie-broken label).

    Args:
        path: the ``.npz`` file (see :mod:`gvin.datasets.gppn`).
        split: ``"train"``, ``"valid"`` or ``"test"``.
        connectivity: 4 or 8; default from the number of action channels.
        kernel_size: passed to :func:`gvin.from_grid`.
        actions: the file's action channel order (default
            :func:`~gvin.datasets.gppn.default_gppn_actions`).
        verify: check that every label of a free, reachable, non-goal cell is
            optimal under ``connectivity`` / ``actions`` (``ValueError`` if not:
            usually a wrong connectivity or channel order).
        transform: PyG transform applied on access.
        file_labels: also carry the file's own labels as ``data.expert`` ``[E]``
            bool: the one action GPPN's generator picked (ties broken at random)
            on every free, reachable, non-goal cell. This is what GPPN's code
            trains on (a cross-entropy against one action per cell); train on it
            with ``TrainConfig(loss="expert")``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        split: str = "train",
        connectivity: int | None = None,
        kernel_size: int | None = None,
        actions: Any = None,
        verify: bool = True,
        transform: Callable | None = None,
        file_labels: bool = False,
    ) -> None:
        self.split = check_split(split)
        data = load_gppn_npz(path)[self.split]
        self.file = Path(path)
        num_actions = data.policy.shape[1]
        if connectivity is None:
            connectivity = 8 if num_actions == 8 else 4
        if connectivity not in (4, 8):
            raise ValueError(f"GPPN mazes are 2-D: connectivity must be 4 or 8, got {connectivity}")
        if verify:
            if actions is None:
                actions = default_gppn_actions(num_actions)
            errors = gppn_label_errors(data, connectivity, actions)
            if errors.any():
                raise ValueError(
                    f"{self.file} ({split}): {int(errors.sum())} labels are not optimal under "
                    f"connectivity={connectivity} and the given action order (first bad maze: "
                    f"{int(np.flatnonzero(errors)[0])}); check connectivity / actions"
                )
        super().__init__(None, connectivity, _check_kernel(kernel_size), transform, log=False)
        goals = data.goal_index
        self._set_arrays(data.mazes, goals, _label(data.mazes, goals, connectivity))
        self._label_slots = self._file_label_slots(data, actions) if file_labels else None

    def _file_label_slots(self, data, actions: Any) -> np.ndarray:
        """``[n, C]`` int16: the stencil slot (``edge_type``) of each cell's file label, ``-1`` where the
        cell has no meaningful label (walls, the goal, unreachable cells)."""
        if actions is None:
            actions = default_gppn_actions(data.policy.shape[1])
        stencil = [tuple(int(o) for o in offset) for offset in self._builder._stencil]
        offsets = [tuple(int(o) for o in offset) for offset in np.asarray(actions)]
        missing = [offset for offset in offsets if offset not in stencil]
        if missing:
            raise ValueError(f"the file's actions {missing} are not in the graphs' stencil; use a larger kernel_size")
        slot_of_action = np.array([stencil.index(offset) for offset in offsets], dtype=np.int16)
        n, cells = len(data), self._builder.num_cells
        chosen = data.policy.reshape(n, len(offsets), cells).argmax(1)
        dist = _decode_dist(self._codes)
        labelled = np.isfinite(dist) & (dist > 0)
        return np.where(labelled, slot_of_action[chosen], np.int16(-1)).astype(np.int16)

    def get(self, idx: int) -> Data:
        data = super().get(idx)
        if self._label_slots is not None:
            source = data.edge_index[0]
            slots = torch.from_numpy(self._label_slots[idx].astype(np.int64))
            data.expert = (slots[source] == data.edge_type) & data.move
        return data

    def copy(self, idx: Any = None) -> "GPPNDataset":
        out = super().copy(idx)
        if self._label_slots is not None:
            subset = self if idx is None else self.index_select(idx)
            out._label_slots = self._label_slots[np.asarray(subset.indices(), dtype=np.int64)].copy()
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.file.name}, split={self.split}, n={len(self)})"
