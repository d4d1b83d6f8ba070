"""A planar 2-link arm's configuration space (C-space) as a planning graph.

The joint angles ``(θ1, θ2)`` of a planar two-link arm live on a torus: each
angle wraps at ``2π``. :func:`cspace_occupancy` bins both angles into ``bins``
bins over ``[0, 2π)`` and marks every configuration in which either link (the
segment base → elbow or elbow → end effector) touches an obstacle;
:func:`from_cspace` turns that map into the toroidal grid graph that
:func:`gvin.from_grid` builds with ``wrap=True``, so every grid planner runs on
it unchanged.

Conventions:

* bin ``i`` of an angle is evaluated at its **left edge** ``i · 2π / bins``, so
  angle ``0`` and angle ``2π`` are the same bin (bin 0); the map's row is the
  ``θ1`` bin and its column the ``θ2`` bin;
* ``θ1`` is the first joint's angle from the workspace ``+x`` axis and ``θ2``
  the second joint's angle relative to the first link (the elbow angle);
* collisions are exact (segment–disc distance, segment–box slab clipping), on
  closed obstacles: a link that touches an obstacle's boundary collides.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from gvin import _checks
from gvin.graphs.grid import from_grid, parse_goal

TWO_PI = 2.0 * math.pi

WORKSPACE = (-2.0, -2.0, 2.0, 2.0)
"""Default workspace ``(x_min, y_min, x_max, y_max)``: fits an arm of reach 2 at the origin."""


def as_point(value, name: str) -> tuple[float, float]:
    """``value`` as a point ``(x, y)`` of two finite floats (a pair, array or tensor); errors name ``name``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair of finite numbers (x, y), got {value!r}")
    return _checks.real(value[0], name), _checks.real(value[1], name)


