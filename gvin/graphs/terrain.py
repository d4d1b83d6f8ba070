"""Rover terrain (a digital elevation model) as a planning graph.

:func:`from_terrain` turns a 2-D elevation map into the same grid graph that
:func:`gvin.from_grid` builds (same ``edge_index`` / ``edge_type`` / ``stencil``
/ ``pos`` / ``cell`` / ``grid_shape``, so typed planners run on it unchanged),
then keeps as moves only the steps a rover can climb and prices each one by its
3-D length. :func:`random_terrain` makes seeded synthetic terrain and
:func:`jacksboro_dem` loads matplotlib's real sample DEM.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np
import torch
from torch_geometric.data import Data

from gvin import _checks
from gvin.graphs._validation import as_numpy
from gvin.graphs.grid import TEMPLATE_FIELDS, grid_template, parse_goal

METRES_PER_DEGREE = 111_320.0
"""Metres per degree of latitude (and of longitude at the equator)."""

JACKSBORO_LATITUDE = 36.7
"""Latitude (degrees north) of Jacksboro, TN: used when the DEM file gives none."""


def _elevation(elevation) -> np.ndarray:
    array = as_numpy(elevation, "elevation")
    if array.dtype == object or array.dtype == bool or not np.issubdtype(array.dtype, np.number) \
            or np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"elevation must hold real numbers (metres), got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"elevation must be a 2-D [H, W] array, got rank {array.ndim} (shape {array.shape})")
    if array.size == 0:
        raise ValueError(f"elevation is empty (shape {array.shape})")
    array = array.astype(np.float64)
    if np.isinf(array).any():
        raise ValueError("elevation contains inf; mark no-data cells with NaN")
    if np.isnan(array).all():
        raise ValueError("elevation has no finite cell (all NaN: no traversable cell)")
    return array


def _cell_size(cell_size) -> tuple[float, float]:
    if isinstance(cell_size, torch.Tensor):
        cell_size = cell_size.detach().cpu().numpy()
    if isinstance(cell_size, np.ndarray):
        cell_size = cell_size.tolist()
    if isinstance(cell_size, (list, tuple)):
        if len(cell_size) != 2:
            raise ValueError(f"cell_size must be a number or a pair (dy, dx), got {cell_size!r}")
        values = tuple(cell_size)
    else:
        values = (cell_size, cell_size)
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)) \
                or float(value) <= 0:
            raise ValueError(f"cell_size must be a positive finite number or a pair (dy, dx) of them, got {cell_size!r}")
        out.append(float(value))
    return out[0], out[1]


def _check_settings(max_slope_deg, slope_cost, connectivity) -> tuple[float, float]:
    if isinstance(max_slope_deg, bool) or not isinstance(max_slope_deg, numbers.Real) \
            or not 0.0 < float(max_slope_deg) < 90.0:
        raise ValueError(f"max_slope_deg must be a number in (0, 90) degrees, got {max_slope_deg!r}")
    slope_cost = _checks.real(slope_cost, "slope_cost")
    if slope_cost < 0:
        raise ValueError(f"slope_cost must be >= 0, got {slope_cost!r}")
    if connectivity not in (4, 8) or isinstance(connectivity, bool):
        raise ValueError(f"connectivity must be 4 or 8 on terrain, got {connectivity!r}")
    return math.radians(float(max_slope_deg)), slope_cost


def terrain_moves(
    elevation,
    cell_size=1.0,
    *,
    max_slope_deg: float = 30.0,
    connectivity: int = 8,
    kernel_size: int | None = None,
    wrap: bool = False,
    slope_cost: float = 0.0,
) -> dict[str, np.ndarray]:
    """The numpy core of :func:`from_terrain`: its per-edge and per-node arrays, without a graph.

    Dataset generators use it to pick goals and compute labels without building
    a :class:`~torch_geometric.data.Data` per try. Arguments as in :func:`from_terrain`.

    Returns:
        a dict of numpy arrays (``E`` edges and ``N = H·W`` nodes in
        :func:`from_terrain`'s order): ``edge_index`` ``[2, E]``, ``finite`` ``[N]``
        bool, ``move`` ``[E]`` bool, ``weight`` ``[E]`` float64 (the move costs,
        0 off the moves), ``rise`` / ``slope`` / ``horizontal`` / ``length``
        ``[E]`` float64, ``steepest`` and ``z`` ``[N]`` float64, ``heights``
        ``[N]`` float64, and ``cell_size`` ``(dy, dx)`` and ``max_slope`` (radians).
    """
    heights = _elevation(elevation)
    dy, dx = _cell_size(cell_size)
    max_slope, slope_cost = _check_settings(max_slope_deg, slope_cost, connectivity)
    template = grid_template(heights.shape, connectivity, kernel_size, wrap)
    src, dst = template["edge_index"]
    offset = template["edge_attr"].astype(np.float64)  # [E, 2] (row, col) grid steps
    finite = np.isfinite(heights).reshape(-1)
    flat = heights.reshape(-1)
    horizontal = np.hypot(offset[:, 0] * dy, offset[:, 1] * dx)
    both = finite[src] & finite[dst]
    rise = np.where(both, flat[dst] - flat[src], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(horizontal > 0, np.arctan2(np.abs(rise), horizontal), 0.0)
    length = np.hypot(horizontal, rise)
    one_step = np.abs(offset).max(1) == 1
    move = template["is_move"] & both & (slope <= max_slope + 1e-12)
    cost = length * (1.0 + slope_cost * slope / max_slope)
    weight = np.where(move, cost, 0.0)

    num_nodes = flat.size
    steepest = np.zeros(num_nodes)
    mask = one_step & both
    np.maximum.at(steepest, src[mask], slope[mask])
    values = flat[finite]
    std = values.std()
    z = np.zeros(num_nodes)
    if std > 0:
        z[finite] = (values - values.mean()) / std
    return dict(edge_index=template["edge_index"], finite=finite, move=move, weight=weight, rise=rise,
                slope=slope, horizontal=horizontal, length=length, steepest=steepest, z=z, heights=flat,
                cell_size=(dy, dx), max_slope=max_slope)


def from_terrain(
    elevation,
    cell_size=1.0,
    goal=None,
    *,
    max_slope_deg: float = 30.0,
    connectivity: int = 8,
    kernel_size: int | None = None,
    wrap: bool = False,
    slope_cost: float = 0.0,
) -> Data:
    """Convert an elevation map into a planning graph of the moves a rover can climb.

    The graph has the structure of ``from_grid(np.ones(shape), goal,
    connectivity=..., kernel_size=..., wrap=...)``: one node per cell, one edge
    per in-bounds stencil offset, same order, ``edge_type`` and ``stencil``.

    Args:
        elevation: ``[H, W]`` array (numpy or torch) of heights in metres; NaN
            marks a no-data cell, which is a wall (no move into or out of it).
        cell_size: metres per cell: a number, or ``(dy, dx)`` (row spacing,
            column spacing) for non-square cells.
        goal: ``None``, a flat cell index, an ``(row, col)`` tuple, or a boolean
            mask of shape ``[H, W]``. A goal must be on a finite cell that at
            least one move enters.
        max_slope_deg: the steepest slope a move may climb or descend, in
            degrees, in ``(0, 90)``. The slope of a step is
            ``atan(|Δh| / horizontal length)``.
        connectivity: 4 or 8 moves.
        kernel_size: edge window as in :func:`gvin.from_grid` (moves stay the
            one-cell steps).
        wrap: a torus (as in :func:`gvin.from_grid`).
        slope_cost: ``>= 0``; each move costs its 3-D length times
            ``1 + slope_cost * slope / max_slope`` (``0``: the plain 3-D length).

    Returns:
        A :class:`~torch_geometric.data.Data` with the fields of
        :func:`gvin.from_grid` except that

        * ``x`` ``[N, 4]`` float: (traversable flag = finite elevation, goal
          flag, elevation z-scored over the finite cells (0 on NaN cells, and
          everywhere on flat terrain), the cell's steepest slope over its
          one-step neighbours with finite elevation divided by ``max_slope``
          (0 on NaN cells; above 1 next to a step too steep to take)). The first
          two columns mean what ``from_grid``'s do;
        * ``edge_attr`` ``[E, 4]`` float: (rise ``Δh = h[s'] - h[s]`` in metres,
          slope in radians, horizontal length in metres, 3-D length
          ``sqrt(horizontal² + Δh²)`` in metres); on an edge with a NaN end the
          rise and slope are 0 and the 3-D length is the horizontal length;
          a self-loop is all zeros;
        * ``offset`` ``[E, 2]`` float: the grid offset ``pos[s'] - pos[s]``
          (``from_grid``'s ``edge_attr``);
        * ``move`` ``[E]`` bool: a one-step stencil move between finite cells
          whose slope is at most ``max_slope_deg``;
        * ``action`` ``[E]`` bool: a move direction from a finite cell (steep or
          not, as ``from_grid``'s from a free cell);
        * ``edge_weight`` ``[E]`` float: the cost of each move (see
          ``slope_cost``); 0 on the non-moves, which planners ignore
          (:func:`gvin.shortest_path_distances` reads it on ``move`` only);
        * ``elevation`` ``[N]`` float: the raw heights in metres (NaN kept);
        * ``cell_size`` ``[1, 2]`` float: ``(dy, dx)`` in metres;
        * ``max_slope`` ``[1]`` float: ``max_slope_deg`` in radians.

    Raises:
        TypeError: ``elevation`` not a real array, ``wrap`` not a bool.
        ValueError: ``elevation`` not 2-D, empty, all NaN or with inf; a bad
            ``cell_size``, ``max_slope_deg``, ``slope_cost``, ``connectivity``
            or ``kernel_size``; a goal outside the grid, on a NaN cell, or on a
            cell no move enters.
    """
    heights = _elevation(elevation)
    _cell_size(cell_size)
    _check_settings(max_slope_deg, slope_cost, connectivity)
    shape = heights.shape
    finite = np.isfinite(heights).reshape(-1)
    goal_flat = parse_goal(goal, shape, np.ones(finite.size, dtype=bool))
    off_data = goal_flat & ~finite
    if off_data.any():
        where = np.unravel_index(np.flatnonzero(off_data)[0], shape)
        raise ValueError(f"goal at {tuple(int(i) for i in where)} is on a no-data (NaN elevation) cell")
    arrays = terrain_moves(heights, cell_size, max_slope_deg=max_slope_deg, connectivity=connectivity,
                           kernel_size=kernel_size, wrap=wrap, slope_cost=slope_cost)
    template = grid_template(shape, connectivity, kernel_size, wrap)  # cached by terrain_moves
    move = arrays["move"]
    if goal_flat.any():
        entered = np.zeros(finite.size, dtype=bool)
        entered[template["edge_index"][1][move]] = True
        stranded = goal_flat & ~entered
        if stranded.any():
            where = np.unravel_index(np.flatnonzero(stranded)[0], shape)
            raise ValueError(
                f"goal at {tuple(int(i) for i in where)} cannot be reached: every step into it is "
                f"steeper than max_slope_deg={max_slope_deg} or comes from a no-data cell"
            )
    return _terrain_data(template, arrays, goal_flat)


def _terrain_data(template: dict, arrays: dict, goal_flat: np.ndarray) -> Data:
    """:func:`from_terrain`'s graph from the template and :func:`terrain_moves`' arrays."""
    src = template["edge_index"][0]
    finite, move = arrays["finite"], arrays["move"]
    dy, dx = arrays["cell_size"]
    max_slope = arrays["max_slope"]
    data = Data(
        x=torch.from_numpy(np.stack([finite, goal_flat, arrays["z"], arrays["steepest"] / max_slope],
                                    axis=1).astype(np.float32)),
        **{key: torch.from_numpy(template[key].copy()) for key in TEMPLATE_FIELDS},
    )
    data.goal = torch.from_numpy(goal_flat.copy())
    data.move = torch.from_numpy(move)
    data.action = torch.from_numpy(template["is_move"] & finite[src])
    data.stencil = template["stencil"]
    data.offset = data.edge_attr
    data.edge_attr = torch.from_numpy(np.stack(
        [arrays["rise"], arrays["slope"], arrays["horizontal"], arrays["length"]], axis=1).astype(np.float32))
    data.edge_weight = torch.from_numpy(arrays["weight"].astype(np.float32))
    data.elevation = torch.from_numpy(arrays["heights"].astype(np.float32))
    data.cell_size = torch.tensor([[dy, dx]], dtype=torch.float32)
    data.max_slope = torch.tensor([max_slope], dtype=torch.float32)
    return data


def _upsample(coarse: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear interpolation of a coarse grid spanning the whole ``shape``."""
    rows = np.linspace(0, coarse.shape[0] - 1, shape[0])
    cols = np.linspace(0, coarse.shape[1] - 1, shape[1])
    r0 = np.minimum(np.floor(rows).astype(int), coarse.shape[0] - 2)
    c0 = np.minimum(np.floor(cols).astype(int), coarse.shape[1] - 2)
    fr = (rows - r0)[:, None]
    fc = (cols - c0)[None, :]
    a = coarse[r0][:, c0]
    b = coarse[r0][:, c0 + 1]
    c = coarse[r0 + 1][:, c0]
    d = coarse[r0 + 1][:, c0 + 1]
    return (a * (1 - fc) + b * fc) * (1 - fr) + (c * (1 - fc) + d * fc) * fr


def random_terrain(
    shape,
    rng=None,
    *,
    roughness: float = 0.5,
    relief: float = 10.0,
    craters: int = 3,
    ridges: int = 2,
) -> np.ndarray:
    """Seeded synthetic terrain in metres: value noise plus crater bowls and ridges.

    The noise sums octaves of bilinearly upsampled uniform random grids (2×2,
    3×3, 5×5, 9×9, … cells up to the map's size); octave ``k`` has amplitude
    ``roughness**k``, and the sum is scaled to a standard deviation of
    ``relief`` metres. Each crater is a parabolic bowl (depth up to
    ``relief``) with a raised rim; each ridge a Gaussian-profile wall along a
    random segment (height up to ``relief``).

    Args:
        shape: ``(H, W)``, each at least 2.
        rng: ``None``, an int seed or a ``numpy.random.Generator``; the same seed
            gives the same terrain.
        roughness: in ``(0, 1)``: how much the fine octaves weigh.
        relief: ``> 0`` metres: the height scale.
        craters, ridges: how many of each (``>= 0``).

    Returns:
        ``[H, W]`` float64 heights in metres.
    """
    if not isinstance(shape, (tuple, list)) or len(shape) != 2 or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 2 for s in shape):
        raise ValueError(f"shape must be (H, W) with ints >= 2, got {shape!r}")
    shape = (int(shape[0]), int(shape[1]))
    roughness = _checks.real(roughness, "roughness")
    if not 0.0 < roughness < 1.0:
        raise ValueError(f"roughness must be in (0, 1), got {roughness!r}")
    relief = _checks.real(relief, "relief")
    if relief <= 0:
        raise ValueError(f"relief must be > 0 metres, got {relief!r}")
    craters = _checks.positive_int(craters, "craters", minimum=0)
    ridges = _checks.positive_int(ridges, "ridges", minimum=0)
    gen = _checks.as_rng(rng, "rng", allow_none=True)

    height = np.zeros(shape)
    size, amplitude = 2, 1.0
    while True:
        coarse = gen.random((min(size, shape[0]), min(size, shape[1])))
        coarse = np.pad(coarse, ((0, max(0, 2 - coarse.shape[0])), (0, max(0, 2 - coarse.shape[1]))), mode="edge")
        height += amplitude * _upsample(coarse, shape)
        if size >= max(shape):
            break
        size, amplitude = 2 * size - 1, amplitude * roughness
    height -= height.mean()
    std = height.std()
    height *= relief / std if std > 0 else 0.0

    rows, cols = np.indices(shape, dtype=np.float64)
    small = min(shape)
    for _ in range(craters):
        cy, cx = gen.uniform(0, shape[0]), gen.uniform(0, shape[1])
        radius = gen.uniform(0.08, 0.25) * small + 1.0
        depth = gen.uniform(0.3, 1.0) * relief
        r = np.hypot(rows - cy, cols - cx) / radius
        bowl = np.where(r < 1, depth * (r ** 2 - 1), 0.0)
        rim = 0.3 * depth * np.exp(-((r - 1) / 0.25) ** 2)
        height += bowl + rim
    for _ in range(ridges):
        y0, x0, y1, x1 = gen.uniform(0, 1, 4) * [shape[0], shape[1], shape[0], shape[1]]
        width = gen.uniform(0.02, 0.08) * small + 0.5
        peak = gen.uniform(0.3, 1.0) * relief
        vy, vx = y1 - y0, x1 - x0
        t = np.clip(((rows - y0) * vy + (cols - x0) * vx) / max(vy * vy + vx * vx, 1e-12), 0, 1)
        distance = np.hypot(rows - (y0 + t * vy), cols - (x0 + t * vx))
        height += peak * np.exp(-0.5 * (distance / width) ** 2)
    return height


def jacksboro_dem() -> tuple[np.ndarray, tuple[float, float]]:
    """Matplotlib's sample DEM of the Jacksboro fault (Tennessee), in metres.

    The file (``jacksboro_fault_dem.npz``) holds ``elevation`` (int16 metres,
    ``[344, 403]``) on a 3-arc-second grid (``dy``, ``dx`` in degrees). The
    spacing becomes metres as ``dy * 111 320`` and ``dx * 111 320 * cos(lat)``
    with ``lat`` the middle of the file's ``ymin``/``ymax`` (36.7°N if absent):
    about 92.8 m × 74.5 m.

    Returns:
        ``(elevation [344, 403] float64 metres, (dy, dx) metres)``, ready for
        ``from_terrain(elevation, cell_size)``.

    Raises:
        FileNotFoundError: matplotlib or its sample data is not installed.
    """
    try:
        from matplotlib import cbook
    except ImportError as error:  # pragma: no cover - matplotlib is a dependency
        raise FileNotFoundError("jacksboro_dem needs matplotlib (its sample data)") from error
    try:
        dem = cbook.get_sample_data("jacksboro_fault_dem.npz")
    except (OSError, ValueError) as error:
        raise FileNotFoundError(f"matplotlib's sample data jacksboro_fault_dem.npz is missing: {error}") from None
    with dem:
        keys = set(dem.keys())
        elevation = np.asarray(dem["elevation"], dtype=np.float64)
        dy_deg, dx_deg = float(dem["dy"]), float(dem["dx"])
        if {"ymin", "ymax"} <= keys:
            latitude = 0.5 * (float(dem["ymin"]) + float(dem["ymax"]))
        else:
            latitude = JACKSBORO_LATITUDE
    dy = abs(dy_deg) * METRES_PER_DEGREE
    dx = abs(dx_deg) * METRES_PER_DEGREE * math.cos(math.radians(latitude))
    return elevation, (dy, dx)


GEOTIFF_SUFFIXES = (".tif", ".tiff")
"""File name endings :func:`load_dem` reads as GeoTIFF (through the optional ``rasterio``)."""


def _geotiff_cell_size(crs, transform, width: int, height: int) -> tuple[float, float] | None:
    """``(dy, dx)`` metres of a raster's cells from its affine transform, or ``None`` without a CRS.

    A projected CRS gives its linear unit (scaled to metres); a geographic one gives
    degrees, turned into metres as :func:`jacksboro_dem` does, at the latitude of the
    raster's centre.
    """
    if crs is None:
        return None
    dx = math.hypot(transform.a, transform.d)  # one column step, in CRS units
    dy = math.hypot(transform.b, transform.e)  # one row step
    if crs.is_geographic:
        latitude = transform.f + transform.d * (width / 2.0) + transform.e * (height / 2.0)  # y of the centre
        return dy * METRES_PER_DEGREE, dx * METRES_PER_DEGREE * math.cos(math.radians(latitude))
    if crs.is_projected:
        _, factor = crs.linear_units_factor
        return dy * factor, dx * factor
    return None


def _read_geotiff(path) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Band 1 of a GeoTIFF as float64 (no-data → NaN) and its cell size (see :func:`_geotiff_cell_size`)."""
    try:
        import rasterio
    except ImportError as error:
        raise ImportError(
            f"reading the GeoTIFF {path} needs rasterio, an optional extra: pip install gvin[geotiff] "
            "(or save the elevation as .npy / .npz)") from error
    try:
        with rasterio.open(path) as source:
            band = source.read(1, masked=True)
            cell_size = _geotiff_cell_size(source.crs, source.transform, source.width, source.height)
    except rasterio.errors.RasterioError as error:
        raise ValueError(f"{path} is not a readable GeoTIFF: {error}") from None
    elevation = np.ma.filled(band.astype(np.float64), np.nan)
    return elevation, cell_size


def load_dem(path, key: str | None = None, *, return_cell_size: bool = False):
    """A user's elevation map (metres) from a ``.npy`` / ``.npz`` file or a GeoTIFF.

    GeoTIFFs (``.tif`` / ``.tiff``) are read with ``rasterio``, an optional extra
    (``pip install gvin[geotiff]``): band 1, its no-data value (and NaN) as NaN.
    Their cell size comes from the affine transform: in metres for a projected
    CRS (its linear unit converted), and for a geographic CRS (degrees) as
    ``dy · 111 320`` and ``dx · 111 320 · cos(latitude)`` at the latitude of
    the raster's centre, as :func:`jacksboro_dem` does.

    Args:
        path: the file.
        key: the array's name inside an ``.npz`` (default: ``"elevation"`` if
            present, else the archive's only array).
        return_cell_size: also return the cell size.

    Returns:
        ``[H, W]`` float64 metres (NaN marks no-data), ready for :func:`from_terrain`;
        with ``return_cell_size=True`` the pair ``(elevation, cell_size)``, where
        ``cell_size`` is ``(dy, dx)`` in metres, or ``None`` when the file does
        not say (a ``.npy`` / ``.npz``, a GeoTIFF without a CRS).

    Raises:
        FileNotFoundError: no such file. ImportError: a GeoTIFF without
        ``rasterio`` installed. ValueError: not a ``.npy`` / ``.npz`` file or
        readable GeoTIFF, an unknown or ambiguous ``key``, or not a 2-D numeric array.
    """
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no elevation file at {path}")
    cell_size = None
    if path.suffix.lower() in GEOTIFF_SUFFIXES:
        if key is not None:
            raise ValueError(f"key={key!r} is for .npz archives; a GeoTIFF's elevation is its band 1")
        loaded, cell_size = _read_geotiff(path)
    else:
        loaded = _load_numpy(path, key)
    elevation = _elevation(loaded)
    return (elevation, cell_size) if return_cell_size else elevation


def _load_numpy(path, key: str | None) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a .npy or .npz file of numbers (or a .tif GeoTIFF): {error}") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.keys())
            name = key or ("elevation" if "elevation" in names else (names[0] if len(names) == 1 else None))
            if name not in names:
                raise ValueError(f"{path} holds arrays {names}; say which is the elevation with key=")
            loaded = loaded[name]
    elif key is not None:
        raise ValueError(f"key={key!r} is for .npz archives; {path} holds a single array")
    return loaded


__all__: Sequence[str] = ["from_terrain", "terrain_moves", "random_terrain", "jacksboro_dem", "load_dem"]
