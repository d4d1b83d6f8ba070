import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch

import gvin
from gvin.graphs.grid import grid_free_mask


def random_maze(shape, seed=0, wall_prob=0.3):
    rng = np.random.default_rng(seed)
    maze = (rng.random(shape) > wall_prob).astype(np.float32)
    maze.flat[0] = 1
    return maze


def stencil_apply(data, values, kernel_per_type):
    """sum_{e=(s,s')} K[type(e)] * V[s'] aggregated at the source."""
    src, dst = data.edge_index
    out = torch.zeros(data.num_nodes, dtype=values.dtype)
    return out.index_add_(0, src, kernel_per_type[data.edge_type] * values[dst])


@pytest.mark.parametrize("shape,kernel_size", [((7, 9), 3), ((6, 5), 5), ((4, 5, 6), 3)])
@pytest.mark.parametrize("wrap", [False, True])
def test_kernel_window_equals_conv(shape, kernel_size, wrap):
    """With kernel_size=F the edge set is exactly what an F^d conv kernel reads."""
    if wrap and min(shape) < kernel_size:
        pytest.skip("torus too small for the window")
    maze = random_maze(shape, seed=1)
    data = gvin.from_grid(maze, kernel_size=kernel_size, wrap=wrap,
                          connectivity=8 if len(shape) == 2 else 26)
    stencil = gvin.grid_stencil(len(shape), 8 if len(shape) == 2 else 26, kernel_size)
    assert stencil.shape[0] == kernel_size ** len(shape)
    gen = torch.Generator().manual_seed(0)
    kernel = torch.randn((kernel_size,) * len(shape), generator=gen, dtype=torch.float64)
    values = torch.randn(shape, generator=gen, dtype=torch.float64)
    conv = F.conv2d if len(shape) == 2 else F.conv3d
    pad = kernel_size // 2
    inp = values[None, None]
    if wrap:
        inp = F.pad(inp, (pad,) * (2 * len(shape)), mode="circular")
        expected = conv(inp, kernel[None, None])[0, 0]
    else:
        expected = conv(inp, kernel[None, None], padding=pad)[0, 0]
    got = stencil_apply(data, values.reshape(-1), kernel.reshape(-1))
    torch.testing.assert_close(gvin.to_grid(data, got), expected)


def test_default_stencil_is_moves_plus_self_loop():
    h, w = 5, 6
    data = gvin.from_grid(np.ones((h, w)))
    assert data.num_nodes == h * w
    assert data.num_edges == h * w + 2 * (h * (w - 1) + (h - 1) * w)
    offsets = gvin.grid_stencil(2)
    assert offsets.tolist() == [[-1, 0], [0, -1], [0, 0], [0, 1], [1, 0]]
    # every edge's offset is the displacement of its ends
    src, dst = data.edge_index
    torch.testing.assert_close(data.pos[dst] - data.pos[src], data.edge_attr)
    torch.testing.assert_close(data.edge_attr, offsets[data.edge_type].float())
    self_loop = src == dst
    assert self_loop.sum() == h * w and not data.move[self_loop].any()
    assert data.move[~self_loop].all()


def test_edges_sorted_by_source_then_slot():
    data = gvin.from_grid(random_maze((6, 7)), connectivity=8, kernel_size=5)
    src = data.edge_index[0]
    key = src * 1000 + data.edge_type
    assert torch.equal(key, key.sort().values)
    assert (key[1:] != key[:-1]).all()


@pytest.mark.parametrize("connectivity,ndim", [(4, 2), (8, 2), (6, 3), (18, 3), (26, 3)])
def test_move_mask(connectivity, ndim):
    shape = (6, 7) if ndim == 2 else (4, 5, 4)
    maze = random_maze(shape, seed=connectivity)
    data = gvin.from_grid(maze, connectivity=connectivity, kernel_size=3)
    src, dst = data.edge_index
    free = torch.from_numpy(maze.reshape(-1) > 0)
    offset = data.edge_attr.abs()
    axes = (offset > 0).sum(1)
    legal = {4: 1, 8: 2, 6: 1, 18: 2, 26: 3}[connectivity]
    expected = free[src] & free[dst] & (axes > 0) & (axes <= legal)
    assert torch.equal(data.move, expected)
    assert len(gvin.move_offsets(ndim, connectivity)) == connectivity


def test_free_only_and_to_grid_roundtrip():
    maze = random_maze((8, 9), seed=3)
    full = gvin.from_grid(maze, goal=(0, 0))
    sparse = gvin.from_grid(maze, goal=(0, 0), free_only=True)
    assert sparse.num_nodes == int(maze.sum())
    assert grid_free_mask(sparse).all()
    # edges between free cells only, and the same moves as the full graph
    assert sparse.move.sum() == full.move.sum()
    np.testing.assert_array_equal(gvin.to_grid(full, full.x[:, 0].numpy()), maze)
    back = gvin.to_grid(sparse, torch.ones(sparse.num_nodes), fill=-1.0)
    np.testing.assert_array_equal(back.numpy(), np.where(maze > 0, 1.0, -1.0))
    assert gvin.to_grid(full, full.goal)[0, 0] and gvin.to_grid(full, full.goal).sum() == 1


