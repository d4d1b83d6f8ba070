"""The GPPN maze file format (``.npz`` with ``arr_0`` … ``arr_8``).

Layout (as written by the GPPN code's ``generate_dataset.py``; all float64):

========================  ==========  ===========================  =========================
key                       split       shape                        content
========================  ==========  ===========================  =========================
arr_0 / arr_3 / arr_6     train/valid/test  ``[n, H, W]``          maze, 1 = free, 0 = wall
arr_1 / arr_4 / arr_7     same        ``[n, 1, H, W]``             one-hot goal map
arr_2 / arr_5 / arr_8     same        ``[n, A, 1, H, W]``          optimal action per cell
========================  ==========  ===========================  =========================

The size-1 axis is GPPN's orientation axis (1 for position-only mechanisms).
GPPN labels every cell with exactly one action (ties broken at random; walls,
the goal and unreachable cells get an arbitrary one), so only labels on free,
reachable, non-goal cells mean anything. Action channel order depends on the
mechanism that generated the file: :data:`~gvin.planners.grid.GPPN_ACTIONS_4`
(row-1, col-1, row+1, col+1, e.g. ``m15_4abs-cc_10k.npz``) is assumed for 4
channels and :data:`~gvin.planners.grid.GPPN_ACTIONS_8` (GPPN's ``moore``) for 8;
pass ``actions=`` for others (e.g. :data:`~gvin.planners.grid.GPPN_NEWS_ACTIONS`).
"""
from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from gvin.datasets._io import atomic_savez
from gvin._checks import as_array, as_rng, binary, check_memory
from gvin.datasets.generators import SPLITS, as_counts, as_shape, generate_splits
from gvin.planners.grid import GPPN_ACTIONS_4, GPPN_ACTIONS_8, optimal_action_maps

__all__ = [
    "GPPNSplit",
    "load_gppn_npz",
    "save_gppn_npz",
    "gppn_policy",
    "gppn_label_errors",
    "default_gppn_actions",
    "write_gppn_dataset",
]

_KEYS = {name: tuple(f"arr_{3 * i + j}" for j in range(3)) for i, name in enumerate(SPLITS)}


@dataclass(frozen=True)
class GPPNSplit:
    """One split of a GPPN file.

    Attributes:
        mazes: ``[n, H, W]`` bool, ``True`` = free.
        goals: ``[n, H, W]`` bool one-hot goal maps.
        policy: ``[n, A, H, W]`` bool action labels (GPPN channel order).
    """

    mazes: np.ndarray
    goals: np.ndarray
    policy: np.ndarray

    def __len__(self) -> int:
        return int(self.mazes.shape[0])

    @property
    def goal_index(self) -> np.ndarray:
        """``[n]`` int64 flat (row-major) index of each goal."""
        return self.goals.reshape(len(self), int(np.prod(self.goals.shape[1:]))).argmax(1).astype(np.int64)


def default_gppn_actions(num_actions: int) -> np.ndarray:
    """The action order assumed for a file with ``num_actions`` channels (4 or 8)."""
    if num_actions == 4:
        return GPPN_ACTIONS_4
    if num_actions == 8:
        return GPPN_ACTIONS_8
    raise ValueError(f"no default action order for {num_actions} channels; pass actions=")


# ----------------------------------------------------------------------------- validation


