"""A run's pictures: the learning curve, and one planned item told and drawn."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gvin.train.run_files import Log, emit
from gvin.train.solves import SolveLog, solve_line


@dataclass
class PlannedExample:
    """One planned item: the rollout (:class:`gvin.rollout.PlannedPath` or :class:`gvin.rollout.MapPlan`),
    the lines told about it and the picture written (``None``: not drawn)."""

    result: Any
    lines: list[str] = field(default_factory=list)
    png: Path | None = None


def plot_learning_curve_file(history: list[dict[str, float]], path: Path) -> Path:
    """The run's loss and validation rates per epoch, drawn without pyplot (no backend is chosen)."""
    from matplotlib.figure import Figure

    from gvin.viz import plot_learning_curve, save_figure

    figure = Figure(figsize=(6.0, 3.5))
    plot_learning_curve(history, ax=figure.subplots())
    return save_figure(figure, path)


def plan_example(model: Any, dataset: Any, index: int, png: Path, depth: int | None = None, noun: str = "maze",
                 log: Log = print) -> PlannedExample:
    """Plan from the farthest cell of one item and tell how it went; draw it for 2-D grids."""
    from gvin.graphs.grid import to_grid
    from gvin.rollout import plan_path
    from gvin.viz import plot_plan, render_ascii

    data = dataset[index]
    dist = data.dist
    start = int(torch.where(torch.isfinite(dist), dist, torch.tensor(-1.0)).argmax())  # the farthest cell
    with SolveLog(model) as solves:
        result = plan_path(model, data, start, num_iterations=depth)
    example = PlannedExample(result)

    def tell(line: str) -> None:
        example.lines.append(line)
        emit(log, line)

    cells = lambda nodes: [tuple(int(c) for c in data.pos[n].tolist()) for n in nodes]  # noqa: E731
    status = "reached the goal" if result.reached else "failed"
    if solves.implicit:
        limit = depth if depth is not None else (model.fixed_point.f_max_iter or model.num_iterations)
        layers, solved = f"K={limit} solver steps at most", [info.forward for info in solves.infos if info.forward]
    else:
        layers, solved = f"K={depth if depth is not None else model.num_iterations} layers", []
    tell(f"{noun} {index}, {layers}: policy {status} in {len(result.planned) - 1} moves; "
         f"shortest path {len(result.optimal) - 1}" + "".join(f"; {solve_line(info)}" for info in solved))
    if getattr(data, "grid_shape", None) is None:
        tell(f"no picture: the planned path is on a graph without a grid ({data.num_nodes} nodes); "
             "pictures are drawn for 2-D grids only")
        return example
    if len(tuple(data.grid_shape.view(-1).tolist())) != 2:
        tell(f"no picture: the planned path is on a {'x'.join(map(str, data.grid_shape.view(-1).tolist()))} "
             "3-D grid; pictures are drawn for 2-D grids only")
        return example
    maze = to_grid(data, data.x[:, 0]).numpy()
    goal = cells([int(data.goal.nonzero()[0])])[0]
    values = to_grid(data, result.values).numpy()
    tell(render_ascii(maze, goal=goal, path=cells(result.planned), start=cells([start])[0]))
    example.png = plot_plan(maze, values, cells(result.planned), cells(result.optimal), goal, png,
                            title=f"maze {index}: planned {len(result.planned) - 1} moves ({status}), "
                                  f"optimal {len(result.optimal) - 1}")
    return example
