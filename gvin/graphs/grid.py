"""Occupancy grids (2-D and 3-D, optionally toroidal) as planning graphs.

A grid becomes a :class:`torch_geometric.data.Data` whose edges are the planner's
*stencil*: for every cell, one edge per in-bounds offset of the stencil (the
moves plus a self-loop by default, or every cell of an ``F×F`` / ``F×F×F``
window with ``kernel_size=F``). Walls are nodes too (unless ``free_only``), so a
graph planner sees exactly the states and the neighbourhood that a conv planner
sees. ``move`` marks the edges an agent can take.
"""
from __future__ import annotations

import functools
import itertools
import numbers
from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from gvin import _checks as check
from gvin.graphs._validation import as_occupancy

_DEFAULT_CONNECTIVITY = {2: 4, 3: 6}
_VALID_CONNECTIVITY = {2: (4, 8), 3: (6, 18, 26)}


def _window(ndim: int, radius: int) -> np.ndarray:
    """All offsets of the ``(2r+1)^d`` window, row-major (the conv kernel order)."""
    rng = range(-radius, radius + 1)
    return np.array(list(itertools.product(rng, repeat=ndim)), dtype=np.int64)


def move_offsets(ndim: int, connectivity: int | None = None) -> Tensor:
    """The offsets an agent can move by, row-major order.

    Args:
        ndim: 2 or 3.
        connectivity: 4 or 8 in 2-D; 6, 18 or 26 in 3-D (default 4 / 6).

    Returns:
        ``[M, ndim]`` long tensor of non-zero offsets.
    """
    if isinstance(ndim, (bool, np.bool_)) or ndim not in _VALID_CONNECTIVITY or not isinstance(ndim, (int, np.integer)):
        raise ValueError(f"grids must be 2-D or 3-D, got ndim={ndim!r}")
    connectivity = _DEFAULT_CONNECTIVITY[ndim] if connectivity is None else connectivity
    if connectivity not in _VALID_CONNECTIVITY[ndim]:
        raise ValueError(
            f"connectivity={connectivity} is not valid in {ndim}-D; "
            f"choose one of {_VALID_CONNECTIVITY[ndim]}"
        )
    window = _window(ndim, 1)
    nonzero = np.abs(window).sum(1)
    # 4/6 connectivity: axis moves; 18: at most two axes; 8/26: the full window.
    max_axes = {4: 1, 6: 1, 18: 2, 8: ndim, 26: ndim}[connectivity]
    keep = (nonzero > 0) & (nonzero <= max_axes)
    return torch.from_numpy(window[keep])


