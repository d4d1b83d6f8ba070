"""A user's own 2-D map from a file: ``.npy`` arrays, ``.txt`` drawings and black-and-white ``.png`` images.

>>> grid = gvin.read_map("maze.txt")      # doctest: +SKIP
>>> grid.free.shape, grid.start, grid.goal  # doctest: +SKIP
((7, 9), (1, 1), (5, 7))

Every reader returns a :class:`GridMap`: the ``[H, W]`` bool free mask and the
start / goal cells that the file marks (only a text map can mark them).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gvin._checks import as_array

Cell = tuple[int, int]


def as_cell(cell, shape: tuple[int, ...], what: str) -> Cell:
    """A ``(row, col)`` pair of integers inside ``shape`` (negative indices are refused: no wrap-around)."""
    if hasattr(cell, "tolist"):
        cell = cell.tolist()
    if isinstance(cell, (str, bytes)) or not isinstance(cell, (tuple, list)) or len(cell) != 2:
        raise ValueError(f"{what} must be a (row, col) pair, got {cell!r}")
    if not all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)) for c in cell):
        raise TypeError(f"{what} must be a (row, col) pair of integers, got {cell!r}")
    row, col = int(cell[0]), int(cell[1])
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        raise ValueError(f"{what} {(row, col)} is outside the maze of shape {tuple(shape)}")
    return row, col


WALL, FREE, START, GOAL, PATH = "#", ".", "S", "G", "*"
TEXT_CELLS = {WALL: False, FREE: True, START: True, GOAL: True, PATH: True}
"""What each character of a text map means (``True``: free); ``*`` is a path cell, as
:func:`gvin.viz.render_ascii` draws one, so its output reads back."""

LUMINANCE = np.array([0.2126, 0.7152, 0.0722])
"""Rec. 709 weights of red, green and blue."""

THRESHOLD = 0.5
"""An image pixel of luminance below this is a wall."""


@dataclass(frozen=True)
class GridMap:
    """A 2-D map: which cells are free, and the start and goal its file marks.

    Attributes:
        free: ``[H, W]`` bool, ``True`` on free cells.
        start, goal: ``(row, col)`` cells marked ``S`` / ``G`` in a text map;
            ``None`` where the file marks none (``.npy`` and ``.png`` maps never do).

    ``np.asarray(grid)`` is ``grid.free``, so a map goes wherever a free mask does
    (``gvin.from_grid``, ``gvin.viz`` plots, ``gvin.plan_on_map``).
    """

    free: np.ndarray
    start: Cell | None = None
    goal: Cell | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "free", as_free_mask(self.free))
        for name in ("start", "goal"):
            cell = getattr(self, name)
            if cell is not None:
                object.__setattr__(self, name, free_cell(cell, self.free, name))

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.free.shape

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.free if dtype is None else self.free.astype(dtype)

    def __repr__(self) -> str:
        height, width = self.shape
        return (f"GridMap({height}x{width}, {int(self.free.sum())} free cells, "
                f"start={self.start}, goal={self.goal})")


def as_free_mask(free, what: str = "map") -> np.ndarray:
    """A 2-D free mask as ``[H, W]`` bool: any non-zero (or ``True``) cell is free.

    Args:
        free: a :class:`GridMap`, or an ``[H, W]`` numpy array / torch tensor /
            nested list of booleans or numbers.

    Raises:
        TypeError: not an array of numbers or booleans.
        ValueError: not 2-D, empty, NaN in it, or no free cell.
    """
    if isinstance(free, GridMap):
        return free.free
    if hasattr(free, "detach"):
        free = free.detach().cpu().numpy()
    if isinstance(free, (str, bytes, os.PathLike)):
        raise TypeError(f"{what} must be an [H, W] array; read a map file with gvin.read_map({str(free)!r})")
    array = as_array(free, what)
    if array.dtype != bool and not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{what} must hold numbers or booleans (non-zero = free), got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D [H, W] array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{what} is empty (shape {array.shape})")
    if np.issubdtype(array.dtype, np.inexact) and np.isnan(array).any():
        row, col = np.argwhere(np.isnan(array))[0]
        raise ValueError(f"{what} holds NaN (first at row {row}, col {col}); use 0 for walls, non-zero for free cells")
    mask = array != 0
    if not mask.any():
        raise ValueError(f"{what} has no free cell (all {array.shape[0]}x{array.shape[1]} cells are walls)")
    return mask


def free_cell(cell, free: np.ndarray, what: str) -> Cell:
    """``cell`` as a ``(row, col)`` pair of ints on a free cell of ``free``."""
    row, col = as_cell(cell, free.shape, what)
    if not free[row, col]:
        raise ValueError(f"{what} {(row, col)} is on a wall; choose a free cell")
    return row, col


# ----------------------------------------------------------------------------- readers
def _read_npy(path: Path) -> GridMap:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ValueError(f"map {path} is not a readable .npy array ({error})") from None
    return GridMap(as_free_mask(array, f"map {path}"))


def _text_rows(path: Path) -> list[tuple[int, list[tuple[int, str]]]]:
    """The map's lines as ``(line number, [(column, character), ...])``, spaces dropped, blank ends trimmed."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"map {path} is not a text file (not UTF-8); a text map draws walls '#' and free cells '.'") from None
    rows = [(number, [(col, ch) for col, ch in enumerate(line, 1) if ch not in " \t"])
            for number, line in enumerate(text.splitlines(), 1)]
    while rows and not rows[-1][1]:
        rows.pop()
    while rows and not rows[0][1]:
        rows.pop(0)
    return rows