def as_extent(value, name: str) -> tuple[float, float, float, float]:
    """``value`` as a rectangle ``(x_min, y_min, x_max, y_max)`` of finite floats with ``x_min < x_max``,
    ``y_min < y_max``; errors name ``name``."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != 4:
        raise ValueError(f"{name} must be (x_min, y_min, x_max, y_max), got {value!r}")
    x0, y0, x1, y1 = (_checks.real(v, name) for v in value)
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"{name} must have x_min < x_max and y_min < y_max, got {value!r}")
    return x0, y0, x1, y1


@dataclass(frozen=True)
class Arm:
    """A planar two-link arm.

    Args:
        link_lengths: ``(l1, l2)``, both positive.
        base: ``(x, y)`` of the first joint in the workspace.
    """

    link_lengths: tuple[float, float] = (1.0, 1.0)
    base: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self):
        lengths = self.link_lengths
        if isinstance(lengths, np.ndarray):
            lengths = lengths.tolist()
        if not isinstance(lengths, (tuple, list)) or len(lengths) != 2:
            raise ValueError(f"link_lengths must be a pair (l1, l2) of positive numbers, got {self.link_lengths!r}")
        l1, l2 = (_checks.real(v, "link_lengths") for v in lengths)
        if l1 <= 0 or l2 <= 0:
            raise ValueError(f"link_lengths must be positive, got {self.link_lengths!r}")
        object.__setattr__(self, "link_lengths", (l1, l2))
        object.__setattr__(self, "base", as_point(self.base, "base"))

    @property
    def reach(self) -> float:
        """The largest distance from the base to the end effector, ``l1 + l2``."""
        return self.link_lengths[0] + self.link_lengths[1]

    def forward_kinematics(self, theta1, theta2) -> tuple[np.ndarray, np.ndarray]:
        """Elbow and end-effector positions of the configurations ``(θ1, θ2)``.

        Args:
            theta1, theta2: angles in radians (numbers or arrays that broadcast).

        Returns:
            ``(elbow [..., 2], effector [..., 2])`` float64 arrays of ``(x, y)``.
        """
        t1 = np.asarray(theta1, dtype=np.float64)
        t2 = np.asarray(theta2, dtype=np.float64)
        t1, t2 = np.broadcast_arrays(t1, t2)
        l1, l2 = self.link_lengths
        bx, by = self.base
        elbow = np.stack([bx + l1 * np.cos(t1), by + l1 * np.sin(t1)], axis=-1)
        effector = elbow + l2 * np.stack([np.cos(t1 + t2), np.sin(t1 + t2)], axis=-1)
        return elbow, effector


@dataclass(frozen=True)
class Circle:
    """A closed disc obstacle: ``center (x, y)`` and ``radius > 0``."""

    center: tuple[float, float]
    radius: float

    def __post_init__(self):
        object.__setattr__(self, "center", as_point(self.center, "center"))
        radius = _checks.real(self.radius, "radius")
        if radius <= 0:
            raise ValueError(f"radius must be > 0, got {self.radius!r}")
        object.__setattr__(self, "radius", radius)


@dataclass(frozen=True)
class Box:
    """A closed axis-aligned box obstacle from ``min_xy`` to ``max_xy`` (``min < max`` on both axes)."""

    min_xy: tuple[float, float]
    max_xy: tuple[float, float]

    def __post_init__(self):
        low, high = as_point(self.min_xy, "min_xy"), as_point(self.max_xy, "max_xy")
        if not (low[0] < high[0] and low[1] < high[1]):
            raise ValueError(f"a Box needs min_xy < max_xy on both axes, got min_xy={low}, max_xy={high}")
        object.__setattr__(self, "min_xy", low)
        object.__setattr__(self, "max_xy", high)


def as_obstacles(obstacles) -> list:
    """``obstacles`` as a list of :class:`Circle` / :class:`Box` (``None``: none; one obstacle: a list of it)."""
    if obstacles is None:
        return []
    if isinstance(obstacles, (Circle, Box)):
        return [obstacles]
    try:
        items = list(obstacles)
    except TypeError:
        raise TypeError(f"obstacles must be a list of Circle / Box, got {type(obstacles).__name__}") from None
    for item in items:
        if not isinstance(item, (Circle, Box)):
            raise TypeError(f"obstacles must hold Circle / Box objects, got {type(item).__name__}: {item!r}")
    return items


def as_arm(arm) -> Arm:
    """``arm``, checked to be an :class:`Arm`."""
    if not isinstance(arm, Arm):
        raise TypeError(f"arm must be a gvin.Arm, got {type(arm).__name__}")
    return arm


def _bins(bins) -> int:
    return _checks.positive_int(bins, "bins", minimum=3)


def segment_hits(obstacle, start, end) -> np.ndarray:
    """Exact test: does the closed segment ``start → end`` touch the obstacle?

    Args:
        obstacle: a :class:`Circle` or :class:`Box`.
        start, end: ``[..., 2]`` arrays of segment end points (broadcast).

    Returns:
        ``[...]`` bool.
    """
    p = np.asarray(start, dtype=np.float64)
    d = np.asarray(end, dtype=np.float64) - p
    if isinstance(obstacle, Circle):
        c = np.asarray(obstacle.center)
        length2 = (d * d).sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(length2 > 0, ((c - p) * d).sum(-1) / np.where(length2 > 0, length2, 1.0), 0.0)
        nearest = p + np.clip(t, 0.0, 1.0)[..., None] * d
        return ((nearest - c) ** 2).sum(-1) <= obstacle.radius ** 2
    if isinstance(obstacle, Box):
        # Liang–Barsky / slab clipping of t ∈ [0, 1] against both slabs.
        enter = np.zeros(np.broadcast_shapes(p.shape, d.shape)[:-1])
        leave = np.ones_like(enter)
        for axis in range(2):
            pa, da = p[..., axis], d[..., axis]
            low, high = obstacle.min_xy[axis], obstacle.max_xy[axis]
            moving = da != 0
            safe = np.where(moving, da, 1.0)
            ta, tb = (low - pa) / safe, (high - pa) / safe
            inside = (pa >= low) & (pa <= high)
            enter = np.maximum(enter, np.where(moving, np.minimum(ta, tb), np.where(inside, -np.inf, np.inf)))
            leave = np.minimum(leave, np.where(moving, np.maximum(ta, tb), np.where(inside, np.inf, -np.inf)))
        return enter <= leave
    raise TypeError(f"obstacle must be a Circle or a Box, got {type(obstacle).__name__}")


def arm_collisions(arm: Arm, obstacles, theta1, theta2) -> np.ndarray:
    """``[...]`` bool: the configurations ``(θ1, θ2)`` (arrays that broadcast) in which a link touches an obstacle."""
    arm = as_arm(arm)
    obstacles = as_obstacles(obstacles)
    elbow, effector = arm.forward_kinematics(theta1, theta2)
    hit = np.zeros(elbow.shape[:-1], dtype=bool)
    base = np.asarray(arm.base)
    for obstacle in obstacles:
        hit |= segment_hits(obstacle, base, elbow) | segment_hits(obstacle, elbow, effector)
    return hit


def bin_angles(bins: int) -> np.ndarray:
    """``[bins]`` float64: the angle each bin is evaluated at, its left edge ``i · 2π / bins``."""
    bins = _bins(bins)
    return np.arange(bins) * (TWO_PI / bins)


def angle_to_bin(angle, bins: int) -> np.ndarray:
    """The bin nearest to each angle (radians, any real): ``round(angle / (2π/bins)) mod bins``; 0 and 2π → bin 0."""
    bins = _bins(bins)
    angle = np.asarray(angle, dtype=np.float64)
    if not np.isfinite(angle).all():
        raise ValueError(f"angles must be finite, got {angle!r}")
    return (np.rint(angle / (TWO_PI / bins)).astype(np.int64)) % bins


def cspace_occupancy(arm: Arm, obstacles, bins: int) -> np.ndarray:
    """The collision map of the arm's configuration space.

    Args:
        arm: the :class:`Arm`.
        obstacles: a list of :class:`Circle` / :class:`Box` (``None`` or ``[]``: none).
        bins: bins per joint angle (``>= 3``); bin ``i`` covers angle
            ``i · 2π / bins`` and is evaluated at that left edge.

    Returns:
        ``[bins, bins]`` bool, ``True`` where the configuration
        ``(θ1 = i · 2π/bins, θ2 = j · 2π/bins)`` collides (row ``i``, column ``j``).
    """
    arm = as_arm(arm)
    obstacles = as_obstacles(obstacles)
    angles = bin_angles(bins)
    n = len(angles)
    base = np.asarray(arm.base)
    elbow, effector = arm.forward_kinematics(angles[:, None], angles[None, :])  # [n, n, 2]
    first = np.zeros(n, dtype=bool)  # the first link depends on θ1 only
    hit = np.zeros((n, n), dtype=bool)
    for obstacle in obstacles:
        first |= segment_hits(obstacle, base, elbow[:, 0])
        hit |= segment_hits(obstacle, elbow, effector)
    return hit | first[:, None]


def workspace_occupancy(obstacles, size: int = 96, extent=WORKSPACE) -> np.ndarray:
    """A ``[size, size]`` bool image of the obstacles in the workspace.

    Pixel ``(r, c)`` is ``True`` when its centre ``(x_min + (c + ½)·dx,
    y_min + (r + ½)·dy)`` lies in an obstacle: columns go along ``x`` and rows
    along ``y`` upwards (row 0 at ``y_min``; ``imshow(..., origin="lower")``).

    Args:
        obstacles: a list of :class:`Circle` / :class:`Box`.
        size: pixels per side (``>= 1``).
        extent: ``(x_min, y_min, x_max, y_max)``.
    """
    obstacles = as_obstacles(obstacles)
    size = _checks.positive_int(size, "size")
    x0, y0, x1, y1 = as_extent(extent, "extent")
    xs = x0 + (np.arange(size) + 0.5) * ((x1 - x0) / size)
    ys = y0 + (np.arange(size) + 0.5) * ((y1 - y0) / size)
    x, y = xs[None, :], ys[:, None]
    image = np.zeros((size, size), dtype=bool)
    for obstacle in obstacles:
        if isinstance(obstacle, Circle):
            cx, cy = obstacle.center
            image |= (x - cx) ** 2 + (y - cy) ** 2 <= obstacle.radius ** 2
        else:
            (ax, ay), (bx, by) = obstacle.min_xy, obstacle.max_xy
            image |= (x >= ax) & (x <= bx) & (y >= ay) & (y <= by)
    return image


def random_obstacles(
    rng=None,
    count: int | None = None,
    *,
    workspace=WORKSPACE,
    keep_clear=(0.0, 0.0),
    clearance: float = 0.3,
) -> list:
    """Seeded random circles and boxes in the workspace.

    Each obstacle is a :class:`Circle` (radius ``0.05–0.15 ×`` the workspace's
    smaller side) or a :class:`Box` (sides ``0.1–0.3 ×`` it), equally likely,
    with its centre uniform in the workspace; an obstacle that comes within
    ``clearance`` of ``keep_clear`` (the arm's base, so that the arm is not
    walled in) is drawn again.

    Args:
        rng: ``None``, an int seed or a ``numpy.random.Generator``.
        count: how many obstacles (``>= 0``); ``None``: uniform in ``0..5``.
        workspace: ``(x_min, y_min, x_max, y_max)``.
        keep_clear: a point ``(x, y)`` to keep free, or ``None``.
        clearance: ``>= 0``: the free radius around ``keep_clear``.
    """
    gen = _checks.as_rng(rng, "rng", allow_none=True)
    x0, y0, x1, y1 = as_extent(workspace, "workspace")
    count = int(gen.integers(0, 6)) if count is None else _checks.positive_int(count, "count", minimum=0)
    clear = None if keep_clear is None else np.asarray(as_point(keep_clear, "keep_clear"))
    clearance = _checks.real(clearance, "clearance")
    if clearance < 0:
        raise ValueError(f"clearance must be >= 0, got {clearance!r}")
    side = min(x1 - x0, y1 - y0)
    obstacles: list = []
    for _ in range(count):
        for _attempt in range(1000):
            cx, cy = gen.uniform(x0, x1), gen.uniform(y0, y1)
            if gen.random() < 0.5:
                obstacle = Circle((cx, cy), gen.uniform(0.05, 0.15) * side)
                gap = math.inf if clear is None else math.hypot(cx - clear[0], cy - clear[1]) - obstacle.radius
            else:
                w, h = gen.uniform(0.1, 0.3, 2) * side
                obstacle = Box((cx - w / 2, cy - h / 2), (cx + w / 2, cy + h / 2))
                if clear is None:
                    gap = math.inf
                else:
                    near = np.clip(clear, obstacle.min_xy, obstacle.max_xy)
                    gap = float(np.hypot(*(near - clear)))
            if gap > clearance:
                obstacles.append(obstacle)
                break
        else:
            raise ValueError(f"could not place an obstacle {clearance} away from keep_clear={tuple(clear)} "
                             f"in the workspace {workspace}")
    return obstacles


def default_tolerance(arm: Arm, bins: int) -> float:
    """The default end-effector goal tolerance ``reach · π / bins``: half the effector's
    largest travel in one ``θ1`` bin."""
    return as_arm(arm).reach * math.pi / _bins(bins)


def goal_point_mask(arm: Arm, goal_point, bins: int, free=None, *, tolerance: float | None = None) -> np.ndarray:
    """The configuration bins whose end effector lies within ``tolerance`` of a workspace point.

    This is the goal set of ``from_cspace(..., goal_point=goal_point, tolerance=tolerance)``
    (which also drops the colliding bins, as ``free=`` does here).

    Args:
        arm: the :class:`Arm`.
        goal_point: ``(x, y)`` in the workspace.
        bins: bins per joint angle (``>= 3``).
        free: optional ``[bins, bins]`` bool C-space map (``True`` = collision-free);
            given, only free bins are kept.
        tolerance: ``> 0``; default :func:`default_tolerance` (``reach · π / bins``).

    Returns:
        ``[bins, bins]`` bool (row: ``θ1`` bin, column: ``θ2`` bin); may be empty.

    Raises:
        ValueError: a bad point or tolerance, a ``free`` of another shape, or a
            point out of the arm's reach (outside the annulus of radii
            ``|l1 - l2|`` and ``l1 + l2`` widened by ``tolerance``).
    """
    arm = as_arm(arm)
    bins = _bins(bins)
    point = np.asarray(as_point(goal_point, "goal_point"))
    tolerance = default_tolerance(arm, bins) if tolerance is None else _checks.real(tolerance, "tolerance")
    if tolerance <= 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance!r}")
    l1, l2 = arm.link_lengths
    distance = float(np.hypot(*(point - np.asarray(arm.base))))
    if distance > l1 + l2 + tolerance or distance < abs(l1 - l2) - tolerance:
        raise ValueError(
            f"goal_point {tuple(point.tolist())} is unreachable: it is {distance:.4g} from the base, outside "
            f"the arm's annulus [{abs(l1 - l2):.4g}, {l1 + l2:.4g}] (tolerance {tolerance:.4g})")
    angles = bin_angles(bins)
    _, effector = arm.forward_kinematics(angles[:, None], angles[None, :])  # [bins, bins, 2]
    mask = ((effector - point) ** 2).sum(-1) <= tolerance ** 2
    if free is not None:
        free = np.asarray(free)
        if free.shape != (bins, bins):
            raise ValueError(f"free must be a [bins, bins] = [{bins}, {bins}] map, got shape {free.shape}")
        mask &= free.astype(bool)
    return mask


def from_cspace(
    arm: Arm,
    obstacles,
    bins: int,
    goal=None,
    *,
    goal_angles=None,
    goal_point=None,
    tolerance: float | None = None,
    connectivity: int = 8,
) -> Data:
    """The arm's configuration space as a toroidal grid planning graph.

    Exactly ``gvin.from_grid(~cspace_occupancy(arm, obstacles, bins), goal_mask,
    connectivity=connectivity, wrap=True)``: node ``i · bins + j`` is the
    configuration ``(θ1, θ2) = (i, j) · 2π / bins``, and the moves wrap (bin
    ``bins - 1`` and bin 0 are neighbours on both axes).

    Give at most one goal:

    * ``goal``: a grid cell as in :func:`gvin.from_grid` (flat index, ``(i, j)``
      bins, or a ``[bins, bins]`` mask);
    * ``goal_angles``: ``(θ1, θ2)`` in radians → the nearest bin of each (wrapping);
    * ``goal_point``: an end-effector position ``(x, y)`` in the workspace →
      every free configuration whose end effector lies within ``tolerance`` of it.

    Args:
        tolerance: (``goal_point``) ``> 0``; default ``reach · π / bins``, half
            the effector's largest travel in one ``θ1`` bin.
        connectivity: 4 or 8.

    Returns:
        :func:`gvin.from_grid`'s graph plus ``angles`` ``[N, 2]`` float (the
        ``(θ1, θ2)`` of each node, radians) and ``effector`` ``[N, 2]`` float
        (its end-effector ``(x, y)``).

    Raises:
        TypeError: ``arm`` not an :class:`Arm`, an obstacle of unknown type.
        ValueError: ``bins < 3``, a bad ``connectivity``, more than one goal, a
            goal in collision, a ``goal_point`` out of the arm's reach or with
            no free configuration within ``tolerance``.
    """
    arm = as_arm(arm)
    obstacles = as_obstacles(obstacles)
    bins = _bins(bins)
    if isinstance(connectivity, bool) or connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8 in a C-space, got {connectivity!r}")
    given = [name for name, value in (("goal", goal), ("goal_angles", goal_angles), ("goal_point", goal_point))
             if value is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one of goal, goal_angles, goal_point; got {', '.join(given)}")
    if tolerance is not None and goal_point is None:
        raise ValueError("tolerance applies to goal_point only")

    shape = (bins, bins)
    blocked = cspace_occupancy(arm, obstacles, bins)
    free = ~blocked
    angles = bin_angles(bins)
    t1, t2 = np.meshgrid(angles, angles, indexing="ij")
    _, effector = arm.forward_kinematics(t1, t2)  # [bins, bins, 2]

    mask = np.zeros(shape, dtype=bool)
    if goal is not None:
        mask = parse_goal(goal, shape, np.ones(bins * bins, dtype=bool)).reshape(shape)
        name = "goal"
    elif goal_angles is not None:
        pair = as_point(goal_angles, "goal_angles")
        i, j = (int(b) for b in angle_to_bin(pair, bins))
        mask[i, j] = True
        name = "goal_angles"
    elif goal_point is not None:
        near = goal_point_mask(arm, goal_point, bins, tolerance=tolerance)
        mask = near & free
        if not mask.any():
            point = as_point(goal_point, "goal_point")
            tolerance = default_tolerance(arm, bins) if tolerance is None else float(tolerance)
            reason = "every configuration near it collides" if near.any() else "no bin's end effector is that close"
            raise ValueError(
                f"goal_point {point}: no free configuration puts the end effector within "
                f"tolerance={tolerance:.4g} of it ({reason}; try more bins or a larger tolerance)")
        name = "goal_point"
    if goal is not None or goal_angles is not None:
        colliding = mask & blocked
        if colliding.any():
            i, j = (int(v) for v in np.argwhere(colliding)[0])
            raise ValueError(
                f"{name}: the configuration at bins ({i}, {j}) = angles ({angles[i]:.4g}, {angles[j]:.4g}) rad "
                "is in collision")

    data = from_grid(free.astype(np.float32), mask if mask.any() else None,
                     connectivity=connectivity, wrap=True)
    cells = data.cell.numpy()
    data.angles = torch.from_numpy(np.stack([t1.reshape(-1), t2.reshape(-1)], axis=1)[cells].astype(np.float32))
    data.effector = torch.from_numpy(effector.reshape(-1, 2)[cells].astype(np.float32))
    return data


__all__: Sequence[str] = [
    "Arm", "Circle", "Box", "segment_hits", "arm_collisions", "bin_angles", "angle_to_bin",
    "cspace_occupancy", "workspace_occupancy", "random_obstacles", "default_tolerance", "goal_point_mask",
    "from_cspace", "as_point", "as_extent", "as_obstacles", "as_arm",
]
