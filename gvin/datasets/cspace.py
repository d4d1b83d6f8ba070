"""A dataset of 2-link-arm configuration-space planning tasks (the IDP paper's C-space benchmark).

Each item is one random workspace (``0–5`` :func:`gvin.random_obstacles`
circles / boxes around the arm) turned into the arm's toroidal C-space graph
(:func:`gvin.from_cspace`) with one goal configuration, the exact expert labels
and the workspace image:

* the graph is exactly ``gvin.from_cspace(arm, obstacles, bins, goal,
  connectivity=connectivity)`` (``x``, ``move``, ``action``, ``goal``,
  ``angles``, ``effector``, ...);
* ``dist`` ``[N]`` float32: moves to the goal (:func:`gvin.shortest_path_distances`,
  unit cost per move), ``inf`` where the goal cannot be reached;
* ``optimal`` ``[E]`` bool: :func:`gvin.optimal_edges`;
* ``workspace`` ``[1, S, S]`` bool: :func:`gvin.workspace_occupancy` of the
  obstacles (``S = workspace_size``) over ``extent``; the leading 1 makes a
  batch of ``B`` items hold ``[B, S, S]``;
* ``obstacles`` ``[1, K, 5]`` float64 (``K = max_obstacles``): one row per
  obstacle, ``(0, cx, cy, r, 0)`` for a circle, ``(1, x_min, y_min, x_max,
  y_max)`` for a box, padding rows ``-1``; :meth:`CSpaceDataset.obstacles`
  gives them back as :class:`gvin.Circle` / :class:`gvin.Box` objects.

**Goals.** ``goal="angles"`` (default): the goal is a configuration bin drawn
uniformly among the free bins whose connected component (along the toroidal
moves) holds at least 2 bins, i.e. the free bins with at least one free move
neighbour, so at least one other configuration reaches it. A workspace with no
such bin is drawn again.

``goal="point"``: the goal is a workspace point for the end effector,
``data.goal_point`` ``[1, 2]`` float64. It is the end effector of a
collision-free configuration drawn uniformly over the (continuous) joint-angle
torus, so the arm can reach it; the goal set is every free bin whose end
effector lies within ``tolerance`` of it (:func:`gvin.graphs.cspace.goal_point_mask`,
exactly the goal of ``gvin.from_cspace(..., goal_point=..., tolerance=...)``),
and ``dist`` / ``optimal`` lead to the nearest goal bin. A point is kept when
its goal set is not empty and a free bin outside it moves into it; otherwise
another point is drawn (``point_tries`` per workspace), then another workspace.

**Splits.** Every item is seeded from ``(seed, split, index)``: the splits are
independent draws (disjoint in practice), each split's items do not depend on
the other splits' counts, and a larger count keeps a split's first items.

**Memory.** Items are stored compactly and the :class:`~torch_geometric.data.Data`
is built on access from one shared edge template per dataset: the C-space map
as packed bits (``bins² / 8`` bytes), the goal, the obstacles (``K × 5``
float64) and the hop distances as uint16 codes (``2 bins²`` bytes); about
0.9 KB per item at 18 bins and 3 KB at 36 bins. ``goal="point"`` stores the
goal set as packed bits (``bins² / 8`` bytes) and the point (16 bytes) in place
of the goal index. The workspace image and the ``optimal`` mask are recomputed
on access (they are cheap).
"""
from __future__ import annotations

import numbers
from typing import Any, Iterator

import numpy as np
import torch
from torch_geometric.data import Data

from gvin._checks import count_range, item_index, positive_int
from gvin.datasets.generators import SPLITS, as_counts
from gvin.datasets.maze_dataset import GridGraphBuilder
from gvin.graphs.cspace import (
    TWO_PI,
    Arm,
    Box,
    Circle,
    arm_collisions,
    bin_angles,
    cspace_occupancy,
    default_tolerance,
    goal_point_mask,
    random_obstacles,
    workspace_occupancy,
)
from gvin.graphs.grid import move_offsets
from gvin.planners.grid import grid_distances

__all__ = ["CSpaceDataset", "GOAL_MODES"]

GOAL_MODES = ("angles", "point")
"""``CSpaceDataset(goal=...)``: one goal configuration bin, or an end-effector point and its goal set."""

_INF_CODE = np.iinfo(np.uint16).max


