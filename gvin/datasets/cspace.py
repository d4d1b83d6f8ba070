"""A dataset of 2-link-arm configuration-space planning tasks (the IDP paper's C-space benchmark).

Each item is one random workspace (``0–5`` :func:`gvin.random_obstacles`
circles / boxes around the arm) turned into the arm's toroidal C-space graph
(:func:`gvin.from_cspace`) with one goal configuration, the exact expert labels
(those of :class:`gvin.transforms.AddExpertLabels`) and the workspace image:

* the graph is exactly ``gvin.from_cspace(arm, obstacles, size, goal,
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

**Splits.** Every item is seeded from ``(seed, split, index)``
(:class:`~gvin.datasets.base.PlanningDataset`): the splits are
independent draws (disjoint in practice), each split's items do not depend on
the other splits' counts, and a larger count keeps a split's first items.

**Memory.** Items are stored compactly and the :class:`~torch_geometric.data.Data`
is built on access from one shared edge template per dataset: the C-space map
as packed bits (``size² / 8`` bytes), the goal, the obstacles (``K × 5``
float64) and the hop distances as uint16 codes (``2 size²`` bytes); about
0.9 KB per item at 18 bins and 3 KB at 36 bins. ``goal="point"`` stores the
goal set as packed bits (``size² / 8`` bytes) and the point (16 bytes) in place
of the goal index. The workspace image and the ``optimal`` mask are recomputed
on access (they are cheap).
"""
from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np
import torch
from torch_geometric.data import Data

