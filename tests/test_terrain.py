import math

import networkx as nx
import numpy as np
import pytest
import torch

import gvin
from gvin.models import DTVIN


def test_flat_terrain_is_from_grid_with_horizontal_costs():
    shape = (5, 6)
    data = gvin.from_terrain(np.zeros(shape), (2.0, 3.0), goal=(1, 2), connectivity=8)
    grid = gvin.from_grid(np.ones(shape), goal=(1, 2), connectivity=8)
    for field in ("edge_index", "edge_type", "pos", "cell", "grid_shape", "move", "action", "goal"):
        assert torch.equal(getattr(data, field), getattr(grid, field)), field
    assert data.stencil == grid.stencil
    assert torch.equal(data.offset, grid.edge_attr)
    assert torch.equal(data.x[:, :2], grid.x)
    assert (data.x[:, 2:] == 0).all()
    assert data.x.shape == (30, 4) and data.edge_attr.shape == (data.num_edges, 4)
    off = grid.edge_attr.double()
    horizontal = torch.sqrt((off[:, 0] * 2.0) ** 2 + (off[:, 1] * 3.0) ** 2)
    assert torch.allclose(data.edge_weight[data.move].double(), horizontal[data.move])
    assert (data.edge_weight[~data.move] == 0).all()
    assert torch.allclose(data.edge_attr[:, 2].double(), horizontal)
    assert (data.edge_attr[:, :2] == 0).all()
    assert torch.equal(data.cell_size, torch.tensor([[2.0, 3.0]]))
    # a square cell: unit horizontal costs
    unit = gvin.from_terrain(np.zeros(shape), 1.0, connectivity=4)
    assert (unit.edge_weight[unit.move] == 1).all()


def test_kernel_window_and_wrap_keep_the_grid_structure():
    h = gvin.random_terrain((7, 8), 3, relief=0.5)
    data = gvin.from_terrain(h, 1.0, kernel_size=5, wrap=True, max_slope_deg=60)
    grid = gvin.from_grid(np.ones((7, 8)), kernel_size=5, wrap=True, connectivity=8)
    assert torch.equal(data.edge_index, grid.edge_index) and data.stencil == grid.stencil
    assert not (data.move & ~grid.move).any()


def test_steep_ramp_removes_exactly_the_steep_moves():
    # columns rise 1 m per cell (45°) between columns 2 and 3 only; elsewhere flat
    h = np.zeros((4, 6))
    h[:, 3:] = 1.0
    data = gvin.from_terrain(h, 1.0, connectivity=4, max_slope_deg=30)
    flat = gvin.from_terrain(np.zeros((4, 6)), 1.0, connectivity=4, max_slope_deg=30)
    src, dst = data.edge_index
    cols_src, cols_dst = data.pos[src, 1], data.pos[dst, 1]
    crossing = ((cols_src == 2) & (cols_dst == 3)) | ((cols_src == 3) & (cols_dst == 2))
    assert torch.equal(data.move, flat.move & ~crossing)
    assert int((flat.move & crossing).sum()) == 8  # 4 rows, both directions
    # a limit above 45° keeps them all
    loose = gvin.from_terrain(h, 1.0, connectivity=4, max_slope_deg=46)
    assert torch.equal(loose.move, flat.move)
    # slope feature: cells next to the step see 45° / 30° = 1.5
    steep = data.x[:, 3].view(4, 6)
    assert torch.allclose(steep[:, 2:4], torch.full((4, 2), 1.5))
    assert (steep[:, [0, 1, 4, 5]] == 0).all()


def test_nan_cells_are_walls():
    h = np.zeros((5, 5))
    h[2, 1:4] = np.nan
    data = gvin.from_terrain(h, 1.0, goal=(0, 0))
    wall = torch.from_numpy(np.isnan(h).reshape(-1))
    assert torch.equal(data.x[:, 0] == 0, wall)
    src, dst = data.edge_index
    assert not (data.move & (wall[src] | wall[dst])).any()
    assert torch.equal(data.action, gvin.from_grid((~np.isnan(h)).astype(float), connectivity=8).action)
    assert torch.isfinite(data.edge_attr).all() and torch.isfinite(data.x).all()
    assert torch.isnan(data.elevation[wall]).all()
    dist = gvin.shortest_path_distances(data)
    assert torch.isinf(dist[wall]).all() and torch.isfinite(dist[~wall]).all()