def _binary(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype != bool and not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{what} must be numeric, got dtype {array.dtype}")  # a ValueError here, not binary()'s TypeError
    return binary(array, what, "{name} must be binary (0/1), found values {values}")


def _validate(mazes: Any, goals: Any, policy: Any, where: str) -> GPPNSplit:
    """Shapes, binary values, one free goal per maze → :class:`GPPNSplit` of bools."""
    mazes, goals, policy = (as_array(a, f"{where}: {name}") for a, name in ((mazes, "mazes"), (goals, "goals"),
                                                                            (policy, "policy")))
    if mazes.ndim != 3:
        raise ValueError(f"{where}: mazes must be [n, H, W], got shape {mazes.shape}")
    n, h, w = mazes.shape
    if goals.ndim == 1 and np.issubdtype(goals.dtype, np.integer) and goals.shape == (n,):
        if ((goals < 0) | (goals >= h * w)).any():
            raise ValueError(f"{where}: goal indices must be in [0, {h * w})")
        onehot = np.zeros((n, h * w), dtype=bool)
        onehot[np.arange(n), goals] = True
        goals = onehot.reshape(n, h, w)
    if goals.shape == (n, 1, h, w):
        goals = goals[:, 0]
    if goals.shape != (n, h, w):
        raise ValueError(
            f"{where}: goal maps must be [n, 1, H, W] = {(n, 1, h, w)}, got shape {goals.shape}"
        )
    given = policy.shape
    if policy.ndim == 5 and policy.shape[2] == 1:
        policy = policy[:, :, 0]
    if policy.ndim != 4 or policy.shape[:1] + policy.shape[2:] != (n, h, w) or not policy.shape[1]:
        raise ValueError(
            f"{where}: policy must be [n, A, 1, H, W] with n={n}, H={h}, W={w}, got shape {given}"
        )
    mazes = _binary(mazes, f"{where}: mazes")
    goals = _binary(goals, f"{where}: goal maps")
    policy = _binary(policy, f"{where}: policy")
    count = goals.reshape(n, h * w).sum(1)  # explicit sizes: an empty split (n = 0) is valid
    if (count != 1).any():
        i = int(np.flatnonzero(count != 1)[0])
        raise ValueError(f"{where}: goal map {i} marks {int(count[i])} cells; exactly 1 expected")
    on_wall = (goals & ~mazes).reshape(n, h * w).any(1)
    if on_wall.any():
        first = int(np.flatnonzero(on_wall)[0])
        raise ValueError(f"{where}: the goal of maze {first} is on a wall")
    return GPPNSplit(mazes, goals, policy)


# ----------------------------------------------------------------------------- reading


def _as_path(path: Any) -> Path:
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike to a GPPN .npz file, got {type(path).__name__}")
    return Path(path)


def _open_archive(path: Path) -> None:
    """Raise a clear ValueError unless ``path`` is a readable zip archive."""
    if not path.exists():
        raise ValueError(f"GPPN file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"GPPN file {path} is not a regular file")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic[:2] != b"PK":
        raise ValueError(f"GPPN file {path} is not a zip/.npz archive")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"GPPN file {path} is truncated or corrupted (zip header present, no valid directory)"
        )


def load_gppn_npz(path: str | os.PathLike) -> dict[str, GPPNSplit]:
    """Read and validate a GPPN ``.npz`` file.

    Args:
        path: the ``.npz`` file.

    Returns:
        ``{"train", "valid", "test"} -> GPPNSplit`` (bool arrays: mazes ``[n, H, W]``,
        goals ``[n, H, W]``, policy ``[n, A, H, W]``).

    Raises:
        ValueError: naming the file and the problem (missing or unreadable file,
            not an archive, truncated / corrupted data, missing arrays, shapes,
            non-binary values, goal maps without exactly one free goal).
    """
    path = _as_path(path)
    _open_archive(path)
    out: dict[str, GPPNSplit] = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for keys in _KEYS.values() for k in keys if k not in archive.files]
            if missing:
                raise ValueError(f"GPPN file {path} lacks arrays {missing}")
            for name, keys in _KEYS.items():
                arrays = []
                for key in keys:
                    try:
                        arrays.append(archive[key])
                    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                        raise ValueError(
                            f"GPPN file {path}: array {key} is truncated or corrupted ({exc})"
                        ) from exc
                    except ValueError as exc:  # bad .npy header or pickled objects
                        raise ValueError(
                            f"GPPN file {path}: array {key} cannot be read as a numeric array "
                            f"(corrupted header or pickled objects: {exc})"
                        ) from exc
                out[name] = _validate(*arrays, where=f"GPPN file {path}, {name} split")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ValueError(f"GPPN file {path} is truncated or corrupted ({exc})") from exc
    shapes = {split.mazes.shape[1:] for split in out.values()}
    if len(shapes) != 1:
        raise ValueError(f"GPPN file {path}: splits have different maze sizes {sorted(shapes)}")
    actions = {split.policy.shape[1] for split in out.values()}
    if len(actions) != 1:
        raise ValueError(f"GPPN file {path}: splits have different action counts {sorted(actions)}")
    return out


# ----------------------------------------------------------------------------- writing


def _as_split(value: Any, where: str) -> GPPNSplit:
    if isinstance(value, GPPNSplit):
        return _validate(value.mazes, value.goals, value.policy, where)
    if isinstance(value, (tuple, list)) and len(value) == 3:
        return _validate(*value, where=where)
    raise TypeError(f"{where} must be a GPPNSplit or a (mazes, goals, policy) triple")


def save_gppn_npz(
    path: str | os.PathLike, splits: Mapping[str, Any], compressed: bool = True
) -> Path:
    """Write a GPPN ``.npz`` atomically (temporary file + ``os.replace``).

    Args:
        path: destination file.
        splits: ``{"train", "valid", "test"}`` each a :class:`GPPNSplit` or a
            ``(mazes, goals, policy)`` triple: mazes ``[n, H, W]``; goals
            ``[n, H, W]`` / ``[n, 1, H, W]`` maps or ``[n]`` flat indices; policy
            ``[n, A, H, W]`` or ``[n, A, 1, H, W]``; 0/1 or bool.
        compressed: ``np.savez_compressed`` like GPPN.

    Returns:
        The path written. Arrays are stored as GPPN does: float64, goal
        ``[n, 1, H, W]``, policy ``[n, A, 1, H, W]``.
    """
    if not isinstance(splits, Mapping) or set(splits) != set(SPLITS):
        raise ValueError(f"splits must be a mapping with exactly the keys {SPLITS}")
    checked = {name: _as_split(splits[name], f"split {name!r}") for name in SPLITS}
    if len({s.mazes.shape[1:] for s in checked.values()}) != 1:
        raise ValueError("all splits must have the same maze size")
    if len({s.policy.shape[1] for s in checked.values()}) != 1:
        raise ValueError("all splits must have the same number of actions")
    arrays = []
    for name in SPLITS:
        split = checked[name]
        arrays += [
            split.mazes.astype(np.float64),
            split.goals[:, None].astype(np.float64),
            split.policy[:, :, None].astype(np.float64),
        ]
    return atomic_savez(path, arrays, compressed=compressed)