from gvin._checks import count_range, positive_int
from gvin.datasets._obstacles import obstacle_rows, rows_to_obstacles
from gvin.datasets.base import PlanningDataset, Record, renamed_keywords
from gvin.datasets.maze_dataset import GridGraphBuilder
from gvin.graphs.cspace import (
    TWO_PI,
    Arm,
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


class CSpaceDataset(PlanningDataset):
    """Configuration-space planning tasks of a planar 2-link arm with exact expert labels (in memory).

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        size: bins per joint angle (``>= 3``; the IDP paper uses 18 and 36);
            ``bins=`` is a deprecated name of it.
        counts: ``(train, valid, test)`` sizes (or a mapping); only this split's
            entry is built. Default ``(10000, 2000, 2000)`` as in the IDP paper
            (``count=``: deprecated name).
        seed: non-negative int (``data_seed=``: the same).
        connectivity: 4 or 8 moves.
        transform: applied to each item on access.
        root: optional cache folder (:class:`~gvin.datasets.base.PlanningDataset`).
        arm: the :class:`gvin.Arm` (default ``Arm((1.0, 1.0))``).
        num_obstacles: ``(low, high)``: each task draws its obstacle count
            uniformly in ``low..high`` (inclusive; default ``(0, 5)``).
        workspace_size: pixels per side of the workspace image (default 96).
        extent: ``(x_min, y_min, x_max, y_max)`` of the workspace the obstacles
            are drawn in and the image covers; default the square of half-side
            ``arm.reach`` around the base (``(-2, -2, 2, 2)`` for the default arm).
        clearance: obstacles keep this distance from the arm's base
            (:func:`gvin.random_obstacles`).
        goal: ``"angles"`` (one goal bin, the default) or ``"point"`` (an
            end-effector point and every free bin within ``tolerance`` of it);
            see the module docstring. ``goal_mode=`` (the world spec's key) is
            the same; the dataset's :attr:`goal_mode` holds it.
        tolerance: (``goal="point"``) ``> 0``; default
            :func:`gvin.graphs.cspace.default_tolerance` (``reach · π / size``),
            as in :func:`gvin.from_cspace`.
        point_tries: (``goal="point"``) points drawn per workspace before
            drawing another workspace.
        max_tries: workspaces drawn per item before giving up (``RuntimeError``).

    Raises:
        ValueError: unknown split or goal mode, bad size / counts / seed /
            connectivity / workspace_size / num_obstacles / extent / clearance /
            tolerance / point_tries / max_tries.
        TypeError: ``arm`` not a :class:`gvin.Arm`.
        RuntimeError: no workspace with a valid goal in ``max_tries`` draws.
    """

    salt = 0xC5FACE

    @renamed_keywords(deprecated={"bins": "size", "count": "counts"},
                      synonyms={"data_seed": "seed", "goal_mode": "goal"})
    def __init__(
        self,
        split: str = "train",
        *,
        size: int = 18,
        counts: Any = (10000, 2000, 2000),
        seed: int = 0,
        connectivity: int = 8,
        transform: Callable[[Data], Data] | None = None,
        root: Any = None,
        arm: Arm | None = None,
        num_obstacles: tuple[int, int] = (0, 5),
        workspace_size: int = 96,
        extent: Any = None,
        clearance: float = 0.3,
        goal: str = "angles",
        tolerance: float | None = None,
        point_tries: int = 20,
        max_tries: int = 100,
    ) -> None:
        size = positive_int(size, "size", 3)
        if size * size >= _INF_CODE:
            raise ValueError(f"size must be < 256 bins (distance codes are uint16), got {size!r}")
        arm = Arm((1.0, 1.0)) if arm is None else arm
        if not isinstance(arm, Arm):
            raise TypeError(f"arm must be a gvin.Arm, got {type(arm).__name__}")
        if isinstance(connectivity, bool) or connectivity not in (4, 8):
            raise ValueError(f"connectivity must be 4 or 8 in a C-space, got {connectivity!r}")
        if extent is None:
            (bx, by), reach = arm.base, arm.reach
            extent = (bx - reach, by - reach, bx + reach, by + reach)
        workspace_occupancy([], 1, extent)  # validates extent
        extent = tuple(float(v) for v in extent)
        random_obstacles(0, 0, workspace=extent, keep_clear=arm.base, clearance=clearance)  # validates
        if not isinstance(goal, str) or goal not in GOAL_MODES:
            raise ValueError(f"goal must be one of {GOAL_MODES}, got {goal!r}")
        if tolerance is not None and goal != "point":
            raise ValueError(f"tolerance applies to goal='point' only, got goal={goal!r}")
        if tolerance is None:
            tolerance = default_tolerance(arm, size)
        elif isinstance(tolerance, (bool, np.bool_)) or not isinstance(tolerance, numbers.Real) \
                or not np.isfinite(tolerance) or tolerance <= 0:
            raise ValueError(f"tolerance must be a finite number > 0, got {tolerance!r}")
        super().__init__(
            split, size=size, counts=counts, seed=seed, connectivity=int(connectivity), transform=transform,
            root=root, arm=arm, num_obstacles=count_range(num_obstacles, "num_obstacles"),
            workspace_size=positive_int(workspace_size, "workspace_size", 1), extent=extent,
            clearance=float(clearance), goal_mode=goal, tolerance=float(tolerance),
            point_tries=positive_int(point_tries, "point_tries", 1), max_tries=positive_int(max_tries, "max_tries", 1),
        )

    @property
    def bins(self) -> int:
        """Bins per joint: :attr:`size` (its former name)."""
        return self.size

    def setup(self) -> None:
        self._builder = GridGraphBuilder((self.size, self.size), self.connectivity, wrap=True)
        self._moves = move_offsets(2, self.connectivity).numpy()
        angles = bin_angles(self.size)
        t1, t2 = np.meshgrid(angles, angles, indexing="ij")
        _, effector = self.arm.forward_kinematics(t1, t2)
        self._angles = np.stack([t1.reshape(-1), t2.reshape(-1)], axis=1).astype(np.float32)  # row-major, as the nodes
        self._effector = effector.reshape(-1, 2).astype(np.float32)

    # -- making
    def _linked(self, mask: np.ndarray) -> np.ndarray:
        """``[size, size]`` bool: the bins one move away from a ``True`` bin (moves are symmetric)."""
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
            goal = goal_point_mask(self.arm, point, self.size, free, tolerance=self.tolerance)
            if goal.any() and (free & ~goal & self._linked(goal)).any():
                return point, goal
        return None

    def _task(self, rng: np.random.Generator, index: int) -> tuple[list, np.ndarray, np.ndarray, np.ndarray | None]:
        """``(obstacles, free [size, size], goal [size, size] mask, point [2] or None)``."""
        low, high = self.num_obstacles
        for _ in range(self.max_tries):
            obstacles = random_obstacles(rng, int(rng.integers(low, high + 1)), workspace=self.extent,
                                         keep_clear=self.arm.base, clearance=self.clearance)
            free = ~cspace_occupancy(self.arm, obstacles, self.size)
            if self.goal_mode == "point":
                found = self._draw_point(rng, obstacles, free)
                if found is not None:
                    return obstacles, free, found[1], found[0]
                continue
            candidates = np.flatnonzero(free & self._linked(free))
            if len(candidates):
                goal = np.zeros(free.size, dtype=bool)
                goal[int(rng.choice(candidates))] = True
                return obstacles, free, goal.reshape(free.shape), None
        what = ("an end-effector point whose goal set another free configuration moves into"
                if self.goal_mode == "point" else "a free configuration with a free neighbour")
        raise RuntimeError(f"item {index}: no workspace in {self.max_tries} draws has {what}; "
                           "lower num_obstacles or clearance")

    def make_record(self, rng: np.random.Generator, index: int) -> Record:
        """``{"free" (packed bits), "goal" (a bin, or packed bits), "obstacles" [K, 5], "dist" [C] uint16 codes,
        "point" [2] (goal="point")}``: hop counts on the torus (:func:`gvin.planners.grid.grid_distances`,
        the labels :class:`~gvin.transforms.AddExpertLabels` gives the graph, in numpy)."""
        obstacles, free, goal, point = self._task(rng, index)
        dist = grid_distances(free[None], goal[None], self.connectivity, wrap=True).reshape(-1)
        free, goal = free.reshape(-1), goal.reshape(-1)
        codes = np.full(dist.shape, _INF_CODE, dtype=np.uint16)
        finite = np.isfinite(dist)
        codes[finite] = dist[finite]
        record = {"free": torch.from_numpy(np.packbits(free)), "dist": torch.from_numpy(codes),
                  "obstacles": torch.from_numpy(obstacle_rows(obstacles, self.num_obstacles[1]))}
        if point is None:
            record["goal"] = int(np.flatnonzero(goal)[0])
        else:
            record["goal"] = torch.from_numpy(np.packbits(goal))
            record["point"] = torch.from_numpy(np.asarray(point, dtype=np.float64))
        return record

    def from_record(self, record: Record, index: int) -> Data:
        cells = self.size * self.size
        free = np.unpackbits(record["free"].numpy(), count=cells).astype(bool)
        codes = record["dist"].numpy()
        dist = np.where(codes != _INF_CODE, codes.astype(np.float32), np.float32(np.inf))
        data = self._graph(free, self._goal_flat(record), dist)
        data.angles = torch.from_numpy(self._angles.copy())
        data.effector = torch.from_numpy(self._effector.copy())
        rows = record["obstacles"]
        image = workspace_occupancy(rows_to_obstacles(rows.numpy()), self.workspace_size, self.extent)
        data.workspace = torch.from_numpy(image)[None]
        data.obstacles = rows.clone()[None]
        if self.goal_mode == "point":
            data.goal_point = record["point"].clone()[None]
        return data

    def _graph(self, free: np.ndarray, goal: np.ndarray, dist: np.ndarray | None = None) -> Data:
        """The shared-template graph of a ``[C]`` free map with the ``[C]`` goal mask (and labels from ``dist``)."""
        goals = np.flatnonzero(goal)
        data = self._builder.build(free, int(goals[0]), dist)
        if len(goals) > 1:
            # ``optimal`` needs no change: every goal has dist 0, so no move leaves one optimally.
            data.goal = torch.from_numpy(goal.copy())
            data.x[:, 1] = data.goal
        return data

    # -- access
    def obstacles(self, index: int) -> list:
        """The :class:`gvin.Circle` / :class:`gvin.Box` obstacles of item ``index``."""
        return rows_to_obstacles(self.record(index)["obstacles"].numpy())

    def free(self, index: int) -> np.ndarray:
        """``[size, size]`` bool: the C-space map of item ``index`` (``True`` = collision-free)."""
        bits = self.record(index)["free"].numpy()
        return np.unpackbits(bits, count=self.size * self.size).astype(bool).reshape(self.size, self.size)

    def goal(self, index: int) -> int:
        """The flat goal bin ``θ1_bin · size + θ2_bin`` of item ``index`` (``goal="angles"``)."""
        if self.goal_mode == "point":
            raise ValueError("goal='point' items have a set of goal bins: use goal_mask(index) "
                             "and goal_point(index)")
        return int(self.record(index)["goal"])

    def goal_mask(self, index: int) -> np.ndarray:
        """``[size, size]`` bool: the goal bin(s) of item ``index`` (any goal mode)."""
        return self._goal_flat(self.record(index)).reshape(self.size, self.size)

    def goal_point(self, index: int) -> tuple[float, float]:
        """The end-effector goal point ``(x, y)`` of item ``index`` (``goal="point"``)."""
        if self.goal_mode != "point":
            raise ValueError(f"goal_point needs goal='point' items; this dataset has goal={self.goal_mode!r}")
        x, y = self.record(index)["point"].tolist()
        return x, y

    def _goal_flat(self, record: Record) -> np.ndarray:
        cells = self.size * self.size
        if self.goal_mode == "point":
            return np.unpackbits(record["goal"].numpy(), count=cells).astype(bool)
        mask = np.zeros(cells, dtype=bool)
        mask[record["goal"]] = True
        return mask

    def describe(self) -> str:
        mode = f", goal='point', tolerance={self.tolerance:.4g}" if self.goal_mode == "point" else ""
        return f"connectivity={self.connectivity}, seed={self.seed}{mode}"