def test_costs_are_3d_lengths_with_optional_slope_penalty():
    h = gvin.random_terrain((6, 7), 1, relief=1.0)
    data = gvin.from_terrain(h, (2.0, 1.5), max_slope_deg=40)
    src, dst = data.edge_index.numpy()
    off = data.offset.numpy().astype(float)
    horizontal = np.hypot(off[:, 0] * 2.0, off[:, 1] * 1.5)
    rise = h.reshape(-1)[dst] - h.reshape(-1)[src]
    move = data.move.numpy()
    np.testing.assert_allclose(data.edge_weight.numpy()[move], np.hypot(horizontal, rise)[move], rtol=1e-6)
    np.testing.assert_allclose(data.edge_attr[:, 0].numpy(), rise, rtol=1e-5, atol=1e-6)
    slope = np.arctan2(np.abs(rise), horizontal)
    np.testing.assert_allclose(data.edge_attr[move, 1].numpy(), slope[move], rtol=1e-5, atol=1e-7)
    assert (np.degrees(slope[move]) <= 40 + 1e-9).all()
    penalised = gvin.from_terrain(h, (2.0, 1.5), max_slope_deg=40, slope_cost=2.0)
    factor = 1 + 2.0 * slope / math.radians(40)
    np.testing.assert_allclose(penalised.edge_weight.numpy()[move], (np.hypot(horizontal, rise) * factor)[move],
                               rtol=1e-5)


def test_dijkstra_equals_networkx_on_terrain():
    h = gvin.random_terrain((9, 11), 7, relief=2.0, craters=2, ridges=1)
    h[4, 2:6] = np.nan
    dy, dx, limit = 1.0, 1.5, 35.0
    goal = (0, 0)
    while True:  # a goal some move enters
        try:
            data = gvin.from_terrain(h, (dy, dx), goal=goal, max_slope_deg=limit)
            break
        except ValueError:
            goal = (goal[0], goal[1] + 1)
    dist = gvin.shortest_path_distances(data).numpy()

    # independent graph straight from the heights
    g = nx.DiGraph()
    H, W = h.shape
    g.add_nodes_from(range(H * W))
    for r in range(H):
        for c in range(W):
            for orow in (-1, 0, 1):
                for ocol in (-1, 0, 1):
                    r2, c2 = r + orow, c + ocol
                    if (orow, ocol) == (0, 0) or not (0 <= r2 < H and 0 <= c2 < W):
                        continue
                    if np.isnan(h[r, c]) or np.isnan(h[r2, c2]):
                        continue
                    run = math.hypot(orow * dy, ocol * dx)
                    rise = h[r2, c2] - h[r, c]
                    if math.degrees(math.atan(abs(rise) / run)) <= limit:
                        g.add_edge(r * W + c, r2 * W + c2, weight=math.hypot(run, rise))
    target = goal[0] * W + goal[1]
    expected = nx.single_source_dijkstra_path_length(g.reverse(), target, weight="weight")
    reference = np.full(H * W, np.inf)
    for node, value in expected.items():
        reference[node] = value
    assert np.isfinite(reference).sum() > 20
    np.testing.assert_allclose(dist, reference, rtol=1e-5)