# ----------------------------------------------------------------------------- labels


def gppn_policy(
    mazes: np.ndarray,
    goals: np.ndarray,
    connectivity: int = 4,
    actions: Any = None,
    rng: Any = None,
) -> np.ndarray:
    """One optimal action per free, reachable, non-goal cell (the GPPN labels).

    Args:
        mazes: ``[n, H, W]`` bool free maps.
        goals: ``[n]`` flat goal indices or ``[n, H, W]`` goal masks.
        connectivity: 4 or 8.
        actions: channel order (default :func:`default_gppn_actions`).
        rng: ties between optimal actions are broken uniformly at random with
            this generator / seed (as GPPN does); ``None`` takes the first.

    Returns:
        ``[n, A, H, W]`` bool, one-hot on labelled cells, all-zero elsewhere.
    """
    mazes = as_array(mazes, "mazes")
    if mazes.ndim != 3:
        raise ValueError(f"mazes must be a batch [n, H, W] of 2-D mazes, got shape {mazes.shape}")
    if actions is None:
        actions = default_gppn_actions(connectivity)
    optimal = optimal_action_maps(mazes, goals, connectivity, actions, ndim=2)
    if rng is None:
        pick = optimal.argmax(1)
    else:
        pick = (as_rng(rng).random(optimal.shape, dtype=np.float32) + optimal).argmax(1)
    one_hot = np.arange(optimal.shape[1])[None, :, None, None] == pick[:, None]
    return one_hot & optimal.any(1, keepdims=True)


def gppn_label_errors(
    split: GPPNSplit, connectivity: int | None = None, actions: Any = None
) -> np.ndarray:
    """Per maze, the number of free, reachable, non-goal cells whose label is not optimal.

    A cell is wrong when it has no labelled action or a labelled action that is
    not on a shortest path. Cells the format labels arbitrarily (walls, the
    goal, unreachable cells) are ignored.

    Args:
        split: a :class:`GPPNSplit`.
        connectivity: default 4 for 4 channels, 8 for 8.
        actions: channel order (default :func:`default_gppn_actions`).

    Returns:
        ``[n]`` int64.
    """
    if not isinstance(split, GPPNSplit):
        raise TypeError(
            f"split must be a GPPNSplit (an item of load_gppn_npz(...)), got {type(split).__name__}"
        )
    num_actions = split.policy.shape[1]
    if actions is None:
        actions = default_gppn_actions(num_actions)
    elif len(np.asarray(actions)) != num_actions:
        raise ValueError(
            f"actions has {len(np.asarray(actions))} offsets but the policy has {num_actions} action channels"
        )
    if connectivity is None:
        connectivity = 8 if num_actions == 8 else 4
    optimal = optimal_action_maps(split.mazes, split.goals, connectivity, actions, ndim=2)
    labelled = optimal.any(1)  # exactly the free, reachable, non-goal cells
    wrong = (split.policy & ~optimal).any(1) | ~split.policy.any(1)
    return (wrong & labelled).reshape(len(split), int(np.prod(wrong.shape[1:]))).sum(1)


def write_gppn_dataset(
    path: str | os.PathLike,
    size: int = 15,
    counts: Any = (10000, 2000, 2000),
    seed: int = 0,
    connectivity: int = 4,
    kind: str = "gppn",
    actions: Any = None,
    compressed: bool = True,
    **options: Any,
) -> Path:
    """Generate train / valid / test mazes and write them as a GPPN ``.npz``.

    Mazes come from :func:`~gvin.datasets.generators.generate_splits` (``kind``,
    ``size``, ``counts``, ``seed``, ``**options``); labels from
    :func:`gppn_policy` with ties broken by a generator derived from ``seed``.
    Cells without an optimal action (walls, goal, unreachable) are all-zero.

    Raises:
        ValueError: counts whose mazes, goal maps and action maps cannot fit in this
            machine's memory (one byte a cell for each map and action channel: a lower
            bound), refused before anything is drawn.
    """
    shape, wanted = as_shape(size, 2), as_counts(counts)
    total = sum(wanted.values())
    channels = connectivity if actions is None else len(actions)
    check_memory(total * int(np.prod(shape)) * (2 + channels),
                 f"counts={tuple(wanted.values())}: {total:,} mazes of {'x'.join(map(str, shape))} with their goal "
                 f"and {channels} action maps would", "reduce counts or size")
    splits = generate_splits(kind, size, counts, seed, ndim=2, **options)
    tie_rng = np.random.default_rng([int(seed), 1])
    out = {}
    for name, batch in splits.items():
        policy = gppn_policy(batch.mazes, batch.goals, connectivity, actions, tie_rng)
        out[name] = GPPNSplit(batch.mazes, batch.goal_masks(), policy)
    return save_gppn_npz(path, out, compressed=compressed)
