"""The researcher's workflow from Python: load a trained planner, read a map file, plan on it, plot."""
import matplotlib

matplotlib.use("Agg")  # the tests' backend; gvin.viz itself never chooses one

import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import gvin  # noqa: E402
from gvin import viz  # noqa: E402
from gvin.datasets import MazeDataset  # noqa: E402
from gvin.models import DTVIN  # noqa: E402
from gvin.rollout import plan_path  # noqa: E402
from gvin.train import TrainConfig, Trainer  # noqa: E402

MAZE = np.array([
    [1, 1, 1, 1, 1, 1],
    [1, 0, 0, 0, 0, 1],
    [1, 1, 1, 1, 0, 1],
    [0, 0, 0, 1, 0, 1],
    [1, 1, 1, 1, 0, 1],
], dtype=bool)
RECORD = {"kind": "gppn", "size": 7, "counts": [16, 8, 0], "data_seed": 0, "connectivity": 4, "kernel_size": 3}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A DT-VIN trained two epochs on 7x7 mazes with a 3x3 stencil and 4 moves."""
    root = tmp_path_factory.mktemp("workflow")
    options = dict(kind="gppn", size=7, counts=(16, 8, 0), kernel_size=3, connectivity=4, log=False)
    train, valid = MazeDataset(root, split="train", **options), MazeDataset(root, split="valid", **options)
    kwargs = dict(stencil=gvin.grid_stencil(2, 4, 3).tolist(), hidden_channels=8, num_iterations=8)
    config = TrainConfig(model="dtvin", model_kwargs=kwargs, epochs=2, batch_size=8, seed=1, data=RECORD)
    trainer = Trainer(config, checkpoint=root / "checkpoint.pt")
    trainer.fit(train, valid, progress=False)
    return root / "checkpoint.pt", trainer


# ----------------------------------------------------------------------------- load_planner
def test_load_planner_returns_the_model_and_its_settings(checkpoint):
    path, trainer = checkpoint
    planner = gvin.load_planner(path)
    assert isinstance(planner, gvin.TrainedPlanner) and isinstance(planner.model, DTVIN)
    assert not planner.model.training
    assert planner.name == "dtvin" and planner.config["model_kwargs"]["hidden_channels"] == 8
    assert planner.data == RECORD and planner.epoch == 2 and planner.path == path
    assert [r["loss"] for r in planner.history] == [r["loss"] for r in trainer.history]
    assert {"valid_optimal", "valid_success"} <= set(planner.history[-1])
    for name, weight in trainer.model.state_dict().items():
        assert torch.equal(planner.model.state_dict()[name], weight), name
    assert "TrainedPlanner(dtvin, K=8, the 3×3 window" in repr(planner)


def test_load_planner_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        gvin.load_planner(tmp_path / "missing.pt")
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="damaged or not a gvin checkpoint"):
        gvin.load_planner(tmp_path / "notes.pt")


def test_trained_planner_plans_with_its_recorded_connectivity(checkpoint):
    planner = gvin.load_planner(checkpoint[0])
    result = planner.plan(MAZE, (4, 0), (0, 0))  # a 3x3 window fits 4 and 8 moves: the record says 4
    assert result.graph.move.sum() == gvin.from_grid(MAZE, connectivity=4).move.sum()
    assert result.optimal_length == 10
    with pytest.raises(ValueError, match="fits connectivity 4 and 8: pass connectivity="):
        gvin.plan_on_map(planner.model, MAZE, (4, 0), (0, 0))


# ----------------------------------------------------------------------------- read_map
def test_read_npy_any_nonzero_is_free(tmp_path):
    for array in (MAZE, MAZE.astype(np.uint8), MAZE * 2.5):
        np.save(tmp_path / "map.npy", array)
        grid = gvin.read_map(tmp_path / "map.npy")
        assert grid.free.dtype == bool and (grid.free == MAZE).all()
        assert grid.start is None and grid.goal is None and (np.asarray(grid) == MAZE).all()


def test_read_txt_with_marks_and_render_ascii_output(tmp_path):
    (tmp_path / "map.txt").write_text("\n######\n#S..G#\n#.##.#\n######\n\n")
    grid = gvin.read_map(tmp_path / "map.txt")
    assert grid.shape == (4, 6) and grid.start == (1, 1) and grid.goal == (1, 4)
    assert grid.free.sum() == 6 and not grid.free[2, 2]
    drawn = viz.render_ascii(MAZE, goal=(0, 0), path=[(4, 0), (4, 1)], start=(4, 0))  # spaces, '*'
    (tmp_path / "drawn.txt").write_text(drawn)
    grid = gvin.read_map(tmp_path / "drawn.txt")
    assert (grid.free == MAZE).all() and grid.start == (4, 0) and grid.goal == (0, 0)


def test_read_png_dark_is_wall(tmp_path):
    grey = np.where(MAZE, 0.9, 0.1)
    matplotlib.image.imsave(tmp_path / "grey.png", grey, cmap="gray", vmin=0, vmax=1)
    assert (gvin.read_map(tmp_path / "grey.png").free == MAZE).all()
    rgba = np.zeros(MAZE.shape + (4,))
    rgba[..., 3] = 1.0
    rgba[MAZE, :3] = 1.0
    rgba[0, 0] = (0.0, 0.0, 0.0, 0.0)  # transparent: the white paper, free
    matplotlib.image.imsave(tmp_path / "rgba.png", rgba)
    assert (gvin.read_map(tmp_path / "rgba.png").free == MAZE).all()


@pytest.mark.parametrize("name, content, error, match", [
    ("map.csv", "1,0", ValueError, r"unknown extension '\.csv'; expected one of \.npy, \.txt, \.png"),
    ("ragged.txt", "###\n#.\n", ValueError, r"ragged rows: line 2 has 2 cells, line 1 has 3"),
    ("char.txt", "###\n#x#\n", ValueError, r"unknown character 'x' at line 2, column 2 \(row 1, col 1\)"),
    ("empty.txt", "\n\n", ValueError, r"is empty"),
    ("walls.txt", "##\n##\n", ValueError, r"has no free cell"),
    ("two.txt", "S.S\n", ValueError, r"marks 2 start cells 'S' at \(row, col\) \(0, 0\), \(0, 2\)"),
    ("cube.npy", np.ones((2, 3, 3)), ValueError, r"must be a 2-D \[H, W\] array, got shape \(2, 3, 3\)"),
    ("zeros.npy", np.zeros((3, 3)), ValueError, r"has no free cell"),
    ("bad.png", "not an image", ValueError, r"is not a readable PNG image"),
])
def test_read_map_errors(tmp_path, name, content, error, match):
    path = tmp_path / name
    np.save(path, content) if isinstance(content, np.ndarray) else path.write_text(content)
    with pytest.raises(error, match=match):
        gvin.read_map(path)


def test_read_map_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no map file at"):
        gvin.read_map(tmp_path / "absent.txt")
    with pytest.raises(ValueError, match="is a folder; expected a map file"):
        gvin.read_map(tmp_path)


# ----------------------------------------------------------------------------- plan_on_map
def test_plan_on_map_equals_plan_path_and_the_exact_planner():
    torch.manual_seed(0)
    model = DTVIN(stencil=gvin.grid_stencil(2, 8), hidden_channels=4, num_iterations=12)
    start, goal = (4, 0), (0, 0)
    result = gvin.plan_on_map(model, MAZE, start, goal, connectivity=8, depth=15)
    data = gvin.from_grid(MAZE, goal=goal, connectivity=8)
    node = start[0] * MAZE.shape[1] + start[1]
    reference = plan_path(model, data, node, num_iterations=15)
    cells = lambda nodes: [tuple(int(c) for c in data.pos[n].tolist()) for n in nodes]  # noqa: E731
    assert result.planned == cells(reference.planned) and result.optimal == cells(reference.optimal)
    assert result.reached == reference.reached
    assert result.optimal_length == float(gvin.shortest_path_distances(data)[node]) == 7
    values = gvin.to_grid(data, reference.values.double()).numpy()
    assert np.isnan(result.values[~MAZE]).all() and np.array_equal(result.values[MAZE], values[MAZE])
    assert result.is_optimal == (result.reached and len(result.planned) == 8)


def test_plan_on_map_takes_a_grid_map_with_marks_and_infers_four_moves():
    model = DTVIN(stencil=gvin.grid_stencil(2, 4), hidden_channels=4, num_iterations=5)
    result = gvin.plan_on_map(model, gvin.GridMap(MAZE, start=(4, 0), goal=(4, 3)))
    assert result.start == (4, 0) and result.goal == (4, 3) and result.optimal_length == 3
    assert result.values.shape == MAZE.shape
    walled = MAZE.copy()
    walled[0, 4] = walled[1, 5] = False  # (0, 5) cut off
    unreachable = gvin.plan_on_map(model, walled, (4, 0), (0, 5))
    assert unreachable.optimal == [] and unreachable.optimal_length == np.inf and not unreachable.reached
    assert "shortest path inf" in repr(unreachable)


@pytest.mark.parametrize("model, kwargs, error, match", [
    ("4", dict(start=(3, 0)), ValueError, r"start \(3, 0\) is on a wall"),
    ("4", dict(goal=(5, 0)), ValueError, r"goal \(5, 0\) is outside"),
    ("4", dict(start=None), ValueError, r"give the start cell"),
    ("4", dict(connectivity=8), ValueError, r"connectivity=8 does not fit the planner's stencil"),
    ("geometric", {}, ValueError, r"geometric planner \(edge_dim=2\)"),
    ("3d", {}, ValueError, r"stencil is 3-D"),
    ("terrain", {}, ValueError, r"reads 4 node features"),
    ("module", {}, TypeError, r"must be a gvin planner"),
])
def test_plan_on_map_errors(model, kwargs, error, match):
    models = {
        "4": lambda: DTVIN(stencil=gvin.grid_stencil(2, 4), num_iterations=3),
        "geometric": lambda: DTVIN(in_channels=1, edge_dim=2, num_iterations=3),
        "3d": lambda: DTVIN(stencil=gvin.grid_stencil(3, 6), num_iterations=3),
        "terrain": lambda: DTVIN(in_channels=4, stencil=gvin.grid_stencil(2, 8), num_iterations=3),
        "module": lambda: torch.nn.Linear(2, 2),
    }
    arguments = {"start": (4, 0), "goal": (0, 0), **kwargs}
    with pytest.raises(error, match=match):
        gvin.plan_on_map(models[model](), MAZE, **arguments)


# ----------------------------------------------------------------------------- plots
def test_plot_values_and_path(tmp_path):
    values = np.where(MAZE, -np.arange(MAZE.size).reshape(MAZE.shape), np.nan)
    ax = viz.plot_values(MAZE, values)
    assert len(ax.images) == 2 and len(ax.figure.axes) == 2  # values, walls; the colour bar
    assert viz.plot_path(MAZE, [(4, 0), (4, 1), (4, 2)], ax=ax, goal=(0, 0)) is ax
    assert len(ax.lines) == 3  # path, start square, goal star
    path_line = ax.lines[0]
    assert list(path_line.get_xdata()) == [0, 1, 2] and list(path_line.get_ydata()) == [4, 4, 4]  # (col, row)
    torus = viz.plot_path(np.ones((5, 6)), [(2, 4), (2, 5), (2, 0), (2, 1)])  # wraps across the column seam
    xs = torus.lines[0].get_xdata()
    assert list(xs[:2]) == [4, 5] and np.isnan(xs[2]) and list(xs[3:]) == [0, 1]  # no line across the map
    fresh = viz.plot_path(MAZE, [(4, 0), (4, 1)], colour="tab:green")
    assert fresh is not ax and len(fresh.images) == 2 and len(fresh.lines) == 2
    ax.figure.savefig(tmp_path / "values.png")
    picture = plt.imread(tmp_path / "values.png")
    assert picture.shape[0] > 100 and picture.shape[1] > 100 and picture[..., :3].std() > 0.05  # not blank
    with pytest.raises(ValueError, match="values must have the map's shape"):
        viz.plot_values(MAZE, np.zeros((2, 2)))
    with pytest.raises(TypeError, match="ax must be Matplotlib Axes"):
        viz.plot_map(MAZE, ax="left")


def test_plot_learning_curve(checkpoint, tmp_path):
    planner = gvin.load_planner(checkpoint[0])
    ax = viz.plot_learning_curve(planner)  # or planner.history
    assert len(ax.lines) == 1 and len(ax.figure.axes) == 2
    assert [len(a.lines) for a in ax.figure.axes] == [1, 2]
    ax.figure.savefig(tmp_path / "curve.png")
    _, given = plt.subplots()
    assert viz.plot_learning_curve([{"loss": 2.0}, {"loss": 1.0}], ax=given) is given
    assert len(given.figure.axes) == 1
    with pytest.raises(ValueError, match="history is empty"):
        viz.plot_learning_curve([])
    with pytest.raises(ValueError, match=r"history\[0\] must be a dict with a 'loss'"):
        viz.plot_learning_curve([{"epoch": 1}])


def test_plot_roadmap_and_arm(tmp_path):
    obstacles = [gvin.Circle((0.8, 0.6), 0.3), gvin.Box((-1.5, -1.5), (-0.8, -0.6))]
    roadmap = gvin.probabilistic_roadmap(obstacles, 30, k=4, goal=(1.5, 1.5), rng=0)
    ax = viz.plot_roadmap(roadmap, path=[0, 1], obstacles=obstacles)
    assert len(ax.patches) == 2 and len(ax.lines) == 1 and len(ax.collections) == 3  # links, nodes, goal
    ax.figure.savefig(tmp_path / "roadmap.png")
    arm = gvin.Arm()
    ax = viz.plot_arm(arm, (0.3, 0.5), obstacles)
    assert len(ax.patches) == 2 and len(ax.lines) == 1
    assert np.allclose(ax.lines[0].get_xydata()[-1], arm.forward_kinematics(0.3, 0.5)[1])
    ax = viz.plot_arm(arm, np.array([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]]), obstacles)
    assert len(ax.lines) == 4  # three configurations and the effector's trace
    ax.figure.savefig(tmp_path / "arm.png")
    with pytest.raises(ValueError, match=r"angles must be \(θ1, θ2\)"):
        viz.plot_arm(arm, [1.0, 2.0, 3.0])


def test_plot_plan_writes_without_choosing_a_backend(tmp_path, monkeypatch):
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: pytest.fail("gvin.viz called matplotlib.use"))
    result = gvin.plan_on_map(DTVIN(stencil=gvin.grid_stencil(2, 4), num_iterations=4), MAZE, (4, 0), (0, 0))
    written = viz.plot_plan(MAZE, result.values, result.planned, result.optimal, result.goal, tmp_path / "p.png")
    assert written.stat().st_size > 0
    viz.plot_values(MAZE, result.values)