def test_random_terrain_is_seeded():
    a = gvin.random_terrain((16, 20), 5)
    b = gvin.random_terrain((16, 20), 5)
    c = gvin.random_terrain((16, 20), 6)
    assert a.shape == (16, 20) and a.dtype == np.float64 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(gvin.random_terrain((16, 20), np.random.default_rng(5)), a)
    bare = gvin.random_terrain((16, 20), 5, craters=0, ridges=0, relief=3.0)
    assert abs(bare.std() - 3.0) < 1e-9
    for kwargs in ({"roughness": 1.5}, {"relief": 0}, {"craters": -1}, {"ridges": 1.5}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            gvin.random_terrain((8, 8), 0, **kwargs)
    with pytest.raises(ValueError, match="shape"):
        gvin.random_terrain((8,), 0)
    with pytest.raises(TypeError, match="rng"):
        gvin.random_terrain((8, 8), "seed")


def test_jacksboro_dem():
    try:
        elevation, (dy, dx) = gvin.jacksboro_dem()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    assert elevation.shape == (344, 403) and elevation.dtype == np.float64
    assert 85 < dy < 100 and 65 < dx < 80
    assert 100 < elevation.min() < elevation.max() < 2000
    data = gvin.from_terrain(elevation[:40, :50], (dy, dx), goal=(20, 25))
    assert torch.isfinite(gvin.shortest_path_distances(data)).any()


def test_dtvin_runs_on_a_terrain_graph():
    h = gvin.random_terrain((8, 9), 2, relief=1.0)
    data = gvin.from_terrain(h, 1.0, goal=(4, 4), max_slope_deg=45)
    torch.manual_seed(0)
    model = DTVIN(stencil=gvin.grid_stencil(2, 8), in_channels=4, num_iterations=5)
    out = model(data)
    assert out.log_probs.shape == (data.num_edges,)
    assert torch.isfinite(out.v).all()
    # a batch of terrains, and the geometric path on edge_attr [E, 4]
    from torch_geometric.data import Batch
    other = gvin.from_terrain(gvin.random_terrain((8, 9), 3, relief=1.0), 2.0, goal=(0, 0), max_slope_deg=45)
    batch = Batch.from_data_list([data, other])
    assert batch.cell_size.shape == (2, 2)
    assert model(batch).log_probs.shape == (batch.num_edges,)
    geometric = DTVIN(edge_dim=4, in_channels=4, num_iterations=5)
    assert torch.isfinite(geometric(batch).v).all()


def test_torch_and_integer_elevation():
    h = np.arange(12, dtype=np.int16).reshape(3, 4)
    a = gvin.from_terrain(h, 10.0)
    b = gvin.from_terrain(torch.from_numpy(h.astype(np.float32)), 10.0)
    assert torch.equal(a.move, b.move) and torch.equal(a.edge_weight, b.edge_weight)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"elevation": np.zeros((2, 3, 4))}, ValueError, "elevation"),
    ({"elevation": np.zeros(5)}, ValueError, "elevation"),
    ({"elevation": np.zeros((0, 3))}, ValueError, "elevation"),
    ({"elevation": np.full((3, 3), np.nan)}, ValueError, "elevation"),
    ({"elevation": np.array([[0, np.inf], [0, 0]])}, ValueError, "elevation"),
    ({"elevation": np.zeros((3, 3), dtype=bool)}, TypeError, "elevation"),
    ({"elevation": "hill"}, TypeError, "elevation"),
    ({"cell_size": 0}, ValueError, "cell_size"),
    ({"cell_size": -1.0}, ValueError, "cell_size"),
    ({"cell_size": float("nan")}, ValueError, "cell_size"),
    ({"cell_size": (1.0, float("inf"))}, ValueError, "cell_size"),
    ({"cell_size": (1.0, 2.0, 3.0)}, ValueError, "cell_size"),
    ({"cell_size": True}, ValueError, "cell_size"),
    ({"max_slope_deg": 0}, ValueError, "max_slope_deg"),
    ({"max_slope_deg": 90}, ValueError, "max_slope_deg"),
    ({"max_slope_deg": -5}, ValueError, "max_slope_deg"),
    ({"max_slope_deg": "30"}, ValueError, "max_slope_deg"),
    ({"slope_cost": -1}, ValueError, "slope_cost"),
    ({"connectivity": 6}, ValueError, "connectivity"),
    ({"kernel_size": 4}, ValueError, "kernel_size"),
    ({"wrap": 1}, TypeError, "wrap"),
    ({"goal": (9, 9)}, ValueError, "outside"),
    ({"goal": (1, 1)}, ValueError, "no-data"),
    ({"goal": (0, 3)}, ValueError, "cannot be reached"),
])
def test_bad_input(kwargs, error, match):
    h = np.zeros((4, 4))
    h[1, 1] = np.nan
    h[0, 3] = 50.0  # a spike no move can climb
    args = {"elevation": h, "cell_size": 1.0, **kwargs}
    with pytest.raises(error, match=match):
        gvin.from_terrain(args.pop("elevation"), args.pop("cell_size"), **args)


def test_load_dem_reads_a_users_npy_and_npz(tmp_path):
    heights = np.arange(12.0).reshape(3, 4)
    heights[0, 0] = np.nan
    np.save(tmp_path / "dem.npy", heights)
    np.savez(tmp_path / "dem.npz", elevation=np.nan_to_num(heights).astype(np.int16), other=np.zeros(2))
    np.savez(tmp_path / "one.npz", heights)
    np.testing.assert_array_equal(gvin.load_dem(tmp_path / "dem.npy"), heights)
    assert gvin.load_dem(tmp_path / "dem.npz")[1, 1] == 5.0
    assert gvin.load_dem(tmp_path / "one.npz").shape == (3, 4)
    assert gvin.from_terrain(gvin.load_dem(tmp_path / "dem.npy"), 2.0).num_nodes == 12
    np.savez(tmp_path / "two.npz", a=heights, b=heights)
    (tmp_path / "text.npy").write_text("not numpy")
    np.save(tmp_path / "flat.npy", np.zeros(5))
    for call, error, match in [
        (lambda: gvin.load_dem(tmp_path / "missing.npy"), FileNotFoundError, "no elevation file"),
        (lambda: gvin.load_dem(tmp_path / "two.npz"), ValueError, r"holds arrays \['a', 'b'\]"),
        (lambda: gvin.load_dem(tmp_path / "dem.npz", key="nope"), ValueError, "key="),
        (lambda: gvin.load_dem(tmp_path / "dem.npy", key="elevation"), ValueError, "single array"),
        (lambda: gvin.load_dem(tmp_path / "text.npy"), ValueError, "not a .npy or .npz"),
        (lambda: gvin.load_dem(tmp_path / "flat.npy"), ValueError, "2-D"),
    ]:
        with pytest.raises(error, match=match):
            call()