def _read_txt(path: Path) -> GridMap:
    rows = _text_rows(path)
    if not rows:
        raise ValueError(f"map {path} is empty; draw walls '#' and free cells '.', one row per line")
    first_line, first = rows[0]
    for number, cells in rows:
        if len(cells) != len(first):
            raise ValueError(f"map {path} has ragged rows: line {number} has {len(cells)} cells, "
                             f"line {first_line} has {len(first)}; every row must be as wide")
    marks: dict[str, list[Cell]] = {START: [], GOAL: []}
    free = np.zeros((len(rows), len(first)), dtype=bool)
    for row, (number, cells) in enumerate(rows):
        for col, (column, char) in enumerate(cells):
            if char not in TEXT_CELLS:
                known = ", ".join(f"'{c}'" for c in TEXT_CELLS)
                raise ValueError(f"map {path}: unknown character {char!r} at line {number}, column {column} "
                                 f"(row {row}, col {col}); a text map holds only {known}")
            free[row, col] = TEXT_CELLS[char]
            if char in marks:
                marks[char].append((row, col))
    for char, name in ((START, "start"), (GOAL, "goal")):
        if len(marks[char]) > 1:
            raise ValueError(f"map {path} marks {len(marks[char])} {name} cells '{char}' at (row, col) "
                             f"{', '.join(map(str, marks[char]))}; mark at most one")
    start, goal = (marks[c][0] if marks[c] else None for c in (START, GOAL))
    return GridMap(as_free_mask(free, f"map {path}"), start, goal)


def _read_png(path: Path) -> GridMap:
    import matplotlib.image

    try:
        image = np.asarray(matplotlib.image.imread(path))
    except Exception as error:  # PIL and matplotlib raise several types for damaged files
        raise ValueError(f"map {path} is not a readable PNG image ({type(error).__name__}: {error})") from None
    if np.issubdtype(image.dtype, np.integer):
        image = image / np.iinfo(image.dtype).max
    image = image.astype(np.float64)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        luminance = image[..., :3] @ LUMINANCE
        if image.shape[2] == 4:  # transparent pixels are the white paper behind the drawing
            alpha = image[..., 3]
            luminance = alpha * luminance + (1.0 - alpha)
    elif image.ndim == 3 and image.shape[2] == 2:  # grey + alpha
        luminance = image[..., 1] * image[..., 0] + (1.0 - image[..., 1])
    elif image.ndim == 2:
        luminance = image
    else:
        raise ValueError(f"map {path} is an image of shape {image.shape}; expected grey, RGB or RGBA pixels")
    return GridMap(as_free_mask(luminance >= THRESHOLD, f"map {path}"))


READERS = {".npy": _read_npy, ".txt": _read_txt, ".png": _read_png}
"""The reader of each map file extension."""


def read_map(path: str | os.PathLike) -> GridMap:
    """Read a 2-D map file; one cell per array entry, character or pixel.

    * ``.npy``: an ``[H, W]`` array of booleans or numbers, any non-zero = free.
    * ``.txt``: one row per line, ``#`` wall, ``.`` free, ``S`` the start and
      ``G`` the goal (free cells, at most one each), ``*`` a free path cell;
      spaces between cells are ignored (so :func:`gvin.viz.render_ascii`'s
      output reads back), as are blank lines before and after the map.
    * ``.png``: black-and-white, dark = wall (luminance below 0.5; colour,
      grey and RGBA images, transparent pixels count as white).

    Returns:
        A :class:`GridMap` (``free [H, W]`` bool, ``start`` and ``goal`` cells or ``None``).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: an unknown extension, a folder, an unreadable file, a
            non-2-D array, ragged text rows, an unknown character (its line and
            column), two ``S`` or ``G`` marks, an empty map or one without a free cell.
        TypeError: ``path`` is not a path; an array of something other than numbers.
    """
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path to a map file, got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"map {path} is a folder; expected a map file")
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"map {path}: unknown extension {path.suffix or '(none)'!r}; "
                         f"expected one of {', '.join(READERS)}")
    if not path.is_file():
        raise FileNotFoundError(f"no map file at {path}")
    return reader(path)


__all__ = ["GridMap", "read_map", "as_free_mask", "as_cell", "free_cell", "READERS", "TEXT_CELLS"]