class CSpaceDataset(torch.utils.data.Dataset):
    """Configuration-space planning tasks of a planar 2-link arm with exact expert labels (in memory).

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        bins: bins per joint angle (``>= 3``; the IDP paper uses 18 and 36).
        count: ``(train, valid, test)`` sizes (or a mapping); only this split's
            entry is built. Default ``(10000, 2000, 2000)`` as in the IDP paper.
        arm: the :class:`gvin.Arm` (default ``Arm((1.0, 1.0))``).
        num_obstacles: ``(low, high)``: each task draws its obstacle count
            uniformly in ``low..high`` (inclusive; default ``(0, 5)``).
        seed: non-negative int.
        connectivity: 4 or 8 moves.
        workspace_size: pixels per side of the workspace image (default 96).
        extent: ``(x_min, y_min, x_max, y_max)`` of the workspace the obstacles
            are drawn in and the image covers; default the square of half-side
            ``arm.reach`` around the base (``(-2, -2, 2, 2)`` for the default arm).
        clearance: obstacles keep this distance from the arm's base
            (:func:`gvin.random_obstacles`).
        goal: ``"angles"`` (one goal bin, the default) or ``"point"`` (an
            end-effector point and every free bin within ``tolerance`` of it);
            see the module docstring.
        tolerance: (``goal="point"``) ``> 0``; default
            :func:`gvin.graphs.cspace.default_tolerance` (``reach · π / bins``),
            as in :func:`gvin.from_cspace`.
        point_tries: (``goal="point"``) points drawn per workspace before
            drawing another workspace.
        max_tries: workspaces drawn per item before giving up (``RuntimeError``).
        transform: applied to each item on access.

    Raises:
        ValueError: unknown split or goal mode, bad bins / counts / seed /
            connectivity / workspace_size / num_obstacles / extent / clearance /
            tolerance / point_tries / max_tries.
        TypeError: ``arm`` not a :class:`gvin.Arm`.
        RuntimeError: no workspace with a valid goal in ``max_tries`` draws.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        bins: int = 18,
        count: Any = (10000, 2000, 2000),
        arm: Arm | None = None,
        num_obstacles: tuple[int, int] = (0, 5),
        seed: int = 0,
        connectivity: int = 8,
        workspace_size: int = 96,
        extent: Any = None,
        clearance: float = 0.3,
        goal: str = "angles",
        tolerance: float | None = None,
        point_tries: int = 20,
        max_tries: int = 100,
        transform=None,
    ) -> None:
        super().__init__()
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.bins = positive_int(bins, "bins", 3)
        if self.bins * self.bins >= _INF_CODE:
            raise ValueError(f"bins must be < 256 (distance codes are uint16), got {bins!r}")
        counts = as_counts(count)
        self.arm = Arm((1.0, 1.0)) if arm is None else arm
        if not isinstance(self.arm, Arm):
            raise TypeError(f"arm must be a gvin.Arm, got {type(arm).__name__}")
        low, high = count_range(num_obstacles, "num_obstacles")
        self.num_obstacles = (low, high)
        self.seed = positive_int(seed, "seed", 0)
        if isinstance(connectivity, bool) or connectivity not in (4, 8):
            raise ValueError(f"connectivity must be 4 or 8 in a C-space, got {connectivity!r}")
        self.connectivity = int(connectivity)
        self.workspace_size = positive_int(workspace_size, "workspace_size", 1)
        if extent is None:
            (bx, by), reach = self.arm.base, self.arm.reach
            extent = (bx - reach, by - reach, bx + reach, by + reach)
        workspace_occupancy([], 1, extent)  # validates extent
        self.extent = tuple(float(v) for v in extent)
        random_obstacles(0, 0, workspace=self.extent, keep_clear=self.arm.base, clearance=clearance)  # validates
        self.clearance = float(clearance)
        if not isinstance(goal, str) or goal not in GOAL_MODES:
            raise ValueError(f"goal must be one of {GOAL_MODES}, got {goal!r}")
        self.goal_mode = goal
        if tolerance is not None and goal != "point":
            raise ValueError(f"tolerance applies to goal='point' only, got goal={goal!r}")
        if tolerance is None:
            self.tolerance = default_tolerance(self.arm, self.bins)
        elif isinstance(tolerance, (bool, np.bool_)) or not isinstance(tolerance, numbers.Real) \
                or not np.isfinite(tolerance) or tolerance <= 0:
            raise ValueError(f"tolerance must be a finite number > 0, got {tolerance!r}")
        else:
            self.tolerance = float(tolerance)
        self.point_tries = positive_int(point_tries, "point_tries", 1)
        self.max_tries = positive_int(max_tries, "max_tries", 1)
        self.split, self.counts, self.transform = split, tuple(counts.values()), transform
        self._template()
        self._build(counts[split])

    # -- building
    def _template(self) -> None:
        self._builder = GridGraphBuilder((self.bins, self.bins), self.connectivity, wrap=True)
        self._moves = move_offsets(2, self.connectivity).numpy()
        angles = bin_angles(self.bins)
        t1, t2 = np.meshgrid(angles, angles, indexing="ij")
        _, effector = self.arm.forward_kinematics(t1, t2)
        self._angles = np.stack([t1.reshape(-1), t2.reshape(-1)], axis=1).astype(np.float32)  # row-major, as the nodes
        self._effector = effector.reshape(-1, 2).astype(np.float32)

    def _linked(self, mask: np.ndarray) -> np.ndarray:
        """``[bins, bins]`` bool: the bins one move away from a ``True`` bin (moves are symmetric)."""
        linked = np.zeros_like(mask)
        for di, dj in self._moves:
            linked |= np.roll(mask, (int(di), int(dj)), axis=(0, 1))
        return linked

    def _draw_point(self, rng: np.random.Generator, obstacles: list,
                    free: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """An end-effector point of a free configuration and its goal set (``None``: no usable point)."""
        angles = rng.uniform(0.0, TWO_PI, (self.point_tries, 2))
        hit = arm_collisions(self.arm, obstacles, angles[:, 0], angles[:, 1])
        _, effectors = self.arm.forward_kinematics(angles[:, 0], angles[:, 1])
        for point in effectors[~hit]:
            goal = goal_point_mask(self.arm, point, self.bins, free, tolerance=self.tolerance)
            if goal.any() and (free & ~goal & self._linked(goal)).any():
                return point, goal
        return None

    def _task(self, index: int) -> tuple[list, np.ndarray, Any, np.ndarray | None]:
        """``(obstacles, free [bins, bins], goal, point)``: goal a flat bin (``"angles"``) or a
        ``[bins, bins]`` mask and the ``[2]`` point (``"point"``; ``None`` otherwise)."""
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), index, 0xC5FACE])
        low, high = self.num_obstacles
        for _ in range(self.max_tries):
            obstacles = random_obstacles(rng, int(rng.integers(low, high + 1)), workspace=self.extent,
                                         keep_clear=self.arm.base, clearance=self.clearance)
            free = ~cspace_occupancy(self.arm, obstacles, self.bins)
            if self.goal_mode == "point":
                found = self._draw_point(rng, obstacles, free)
                if found is not None:
                    return obstacles, free, found[1], found[0]
                continue
            candidates = np.flatnonzero(free & self._linked(free))
            if len(candidates):
                return obstacles, free, int(rng.choice(candidates)), None
        what = ("an end-effector point whose goal set another free configuration moves into"
                if self.goal_mode == "point" else "a free configuration with a free neighbour")
        raise RuntimeError(f"item {index}: no workspace in {self.max_tries} draws has {what}; "
                           "lower num_obstacles or clearance")

    def _build(self, count: int) -> None:
        cells = self.bins * self.bins
        width = self.num_obstacles[1]
        self._free = np.zeros((count, (cells + 7) // 8), dtype=np.uint8)
        self._obstacles = np.full((count, width, 5), -1.0, dtype=np.float64)
        frees = np.zeros((count, cells), dtype=bool)
        if self.goal_mode == "point":
            goals = np.zeros((count, cells), dtype=bool)
            self._points = np.zeros((count, 2), dtype=np.float64)
        else:
            goals = self._goals = np.zeros(count, dtype=np.int64)
        for index in range(count):
            obstacles, free, goal, point = self._task(index)
            frees[index] = free.reshape(-1)
            if point is None:
                goals[index] = goal
            else:
                goals[index] = goal.reshape(-1)
                self._points[index] = point
            for row, obstacle in enumerate(obstacles):
                if isinstance(obstacle, Circle):
                    self._obstacles[index, row] = (0.0, *obstacle.center, obstacle.radius, 0.0)
                else:
                    self._obstacles[index, row] = (1.0, *obstacle.min_xy, *obstacle.max_xy)
        self._free[:] = np.packbits(frees, axis=1)
        if self.goal_mode == "point":
            self._goal_bits = np.packbits(goals, axis=1)
            goals = goals.reshape(count, self.bins, self.bins)
        self._dist = np.full((count, cells), _INF_CODE, dtype=np.uint16)
        if count:
            dist = grid_distances(frees.reshape(count, self.bins, self.bins), goals,
                                  self.connectivity, wrap=True).reshape(count, cells)
            finite = np.isfinite(dist)
            self._dist[finite] = dist[finite]

    # -- access
    def obstacles(self, index: int) -> list:
        """The :class:`gvin.Circle` / :class:`gvin.Box` obstacles of item ``index``."""
        rows = self._obstacles[self._index(index)]
        return [Circle((a, b), c) if kind == 0 else Box((a, b), (c, d))
                for kind, a, b, c, d in rows.tolist() if kind >= 0]

    def free(self, index: int) -> np.ndarray:
        """``[bins, bins]`` bool: the C-space map of item ``index`` (``True`` = collision-free)."""
        cells = self.bins * self.bins
        return np.unpackbits(self._free[self._index(index)], count=cells).astype(bool).reshape(self.bins, self.bins)

    def goal(self, index: int) -> int:
        """The flat goal bin ``θ1_bin · bins + θ2_bin`` of item ``index`` (``goal="angles"``)."""
        if self.goal_mode == "point":
            raise ValueError("goal='point' items have a set of goal bins: use goal_mask(index) "
                             "and goal_point(index)")
        return int(self._goals[self._index(index)])

    def goal_mask(self, index: int) -> np.ndarray:
        """``[bins, bins]`` bool: the goal bin(s) of item ``index`` (any goal mode)."""
        return self._goal_flat(self._index(index)).reshape(self.bins, self.bins)

    def goal_point(self, index: int) -> tuple[float, float]:
        """The end-effector goal point ``(x, y)`` of item ``index`` (``goal="point"``)."""
        if self.goal_mode != "point":
            raise ValueError(f"goal_point needs goal='point' items; this dataset has goal={self.goal_mode!r}")
        x, y = self._points[self._index(index)].tolist()
        return x, y

    def _goal_flat(self, index: int) -> np.ndarray:
        cells = self.bins * self.bins
        if self.goal_mode == "point":
            return np.unpackbits(self._goal_bits[index], count=cells).astype(bool)
        mask = np.zeros(cells, dtype=bool)
        mask[self._goals[index]] = True
        return mask

    def _index(self, index) -> int:
        return item_index(index, len(self))

    def __len__(self) -> int:
        return len(self._free)

    def __getitem__(self, index: int) -> Data:
        index = self._index(index)
        cells = self.bins * self.bins
        free = np.unpackbits(self._free[index], count=cells).astype(bool)
        codes = self._dist[index]
        dist = np.where(codes != _INF_CODE, codes.astype(np.float32), np.float32(np.inf))
        data = self._graph(free, self._goal_flat(index), dist)
        rows = self._obstacles[index]
        data.angles = torch.from_numpy(self._angles.copy())
        data.effector = torch.from_numpy(self._effector.copy())
        image = workspace_occupancy(self.obstacles(index), self.workspace_size, self.extent)
        data.workspace = torch.from_numpy(image)[None]
        data.obstacles = torch.from_numpy(rows.copy())[None]
        if self.goal_mode == "point":
            data.goal_point = torch.from_numpy(self._points[index].copy())[None]
        return self.transform(data) if self.transform is not None else data

    def _graph(self, free: np.ndarray, goal: np.ndarray, dist: np.ndarray) -> Data:
        """The shared-template graph of a ``[C]`` free map with the ``[C]`` goal mask and labels."""
        goals = np.flatnonzero(goal)
        data = self._builder.build(free, int(goals[0]), dist)
        if len(goals) > 1:
            # ``optimal`` needs no change: every goal has dist 0, so no move leaves one optimally.
            data.goal = torch.from_numpy(goal.copy())
            data.x[:, 1] = data.goal
        return data

    def __iter__(self) -> Iterator[Data]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        mode = f", goal='point', tolerance={self.tolerance:.4g}" if self.goal_mode == "point" else ""
        return (f"CSpaceDataset({self.split!r}, bins={self.bins}, n={len(self)}, "
                f"connectivity={self.connectivity}, seed={self.seed}{mode})")
