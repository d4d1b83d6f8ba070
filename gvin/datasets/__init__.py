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
from gvin.datasets.cspace import CSpaceDataset
from gvin.datasets.gppn import (
    GPPNSplit,
    gppn_label_errors,
    gppn_policy,
    load_gppn_npz,
    save_gppn_npz,
    write_gppn_dataset,
)
from gvin.datasets.maze_dataset import GPPNDataset, GridGraphBuilder, GridMazeDataset, MazeDataset
from gvin.datasets.terrain import TerrainDataset, label_terrain, start_goal_pairs

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
    "MazeDataset",
    "GPPNDataset",
    "TerrainDataset",
    "CSpaceDataset",
    "label_terrain",
    "start_goal_pairs",
]