def grid_stencil(
    ndim: int, connectivity: int | None = None, kernel_size: int | None = None
) -> Tensor:
    """The edge offsets of a grid planning graph; ``edge_type`` indexes this table.

    Without ``kernel_size`` the stencil is the self-loop plus the moves; with it,
    every offset of the ``F^ndim`` window. Both are in row-major order, so with a
    kernel window ``edge_type`` equals the flat index into a conv kernel.

    Returns:
        ``[S, ndim]`` long tensor.
    """
    moves = move_offsets(ndim, connectivity)
    if kernel_size is None:
        window = _window(ndim, 1)
        keep = (np.abs(window).sum(1) == 0) | np.isin(
            _flat(window), _flat(moves.numpy())
        )
        return torch.from_numpy(window[keep])
    if not isinstance(kernel_size, (int, np.integer)) or kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(
            f"kernel_size must be an odd integer >= 3 (it must contain the moves), got {kernel_size!r}"
        )
    return torch.from_numpy(_window(ndim, kernel_size // 2))


def stencil_key(stencil) -> tuple[tuple[int, ...], ...]:
    """A ``[S, d]`` offsets table as the tuple of offset tuples stored in ``data.stencil``."""
    return tuple(tuple(int(v) for v in row) for row in np.asarray(stencil).tolist())


def stencil_window(stencil, size: int) -> tuple[int, ...]:
    """The slots of a ``[S, d]`` offsets table that lie in a ``size``-wide window (odd) around
    the cell: the edge types a narrower conv reads, e.g. a ``3×3`` encoder on a ``9×9`` stencil."""
    table = np.asarray(stencil)
    return tuple(int(i) for i in np.flatnonzero((np.abs(table) <= size // 2).all(axis=1)))


def describe_stencil(stencil) -> str:
    """A stencil table in words, e.g. ``"the 3×3 window (kernel_size=3)"`` or ``"self-loop + 4 moves"``."""
    table = np.asarray(stencil)
    ndim = table.shape[-1]
    radius = int(np.abs(table).max()) if table.size else 0
    if len(table) == (2 * radius + 1) ** ndim and radius >= 1:
        side = 2 * radius + 1
        return f"the {'×'.join([str(side)] * ndim)} window (kernel_size={side})"
    return f"self-loop + {len(table) - 1} moves (connectivity={len(table) - 1})"


def _flat(offsets: np.ndarray) -> np.ndarray:
    """Injective code for small offsets, for set membership tests."""
    base = 1024
    code = np.zeros(len(offsets), dtype=np.int64)
    for axis in range(offsets.shape[1]):
        code = code * base + (offsets[:, axis] + base // 2)
    return code


def grid_neighbours(shape: tuple[int, ...], offsets: np.ndarray, wrap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Flat index of every cell's neighbour along every offset.

    Args:
        shape: grid shape ``(H, W)`` or ``(D, H, W)``.
        offsets: ``[S, d]`` integer offsets.
        wrap: periodic axes (a torus).

    Returns:
        ``(target [C, S] int64, in_bounds [C, S] bool)`` with ``C = prod(shape)``;
        ``target`` is 0 where the neighbour falls outside the grid.
    """
    coords = np.indices(shape).reshape(len(shape), -1).T  # [C, d]
    neighbour = coords[:, None, :] + np.asarray(offsets)[None, :, :]
    dims = np.array(shape)
    if wrap:
        neighbour %= dims
        in_bounds = np.ones(neighbour.shape[:2], dtype=bool)
    else:
        in_bounds = ((neighbour >= 0) & (neighbour < dims)).all(-1)
        neighbour = np.where(in_bounds[..., None], neighbour, 0)
    target = np.ravel_multi_index(tuple(np.moveaxis(neighbour, -1, 0)), shape)
    return target.astype(np.int64), in_bounds


def _is_index(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_goal_range(goal, shape: tuple[int, ...]) -> None:
    """Refuse a flat index or coordinates outside the grid while they are still Python ints: numpy
    cannot hold one past int64 (``10**20``) and would call it "not an integer"."""
    num_cells = int(np.prod(shape))
    if _is_index(goal):
        if not 0 <= int(goal) < num_cells:
            raise ValueError(f"goal index {int(goal)} is out of range for a grid of {num_cells} cells")
    elif isinstance(goal, (tuple, list)) and len(goal) == len(shape) and all(
        isinstance(value, numbers.Integral) for value in goal
    ):
        coords = tuple(int(value) for value in goal)
        if any(not 0 <= value < side for value, side in zip(coords, shape)):
            raise ValueError(f"goal {coords} is outside the grid of shape {shape}")


def parse_goal(goal, shape: tuple[int, ...], free: np.ndarray) -> np.ndarray:
    """Goal given as a flat index, a coordinate tuple or a mask → flat bool mask."""
    num_cells = int(np.prod(shape))
    mask = np.zeros(num_cells, dtype=bool)
    if goal is None:
        return mask
    if isinstance(goal, Tensor):
        goal = goal.detach().cpu().numpy()
    _check_goal_range(goal, shape)
    goal_arr = check.as_array(goal, "goal")
    if goal_arr.shape == shape:
        if goal_arr.dtype != bool and not np.isin(goal_arr, (0, 1)).all():
            raise ValueError("a goal mask must be boolean or 0/1")
        mask = goal_arr.astype(bool).reshape(-1)
        if not mask.any():
            raise ValueError("the goal mask marks no cell")
    elif goal_arr.ndim == 0:
        if not np.issubdtype(goal_arr.dtype, np.integer):
            raise TypeError(f"a flat goal index must be an integer, got {goal!r}")
        index = int(goal_arr)
        if not 0 <= index < num_cells:
            raise ValueError(f"goal index {index} is out of range for a grid of {num_cells} cells")
        mask[index] = True
    elif goal_arr.shape == (len(shape),):
        if not np.issubdtype(goal_arr.dtype, np.integer):
            raise TypeError(f"goal coordinates must be integers, got {goal!r}")
        if ((goal_arr < 0) | (goal_arr >= np.array(shape))).any():
            raise ValueError(f"goal {tuple(goal_arr.tolist())} is outside the grid of shape {shape}")
        mask[np.ravel_multi_index(tuple(goal_arr), shape)] = True
    else:
        raise ValueError(
            f"goal must be a flat index, a coordinate of length {len(shape)} or a mask of "
            f"shape {shape}; got an array of shape {goal_arr.shape}"
        )
    on_wall = mask & ~free
    if on_wall.any():
        where = np.unravel_index(np.flatnonzero(on_wall)[0], shape)
        raise ValueError(f"goal at {tuple(int(i) for i in where)} is on a wall")
    return mask


def from_grid(
    maze,
    goal=None,
    *,
    connectivity: int | None = None,
    kernel_size: int | None = None,
    wrap: bool = False,
    free_value: float = 1,
    free_only: bool = False,
) -> Data:
    """Convert an occupancy grid into a planning graph.

    Args:
        maze: ``[H, W]`` or ``[D, H, W]`` array (numpy or torch) of 0/1 values;
            cells equal to ``free_value`` are free, the others walls.
        goal: ``None``, a flat cell index, a coordinate tuple, or a boolean mask
            of the maze's shape (several goals allowed). Must be on free cells.
        connectivity: moves an agent can take: 4 or 8 in 2-D, 6, 18 or 26 in 3-D.
        kernel_size: if given (odd ``F >= 3``), the edge set is every in-bounds
            cell of the ``F^d`` window around each cell, walls included: exactly
            what an ``F^d`` conv kernel sees. Otherwise moves plus a self-loop.
        wrap: wrap around every axis (a torus, e.g. for joint-angle C-spaces).
        free_value: the value that marks a free cell (use 0 for obstacle maps).
        free_only: keep only free cells as nodes (and edges between them).

    Returns:
        A :class:`~torch_geometric.data.Data` with

        * ``x`` ``[N, 2]`` float: (free, goal) flags,
        * ``pos`` ``[N, d]`` float: cell coordinates, ``cell`` ``[N]`` long:
          row-major flat cell index, ``grid_shape`` ``[1, d]`` long,
        * ``edge_index`` ``[2, E]`` long, sorted by source then stencil slot,
        * ``edge_type`` ``[E]`` long: row of :func:`grid_stencil`,
        * ``edge_attr`` ``[E, d]`` float: the offset ``pos[s'] - pos[s]``
          (the unwrapped offset on a torus),
        * ``move`` ``[E]`` bool: both ends free, not a self-loop, a legal move,
        * ``action`` ``[E]`` bool: a move direction from a free cell, wall or
          not (GPPN's policies choose among these; a move into a wall fails),
        * ``goal`` ``[N]`` bool,
        * ``stencil``: the :func:`grid_stencil` table that ``edge_type``
          indexes, as a tuple of ``S`` offset tuples (a plain value, so graphs of
          different stencils still batch: a ``Batch`` holds a list of them), so
          a planner can refuse a graph built with another stencil than its own.
    """
    wrap, free_only = check.flag(wrap, "wrap"), check.flag(free_only, "free_only")
    free = as_occupancy(maze, free_value=free_value)
    shape = free.shape
    ndim = len(shape)
    stencil = grid_stencil(ndim, connectivity, kernel_size).numpy()
    moves = move_offsets(ndim, connectivity).numpy()
    extent = 2 * int(np.abs(stencil).max()) + 1
    if wrap and min(shape) < extent:
        raise ValueError(
            f"wrap=True needs every side >= {extent} (the stencil's extent), got shape {shape}"
        )
    free_flat = free.reshape(-1)
    goal_flat = parse_goal(goal, shape, free_flat)

    target, in_bounds = grid_neighbours(shape, stencil, wrap)  # [C, S]
    coords = np.indices(shape).reshape(ndim, -1).T  # [C, d]
    num_cells = coords.shape[0]
    source = np.broadcast_to(np.arange(num_cells)[:, None], target.shape)
    slot = np.broadcast_to(np.arange(len(stencil))[None, :], target.shape)

    keep = in_bounds
    if free_only:
        keep = keep & free_flat[source] & free_flat[target]
    source, target, slot = source[keep], target[keep], slot[keep]  # row-major: sorted by source

    is_move_offset = np.isin(_flat(stencil), _flat(moves))
    action = is_move_offset[slot] & free_flat[source]
    move = action & free_flat[target]

    if free_only:
        cells = np.flatnonzero(free_flat)
        node_of_cell = np.full(num_cells, -1, dtype=np.int64)
        node_of_cell[cells] = np.arange(len(cells))
        source, target = node_of_cell[source], node_of_cell[target]
    else:
        cells = np.arange(num_cells)

    goal_nodes = goal_flat[cells]
    x = np.stack([free_flat[cells], goal_nodes], axis=1).astype(np.float32)
    return Data(
        x=torch.from_numpy(x),
        edge_index=torch.from_numpy(np.stack([source, target]).astype(np.int64)),
        edge_type=torch.from_numpy(slot.astype(np.int64)),
        edge_attr=torch.from_numpy(stencil[slot].astype(np.float32)),
        move=torch.from_numpy(move),
        action=torch.from_numpy(action),
        goal=torch.from_numpy(goal_nodes),
        pos=torch.from_numpy(coords[cells].astype(np.float32)),
        cell=torch.from_numpy(cells.astype(np.int64)),
        grid_shape=torch.tensor([shape], dtype=torch.long),
        stencil=stencil_key(stencil),
    )


TEMPLATE_FIELDS = ("edge_index", "edge_type", "edge_attr", "pos", "cell", "grid_shape")
"""The fields of a :func:`grid_template` copied into every graph of its shape."""


def grid_template(
    shape: Sequence[int], connectivity: int | None = None, kernel_size: int | None = None, wrap: bool = False
) -> dict:
    """The map-independent part of ``from_grid(mask, connectivity=..., kernel_size=..., wrap=...)`` for one shape.

    The edge structure of :func:`from_grid` (without ``free_only``) does not depend on the
    map, so graph builders (datasets, :func:`gvin.from_terrain`) compute it once per shape and
    settings: a graph of free cells ``f`` has ``move = is_move & f[src] & f[dst]`` and
    ``action = is_move & f[src]``.

    Returns:
        read-only numpy arrays (``E`` edges, ``N`` cells): ``edge_index`` ``[2, E]``,
        ``edge_type`` ``[E]``, ``edge_attr`` ``[E, d]``, ``pos`` ``[N, d]``, ``cell``
        ``[N]``, ``grid_shape`` ``[1, d]``, ``is_move`` ``[E]`` bool (the all-free grid's
        ``move``), and ``stencil`` (the ``[T, d]`` tensor, shared: do not change it). Cached
        per shape and settings (their types too: ``wrap=1`` is refused by ``from_grid``
        even after a ``wrap=True`` call); unhashable settings are not cached.
    """
    shape = tuple(shape)
    key = (shape, connectivity, kernel_size, wrap, type(connectivity), type(kernel_size), type(wrap))
    try:
        hash(key)
    except TypeError:
        return _build_template(shape, connectivity, kernel_size, wrap)
    return _cached_template(key)


@functools.lru_cache(maxsize=32)
def _cached_template(key: tuple) -> dict:
    return _build_template(*key[:4])


def _build_template(shape: tuple[int, ...], connectivity, kernel_size, wrap) -> dict:
    template = from_grid(np.ones(shape, dtype=np.float32), connectivity=connectivity,
                         kernel_size=kernel_size, wrap=wrap)
    fields = {key: template[key].numpy() for key in TEMPLATE_FIELDS}
    fields["is_move"] = template.move.numpy()
    fields["stencil"] = template.stencil
    for value in fields.values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return fields


def to_grid(data: Data, values, fill: float = 0.0):
    """Map a node tensor back onto the grid(s) that ``data`` was built from.

    Args:
        data: a graph from :func:`from_grid`, or a ``Batch`` of them with equal
            grid shapes.
        values: ``[N, *F]`` tensor or array, one row per node.
        fill: value for cells without a node (walls of a ``free_only`` graph).

    Returns:
        ``[*shape, *F]`` for a single graph, ``[B, *shape, *F]`` for a batch;
        a torch tensor or numpy array, like ``values``.
    """
    if not hasattr(data, "cell") or not hasattr(data, "grid_shape"):
        raise ValueError("to_grid needs a graph built by from_grid (fields 'cell' and 'grid_shape')")
    as_numpy = isinstance(values, np.ndarray)
    try:
        tensor = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"values must be an [N, ...] tensor or array, got {type(values).__name__}: {error}") from None
    if tensor.dim() == 0 or tensor.shape[0] != data.num_nodes:
        raise ValueError(
            f"values must have one row per node ({data.num_nodes}), got shape {tuple(tensor.shape)}"
        )
    if not tensor.dtype.is_floating_point and not tensor.dtype.is_complex:
        kind = "bool" if tensor.dtype == torch.bool else "integer"
        try:
            representable = torch.tensor(fill, dtype=tensor.dtype).item() == fill
        except (RuntimeError, TypeError, OverflowError):
            representable = False
        if not representable:
            raise ValueError(
                f"fill={fill!r} cannot be stored in the {kind} values ({tensor.dtype}); "
                "give a fill of that type or convert the values to float"
            )
    grid_shapes = data.grid_shape.view(-1, data.grid_shape.shape[-1])
    if not (grid_shapes == grid_shapes[0]).all():
        raise ValueError("to_grid on a batch needs equal grid shapes; split the batch first")
    shape = tuple(int(s) for s in grid_shapes[0])
    num_graphs = grid_shapes.shape[0]
    num_cells = int(np.prod(shape))
    graph = data.batch if getattr(data, "batch", None) is not None else torch.zeros(
        data.num_nodes, dtype=torch.long
    )
    graph = graph.to(tensor.device)
    flat = torch.full(
        (num_graphs * num_cells, *tensor.shape[1:]), fill, dtype=tensor.dtype, device=tensor.device
    )
    flat[graph * num_cells + data.cell.to(tensor.device)] = tensor
    out = flat.view(num_graphs, *shape, *tensor.shape[1:])
    if getattr(data, "batch", None) is None:
        out = out[0]
    return out.cpu().numpy() if as_numpy else out


def grid_free_mask(data: Data) -> Tensor:
    """``[N]`` bool: the node is a free cell (``x[:, 0]`` of a grid graph)."""
    return data.x[:, 0] > 0.5


__all__: Sequence[str] = ["from_grid", "grid_template", "to_grid", "grid_stencil", "stencil_key", "describe_stencil", "move_offsets", "grid_neighbours", "grid_free_mask", "parse_goal"]
