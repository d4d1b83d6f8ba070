"""The world registry (gvin.datasets.worlds): one description per world, shared by the command and Python."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from gvin.datasets import WORLDS, World, check_record, data_identity, get_world, world_of
from gvin.datasets.worlds import DEFAULT_WORLD, GENERATED, SETTING_CHECKS
from gvin.graphs.grid import grid_stencil
from gvin.models import DTVIN

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny graphs: one thread is fastest

TINY = {"maze": 5, "maze3d": 5, "terrain": 6, "cspace": 5, "roadmap": 12, "streets": 20}
"""A small ``size`` of every world."""



def tiny_spec(name: str) -> dict:
    world = WORLDS[name]
    spec = {**world.default_settings(), "size": TINY[name], "counts": [2, 1, 1]}
    return data_identity({**spec, "world": name})


def test_the_registry_lists_every_world_in_order():
    assert tuple(WORLDS) == ("maze", "maze3d", "terrain", "cspace", "roadmap", "streets") and DEFAULT_WORLD == "maze"
    for name, world in WORLDS.items():
        assert isinstance(world, World) and world.name == name and world.help and world.title
        assert set(world.settings) <= set(SETTING_CHECKS) | set(world.checks)
        assert all(world.check(key)(value) for key, value in world.settings.items()), name
        if world.connectivity:
            assert world.settings["connectivity"] in world.connectivity
        else:
            assert "connectivity" not in world.settings
        assert world.grid == (world.edge_dim is None)
    with pytest.raises(TypeError):
        WORLDS["maze"].settings["size"] = 99  # read-only
    copy = WORLDS["maze"].default_settings()
    copy["counts"].append(1)
    assert WORLDS["maze"].settings["counts"] == [2000, 200, 500]


def test_defaults_are_the_ones_the_command_had():
    assert WORLDS["maze"].settings == {"kind": "gppn", "size": 11, "counts": [2000, 200, 500], "data_seed": 0,
                                       "connectivity": 4}
    assert WORLDS["maze3d"].settings["connectivity"] == 6 and WORLDS["maze3d"].connectivity == (6, 18, 26)
    assert WORLDS["terrain"].settings == {"terrain_source": "jacksboro", "size": 32, "counts": [200, 50, 50],
                                          "data_seed": 0, "max_slope": 20.0, "connectivity": 8}
    assert WORLDS["cspace"].settings == {"size": 18, "counts": [2000, 200, 500], "data_seed": 0, "connectivity": 8,
                                         "goal_mode": "angles"}
    assert WORLDS["roadmap"].settings == {"size": 100, "counts": [2000, 200, 500], "data_seed": 0, "neighbours": 8,
                                          "self_loops": True}
    assert [name for name, world in WORLDS.items() if world.cached] == ["maze", "maze3d"]
    assert [name for name, world in WORLDS.items() if world.files] == ["maze"]


def test_the_command_takes_its_worlds_from_the_registry():
    from gvin import cli

    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    world = next(action for action in train._actions if action.dest == "world")
    assert tuple(world.choices) == tuple(WORLDS)
    assert all(name in world.help for name in WORLDS)
    from gvin.train import run_data

    assert run_data.data_identity is data_identity and run_data.world_of is world_of


@pytest.mark.parametrize("name", list(WORLDS))
def test_every_world_loads_a_tiny_split_a_planner_reads(name, tmp_path):
    if name == "streets":
        pytest.importorskip("pyrosm", reason="the streets world needs gvin[osm]")
    world = WORLDS[name]
    spec = tiny_spec(name)
    dataset = world.load(spec, tmp_path / "data", "train")
    assert len(dataset) == 2
    data = dataset[0]
    for key in ("dist", "optimal", "goal", "move"):
        assert getattr(data, key, None) is not None, key
    assert data.x.shape[1] == world.in_channels
    kwargs = world.planner_kwargs(spec)
    if world.grid:
        assert kwargs["stencil"] == torch.as_tensor(data.stencil).tolist() and "edge_dim" not in kwargs
    else:
        assert kwargs == {"edge_dim": world.edge_dim} and data.edge_attr.shape[1] == world.edge_dim
        assert world.stencil(spec) is None
    assert kwargs.get("in_channels", 2) == world.in_channels
    model = DTVIN(**kwargs, hidden_channels=4, num_iterations=3)
    out = model(data)
    assert out.log_probs.shape == (data.edge_index.shape[1],)
    assert 1 <= world.side(data) <= TINY[name]
    nodes, edges = world.footprint(spec)
    assert nodes >= data.num_nodes and edges >= data.edge_index.shape[1] // 2
    assert world.describe(spec).startswith(world.noun + "s of ")


def test_stencils_and_inputs():
    maze3d = WORLDS["maze3d"]
    assert maze3d.stencil({"connectivity": 26}) == grid_stencil(3, 26).tolist()
    assert WORLDS["maze"].stencil({"connectivity": 8}, kernel_size=5) == grid_stencil(2, 8, 5).tolist()
    assert WORLDS["terrain"].planner_kwargs({"connectivity": 8})["in_channels"] == 4
    assert "in_channels" not in WORLDS["maze"].planner_kwargs({"connectivity": 4})  # as runs recorded it
    assert WORLDS["roadmap"].planner_kwargs({}) == {"edge_dim": 3}
    assert WORLDS["maze"].describe({"size": 7}) == "mazes of 7x7"
    assert WORLDS["maze3d"].describe({"size": 4}) == "mazes of 4x4x4"
    assert WORLDS["roadmap"].describe({"size": 50}) == "roadmaps of 50 samples"


def test_world_of_and_identity():
    assert world_of({}) == "maze" and world_of({"world": None}) == "maze" and world_of({"world": "cspace"}) == "cspace"
    assert get_world("roadmap") is WORLDS["roadmap"] and get_world({"kind": "gppn"}) is WORLDS["maze"]
    with pytest.raises(ValueError, match="unknown world 'mars'; expected one of maze, maze3d, terrain, cspace"):
        get_world("mars")
    maze = {"kind": "gppn", "size": 7, "counts": [1, 1, 1], "data_seed": 0, "connectivity": 4, "root": "/x"}
    assert data_identity(maze) == {key: maze[key] for key in (*GENERATED, "connectivity")}  # no "world" for mazes
    assert data_identity({"npz": "/m.npz", "connectivity": 8, "size": 3}) == {"npz": "/m.npz", "connectivity": 8}
    roadmap = data_identity({"world": "roadmap", "size": 30, "counts": [1, 1, 1], "data_seed": 2, "neighbours": 5,
                             "connectivity": 4})
    assert roadmap == {"world": "roadmap", "size": 30, "counts": [1, 1, 1], "data_seed": 2, "neighbours": 5}


def test_saved_records_are_checked():
    for name in WORLDS:
        record = {**tiny_spec(name), "kernel_size": 3}
        assert check_record(record, "run.json") is record
    old = {"kind": "gppn", "size": 11, "counts": [2000, 200, 500], "data_seed": 0, "connectivity": 4,
           "kernel_size": 5}
    assert check_record(old, "old.pt") is old  # a maze record from before worlds: no "world"
    assert check_record({"npz": "/m.npz", "connectivity": 4, "kernel_size": 3}, "f")
    bad = [
        ("a string", "f holds a broken data record (a str, not a mapping)"),
        ({**old, "world": "mars"}, "(missing or bad: world); fix or delete it"),
        ({**old, "world": ["maze"]}, "(missing or bad: world)"),
        ({**old, "size": "big"}, "(missing or bad: size)"),
        ({"kind": "gppn", "connectivity": 4, "kernel_size": 3}, "(missing or bad: size, counts, data_seed)"),
        ({**old, "kernel_size": 4}, "(missing or bad: kernel_size)"),
        ({**old, "connectivity": 6}, "(missing or bad: connectivity)"),  # a 3-D connectivity on a 2-D maze
        ({**tiny_spec("roadmap"), "neighbours": 0, "kernel_size": 3}, "(missing or bad: neighbours)"),
        ({**tiny_spec("terrain"), "max_slope": float("nan"), "kernel_size": 3}, "(missing or bad: max_slope)"),
    ]
    for record, message in bad:
        with pytest.raises(ValueError) as error:
            check_record(record, "f")
        assert message in str(error.value), (record, str(error.value))


def test_the_registry_imports_point_down():
    code = ("import sys, gvin.datasets.worlds; "
            "print(sorted(m for m in sys.modules if m.startswith(('gvin.cli', 'gvin.train', 'gvin.models'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_setting_added_later_keeps_older_records_identity():
    """C-space records saved before goal_mode existed mean goal_mode='angles' and keep their identity."""
    old = {"world": "cspace", "size": 18, "counts": [2000, 200, 500], "data_seed": 0, "connectivity": 8}
    assert check_record({**old, "kernel_size": 3}, "run.json")["size"] == 18
    assert data_identity({**old, "goal_mode": "angles"}) == data_identity(old) == old
    point = data_identity({**old, "goal_mode": "point"})
    assert point == {**old, "goal_mode": "point"} and check_record({**point, "kernel_size": 3}, "x") == {**point, "kernel_size": 3}
    with pytest.raises(ValueError, match="missing or bad: goal_mode"):
        check_record({**old, "goal_mode": "elbow", "kernel_size": 3}, "run.json")


def test_cspace_goal_points_through_the_registry():
    spec = data_identity({**tiny_spec("cspace"), "size": 12, "goal_mode": "point"})
    item = WORLDS["cspace"].load(spec, None, "train")[0]
    assert item.goal_point.shape == (1, 2) and int(item.goal.sum()) >= 1
    assert not hasattr(WORLDS["cspace"].load(tiny_spec("cspace"), None, "train")[0], "goal_point")