def test_load_dem_cell_size_of_numpy_files_is_unknown(tmp_path):
    np.save(tmp_path / "dem.npy", np.ones((3, 3)))
    elevation, cell_size = gvin.load_dem(tmp_path / "dem.npy", return_cell_size=True)
    assert elevation.shape == (3, 3) and cell_size is None


def from_origin(west, north, xsize, ysize):
    """A north-up affine transform (rasterio's ``from_origin`` without its deprecated ``*``)."""
    from rasterio import Affine

    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def _write_geotiff(path, heights, crs, transform, nodata=None):
    rasterio = pytest.importorskip("rasterio")
    with rasterio.open(path, "w", driver="GTiff", height=heights.shape[0], width=heights.shape[1], count=1,
                       dtype=heights.dtype, crs=crs, transform=transform, nodata=nodata) as out:
        out.write(heights, 1)


def test_load_dem_reads_a_projected_geotiff(tmp_path):
    rasterio = pytest.importorskip("rasterio")

    heights = np.arange(20, dtype=np.float32).reshape(4, 5) * 3.0
    heights[2, 3] = -9999.0
    _write_geotiff(tmp_path / "utm.tif", heights, "EPSG:32617", from_origin(500000.0, 4060000.0, 30.0, 25.0),
                   nodata=-9999.0)
    elevation = gvin.load_dem(tmp_path / "utm.tif")
    assert isinstance(elevation, np.ndarray) and elevation.dtype == np.float64 and elevation.shape == (4, 5)
    expected = heights.astype(np.float64)
    expected[2, 3] = np.nan
    np.testing.assert_array_equal(elevation, expected)
    same, cell_size = gvin.load_dem(tmp_path / "utm.tif", return_cell_size=True)
    np.testing.assert_array_equal(same, expected)
    assert cell_size == (25.0, 30.0)  # (dy, dx) metres
    # a projected CRS in US survey feet is converted to metres
    _write_geotiff(tmp_path / "feet.TIFF", heights, "EPSG:2264", from_origin(0.0, 0.0, 10.0, 10.0))
    _, (dy, dx) = gvin.load_dem(tmp_path / "feet.TIFF", return_cell_size=True)
    assert dy == pytest.approx(3.0480061) and dx == pytest.approx(3.0480061)
    assert gvin.from_terrain(elevation, cell_size).num_nodes == 20
    assert rasterio  # the extra is installed here


def test_load_dem_geographic_geotiff_cell_size_in_metres(tmp_path):
    pytest.importorskip("rasterio")

    # a 3-arc-second grid whose centre is at 36.7°N, like matplotlib's Jacksboro DEM
    step = 1.0 / 1200.0
    heights = np.full((6, 8), 300, dtype=np.int16)
    _write_geotiff(tmp_path / "geo.tif", heights, "EPSG:4326", from_origin(-84.2, 36.7 + 3 * step, step, step))
    elevation, (dy, dx) = gvin.load_dem(tmp_path / "geo.tif", return_cell_size=True)
    assert (elevation == 300.0).all()
    assert dy == pytest.approx(step * 111_320.0)
    assert dx == pytest.approx(step * 111_320.0 * math.cos(math.radians(36.7)))
    # no CRS: the cell size is unknown
    _write_geotiff(tmp_path / "bare.tif", heights, None, from_origin(100.0, 100.0, 2.0, 2.0))
    assert gvin.load_dem(tmp_path / "bare.tif", return_cell_size=True)[1] is None


def test_load_dem_geotiff_errors(tmp_path):
    pytest.importorskip("rasterio")
    (tmp_path / "junk.tif").write_text("not a tiff")
    with pytest.raises(ValueError, match="not a readable GeoTIFF"):
        gvin.load_dem(tmp_path / "junk.tif")
    with pytest.raises(ValueError, match="band 1"):
        gvin.load_dem(tmp_path / "junk.tif", key="elevation")


def test_load_dem_geotiff_without_rasterio_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "rasterio", None)  # `import rasterio` now raises ImportError
    (tmp_path / "dem.tif").write_bytes(b"II*\x00")
    with pytest.raises(ImportError, match=r"pip install gvin\[geotiff\]"):
        gvin.load_dem(tmp_path / "dem.tif")
    np.save(tmp_path / "dem.npy", np.ones((2, 2)))
    assert gvin.load_dem(tmp_path / "dem.npy").shape == (2, 2)  # .npy / .npz need no extra