def test_to_grid_batch_and_feature_dims():
    mazes = [random_maze((5, 6), seed=s) for s in range(3)]
    batch = Batch.from_data_list([gvin.from_grid(m) for m in mazes])
    assert batch.grid_shape.tolist() == [[5, 6]] * 3
    grids = gvin.to_grid(batch, batch.x)
    assert grids.shape == (3, 5, 6, 2)
    np.testing.assert_array_equal(grids[..., 0].numpy(), np.stack(mazes))
    with pytest.raises(ValueError, match="equal grid shapes"):
        gvin.to_grid(Batch.from_data_list([gvin.from_grid(mazes[0]),
                                           gvin.from_grid(np.ones((4, 4)))]),
                     torch.zeros(46))
    with pytest.raises(ValueError, match="one row per node"):
        gvin.to_grid(batch, torch.zeros(7))


def test_inputs_numpy_torch_bool_and_free_value():
    maze = random_maze((5, 5), seed=4)
    a = gvin.from_grid(maze, goal=(0, 0))
    b = gvin.from_grid(torch.from_numpy(maze), goal=torch.tensor([0, 0]))
    c = gvin.from_grid(maze.astype(bool), goal=0)
    d = gvin.from_grid(1 - maze.astype(np.int64), goal=(0, 0), free_value=0)
    mask = np.zeros_like(maze, dtype=bool)
    mask[0, 0] = True
    e = gvin.from_grid(maze, goal=mask)
    for other in (b, c, d, e):
        for key in ("x", "edge_index", "edge_type", "move", "goal"):
            assert torch.equal(a[key], other[key]), key


def test_torus_neighbours_wrap():
    data = gvin.from_grid(np.ones((4, 5)), wrap=True)
    assert data.num_edges == 4 * 5 * 5
    src, dst = data.edge_index
    corner = (src == 0) & (data.edge_type == 0)  # row-1 from (0,0) → (3,0)
    assert dst[corner].item() == 3 * 5
    assert torch.equal(data.edge_attr[corner], torch.tensor([[-1.0, 0.0]]))


def test_multiple_goals_and_batches():
    maze = np.ones((4, 4))
    goals = np.zeros((4, 4), dtype=bool)
    goals[0, 0] = goals[3, 3] = True
    data = gvin.from_grid(maze, goal=goals)
    assert data.goal.sum() == 2 and data.x[:, 1].sum() == 2
    batch = Batch.from_data_list([data, gvin.from_grid(maze, goal=5)])
    assert batch.edge_index.max() < batch.num_nodes
    assert batch.goal.sum() == 3


@pytest.mark.parametrize(
    "maze,kwargs,error,match",
    [
        (np.ones(5), {}, ValueError, "rank 1"),
        (np.ones((2, 2, 2, 2)), {}, ValueError, "rank 4"),
        (np.array([[1.0, np.nan], [1, 1]]), {}, ValueError, "NaN"),
        (np.array([[1, 2], [1, 1]]), {}, ValueError, "binary"),
        (np.zeros((3, 3)), {}, ValueError, "no free cell"),
        (np.zeros((0, 3)), {}, ValueError, "empty"),
        (np.array([["a", "b"]]), {}, TypeError, "dtype"),
        ("maze", {}, TypeError, "numpy array or torch tensor"),
        (np.ones((3, 3)), {"goal": (5, 0)}, ValueError, "outside the grid"),
        (np.ones((3, 3)), {"goal": 9}, ValueError, "out of range"),
        (np.ones((3, 3)), {"goal": (1, 1, 1)}, ValueError, "goal must be"),
        (np.ones((3, 3)), {"goal": 1.5}, TypeError, "integer"),
        (np.eye(3), {"goal": (0, 1)}, ValueError, "on a wall"),
        (np.ones((3, 3)), {"goal": np.zeros((3, 3))}, ValueError, "marks no cell"),
        (np.ones((3, 3)), {"connectivity": 6}, ValueError, "connectivity=6"),
        (np.ones((3, 3)), {"kernel_size": 4}, ValueError, "odd integer"),
        (np.ones((3, 3)), {"kernel_size": 5, "wrap": True}, ValueError, "wrap=True"),
        (np.ones((3, 3)), {"free_value": 2}, ValueError, "free_value"),
    ],
)
def test_bad_input(maze, kwargs, error, match):
    with pytest.raises(error, match=match):
        gvin.from_grid(maze, **kwargs)


def test_to_grid_needs_grid_graph():
    from torch_geometric.data import Data

    with pytest.raises(ValueError, match="from_grid"):
        gvin.to_grid(Data(num_nodes=3), torch.zeros(3))
