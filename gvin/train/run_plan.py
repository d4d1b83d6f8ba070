"""``gvin plan`` from Python: plan with a trained checkpoint on an item of its data, or on a 2-D map
of the user's; told and drawn."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gvin.train.run import CheckpointSettings, load_evaluation_split, plan_depth
from gvin.train.run_data import data_options
from gvin.train.run_files import Log, RunError, check_picture, emit, listed, option
from gvin.train.run_pictures import PlannedExample, plan_example
from gvin.train.solves import SolveLog, solve_line


@dataclass
class PlanSettings(CheckpointSettings):
    """Settings of ``gvin plan``: an item of the data (``split``, ``index``), or a map file of the
    user's (``map``, with ``start`` and ``goal`` cells or the ones it marks)."""

    index: int | None = None
    map: Path | str | None = None
    start: tuple[int, int] | list[int] | None = None
    goal: tuple[int, int] | list[int] | None = None
    png: Path | str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("map", "png"):
            if getattr(self, name) is not None:
                setattr(self, name, Path(getattr(self, name)))


def plan_run(settings: PlanSettings | Path | str, log: Log = print, **options: Any) -> PlannedExample:
    """Plan with a trained checkpoint, as ``gvin plan`` does: an item of the data from its farthest
    cell, or (``map=``) the user's own map; tells the plan and draws it."""
    if not isinstance(settings, PlanSettings):
        settings = PlanSettings(checkpoint=settings, **options)
    if settings.map is not None:
        given = [option(key) for key in data_options() if getattr(settings, key, None) is not None]
        given += [name for name, value in (("--root", settings.root), ("--split", settings.split),
                                           ("--index", settings.index)) if value is not None]
        if given:
            raise RunError(f"{', '.join(given)}: choose a maze of the data; --map {settings.map} plans on "
                           "your own map instead (give one or the other)")
        return plan_map_file(settings, log)
    given = [name for name, value in (("--start", settings.start), ("--goal", settings.goal)) if value is not None]
    if given:
        raise RunError(f"{' and '.join(given)}: cells of your own map; give the map with --map FILE "
                       "(without --map, plan plans the data's --index maze from its farthest cell)")
    split, index = settings.split or "test", settings.index or 0
    png = settings.png or settings.checkpoint.parent / f"plan_{split}_{index}.png"
    check_picture(png)
    model, dataset, _, world = load_evaluation_split(settings, log)
    if index >= len(dataset):
        raise RunError(f"--index {index} is out of range: the {split} split has {len(dataset)} "
                       f"{world.noun}s (0 to {len(dataset) - 1})")
    example = plan_example(model, dataset, index, png, settings.depth, world.noun, log)
    if example.png is not None:
        emit(log, f"wrote {example.png}")
    return example


def _map_cell(cell: Any, grid: Any, name: str, path: Path) -> tuple[int, int]:
    """``start`` / ``goal``, else the cell the map marks; a cell off the map or on a wall is an error."""
    from gvin.maps import free_cell

    mark = "S" if name == "start" else "G"
    if cell is None:
        marked = getattr(grid, name)
        if marked is None:
            raise RunError(f"--map {path}: the map marks no {name} cell ({mark}); give --{name} ROW COL "
                           f"(or draw {mark} on a free cell of a .txt map)")
        return marked
    try:
        return free_cell(tuple(cell), grid.free, f"--{name}")
    except ValueError as error:
        raise RunError(f"{error} (the map {path} is {grid.free.shape[0]}x{grid.free.shape[1]}, rows and "
                       "columns counted from 0)") from None


def plan_map_file(settings: PlanSettings, log: Log = print) -> PlannedExample:
    """The planner on a 2-D map of the user's, told and drawn."""
    from gvin.maps import READERS, read_map
    from gvin.rollout import grid_settings, load_planner, plan_on_map
    from gvin.viz import plot_plan, render_ascii

    path = settings.map
    if path.is_dir():
        raise RunError(f"--map {path} is a folder; expected a map file")
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise RunError(f"--map {path}: expected a map file ending in {listed(list(READERS))} "
                       + (f"(got {suffix!r})" if suffix else "(it has no extension)"))
    if not path.is_file():
        raise RunError(f"--map {path}: no such file")
    png = settings.png or settings.checkpoint.parent / f"plan_{path.stem}.png"
    check_picture(png)
    planner = load_planner(settings.checkpoint)
    model = planner.model
    try:
        grid_settings(model, record=planner.data)
    except ValueError as error:
        raise RunError(f"{settings.checkpoint} cannot plan on a map file: {error}") from None
    plan_depth(model, settings.depth)
    grid = read_map(path)
    start, goal = _map_cell(settings.start, grid, "start", path), _map_cell(settings.goal, grid, "goal", path)
    with SolveLog(model) as solves:
        result = plan_on_map(planner, grid.free, start, goal, depth=settings.depth)
    example = PlannedExample(result)

    def tell(line: str) -> None:
        example.lines.append(line)
        emit(log, line)

    height, width = grid.free.shape
    depth = settings.depth if settings.depth is not None else model.num_iterations
    if solves.implicit:
        limit = settings.depth if settings.depth is not None else (model.fixed_point.f_max_iter or model.num_iterations)
        layers = f"K={limit} solver steps at most"
    else:
        layers = f"K={depth} layers"
    status = "reached the goal" if result.reached else "failed"
    shortest = (f"shortest path {result.optimal_length:g}" if result.optimal
                else "the goal cannot be reached from the start (no path)")
    solved = "".join(f"; {solve_line(info.forward)}" for info in solves.infos if info.forward)
    if not result.reached and not solves.implicit and result.optimal and result.optimal_length > depth:
        solved += f" (longer than the {depth} layers planned: try --depth {3 * int(result.optimal_length)})"
    tell(render_ascii(grid.free, goal=goal, path=result.planned, start=start))
    tell(f"map {path} ({height}x{width}), {planner.name} {layers}: from {start} to {goal}, policy {status} in "
         f"{result.planned_length} moves; {shortest}{solved}")
    tell("planned: " + " ".join(f"{row},{col}" for row, col in result.planned))
    title = (f"{path.name}: planned {result.planned_length} moves ({status}), "
             + (f"optimal {result.optimal_length:g}" if result.optimal else "no path"))
    example.png = plot_plan(grid.free, result.values, result.planned, result.optimal, goal, png, title=title)
    tell(f"wrote {example.png}")
    return example
