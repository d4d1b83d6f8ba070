"""Maze generators, the GPPN ``.npz`` format and PyG datasets of planning graphs."""
from gvin.datasets.generators import (
    KINDS,
    SPLITS,
    MazeBatch,
    decimate,
    dfs_mazes,
    generate_mazes,
    generate_splits,
    gppn_mazes,
    random_gridworlds,
    sample_goals,
)
from gvin.datasets.base import PlanningDataset
from gvin.datasets.cspace import CSpaceDataset
from gvin.datasets.gppn import (
    GPPNSplit,
    gppn_label_errors,
    gppn_policy,
    load_gppn_npz,
    save_gppn_npz,
    write_gppn_dataset,
)
from gvin.datasets.maze_dataset import GPPNDataset, GridGraphBuilder, GridMazeDataset, Maze3DDataset, MazeDataset
from gvin.datasets.roadmap import RoadmapDataset, label_roadmap
from gvin.datasets.streets import StreetDataset
from gvin.datasets.terrain import TerrainDataset, label_terrain, start_goal_pairs
from gvin.datasets.worlds import (
    WORLDS,
    World,
    check_record,
    data_identity,
    get_world,
    register_world,
    unregister_world,
    world_of,
)

__all__ = [
    "KINDS",
    "SPLITS",
    "MazeBatch",
    "dfs_mazes",
    "decimate",
    "gppn_mazes",
    "random_gridworlds",
    "sample_goals",
    "generate_mazes",
    "generate_splits",
    "GPPNSplit",
    "load_gppn_npz",
    "save_gppn_npz",
    "gppn_policy",
    "gppn_label_errors",
    "write_gppn_dataset",
    "GridGraphBuilder",
    "GridMazeDataset",
    "PlanningDataset",
    "MazeDataset",
    "Maze3DDataset",
    "GPPNDataset",
    "TerrainDataset",
    "CSpaceDataset",
    "RoadmapDataset",
    "StreetDataset",
    "label_roadmap",
    "World",
    "WORLDS",
    "register_world",
    "unregister_world",
    "world_of",
    "get_world",
    "data_identity",
    "check_record",
    "label_terrain",
    "start_goal_pairs",
]
