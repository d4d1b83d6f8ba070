"""Argument checks shared by every layer of gvin: errors that name the argument instead of a torch error from deep inside."""
from __future__ import annotations

import math
import numbers
import os
import weakref
from typing import Any

import numpy as np
import torch
from torch import Tensor


def positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int >= minimum``; bools, floats (even ``3.0``) and the rest are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        expected = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def flag(value, name: str) -> bool:
    """``value`` as a ``bool``: ``True``/``False`` or a numpy bool, nothing else (not ``0``/``1``)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def count_range(value, name: str) -> tuple[int, int]:
    """A ``(low, high)`` pair of ints ``0 <= low <= high`` (e.g. how many obstacles a task draws)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a (low, high) pair of ints, got {value!r}")
    low, high = (positive_int(v, name, 0) for v in value)
    if low > high:
        raise ValueError(f"{name} must have low <= high, got {value!r}")
    return low, high


def item_index(index, length: int) -> int:
    """A dataset index (an int or a one-element integer tensor; negative counts from the end) as ``0 <= i < length``."""
    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (numbers.Integral, torch.Tensor)):
        raise TypeError(f"index must be an int, got {index!r}")
    index = int(index)
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for {length} items")
    return index % length


def optional_width(value, name: str) -> int | None:
    """A hidden width: ``None`` or an ``int >= 0`` (``0`` / ``None``: no hidden layer)."""
    if value is None:
        return None
    return positive_int(value, name, minimum=0)


def real(value, name: str) -> float:
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def discount(gamma) -> float:
    """A discount ``gamma`` as a float in ``[0, 1]``."""
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not 0.0 <= float(gamma) <= 1.0:
        raise ValueError(f"gamma must be a number in [0, 1], got {gamma!r}")
    return float(gamma)


def tensor(value, name: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(value).__name__}")
    return value


def features(x, name: str, width: int | None, like: Tensor | None = None) -> Tensor:
    """A float ``[N, width]`` tensor of the dtype of ``like`` (a layer's weight)."""
    tensor(x, name)
    if x.dim() != 2 or not x.is_floating_point():
        raise ValueError(f"{name} must be a float [N, C] tensor, got {x.dtype} {tuple(x.shape)}")
    if width is not None and x.shape[1] != width:
        raise ValueError(f"{name} has {x.shape[1]} channels but the layer was built for {width}")
    if like is not None and x.dtype != like.dtype:
        raise ValueError(
            f"{name} is {x.dtype} but the layer's weights are {like.dtype}; cast one to the other "
            "(x.to(dtype) or layer.to(dtype))"
        )
    return x


def integer(value: Tensor, name: str) -> Tensor:
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer (int64) tensor, got {value.dtype}")
    return value


_IN_RANGE: dict[int, tuple[weakref.ref, int, int]] = {}
"""Index tensors already found inside a bound: ``id → (tensor, version, bound)``. A planner's
layers check the same ``edge_index`` every layer; a range check reads the tensor back to the
host (a GPU sync), so each tensor version is checked once."""


def index_range(value: Tensor, bound: int, message: str) -> None:
    """Refuse integer indices outside ``[0, bound)``; ``message`` is formatted with ``low`` and ``high``."""
    seen = _IN_RANGE.get(id(value))
    if seen is not None and seen[0]() is value and seen[1:] == (value._version, bound):
        return
    if value.numel():
        low, high = int(value.min()), int(value.max())
        if low < 0 or high >= bound:
            raise ValueError(message.format(low=low, high=high))
    if len(_IN_RANGE) > 64:
        _IN_RANGE.clear()
    _IN_RANGE[id(value)] = (weakref.ref(value), value._version, bound)


def edge_index(value, num_nodes: int | None) -> int:
    """``[2, E]`` integer node indices in ``[0, num_nodes)``; returns ``E``."""
    tensor(value, "edge_index")
    if value.dim() != 2 or value.shape[0] != 2:
        raise ValueError(f"edge_index must be [2, E], got {tuple(value.shape)}")
    integer(value, "edge_index")
    if num_nodes is not None:
        index_range(value, num_nodes, "edge_index refers to nodes in [{low}, {high}] but the graph has "
                    f"{num_nodes} nodes")
    return value.shape[1]


def edge_type(value, num_edges: int, num_types: int | None) -> Tensor:
    """``[E]`` integer edge types in ``[0, num_types)``."""
    tensor(value, "edge_type")
    if value.shape != (num_edges,):
        raise ValueError(f"edge_type must be [E]={num_edges}, got {tuple(value.shape)}")
    integer(value, "edge_type")
    if num_types is not None:
        index_range(value, num_types, "edge_type has values in [{low}, {high}] but the layer was built for "
                    f"num_edge_types={num_types}")
    return value


def mask(value, name: str, shape: tuple[int, ...]) -> Tensor:
    """A bool mask of ``shape``."""
    tensor(value, name)
    if value.dtype != torch.bool:
        raise ValueError(f"{name} must be a bool mask, got {value.dtype}")
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"{name} must be {list(shape)}, got {tuple(value.shape)}")
    return value


def graph_edge_index(value, num_nodes: int) -> Tensor:
    """A planning graph's ``edge_index``: ``[2, E]`` int64 node indices in ``[0, num_nodes)``, ``E >= 1``."""
    if value is None:
        raise ValueError("the graph has no 'edge_index' field")
    if tensor(value, "edge_index").dtype != torch.long:
        raise ValueError(f"edge_index must be int64 (long), got {value.dtype}")
    if edge_index(value, num_nodes) == 0:
        raise ValueError("the graph has no edges (edge_index is empty)")
    return value


def count(value, name: str, minimum: int = 0) -> int:
    """``value`` as an ``int >= minimum`` (default ``0``); a one-element integer tensor counts as its int."""
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = value.item()
    return positive_int(value, name, minimum)


def binary_vector(value, name: str, size: int, what: str) -> Tensor:
    """An ``[size]`` mask: bool, or numbers that are all 0/1 (returned as bool). ``what`` names the
    size in the message (``"N"``: ``"goal must be [N]=9, got (8,)"``)."""
    tensor(value, name)
    if value.shape != (size,):
        raise ValueError(f"{name} must be [{what}]={size}, got {tuple(value.shape)}")
    return binary(value, name, "{name} must be a bool mask (or 0/1), got values other than 0 and 1 ({dtype})")


def index_vector(value, name: str, size: int, what: str, bound: int, bound_what: str) -> Tensor:
    """An ``[size]`` integer tensor with values in ``[0, bound)``; ``what`` names the size and
    ``bound_what`` the bound in the messages."""
    tensor(value, name)
    if value.shape != (size,):
        raise ValueError(f"{name} must be [{what}]={size}, got {tuple(value.shape)}")
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got {value.dtype}")
    index_range(value, bound, f"{name} has values in [{{low}}, {{high}}] but must be in [0, {bound}) ({bound_what})")
    return value


def edge_scores(log_probs, num_edges: int) -> Tensor:
    """A policy's ``log_probs``: a float ``[E]`` tensor, one score per edge."""
    tensor(log_probs, "log_probs")
    if log_probs.shape != (num_edges,):
        raise ValueError(f"log_probs must be [E]={num_edges}, got {tuple(log_probs.shape)}")
    if not log_probs.is_floating_point():
        raise ValueError(f"log_probs must be a float tensor, got {log_probs.dtype}")
    return log_probs


def as_rng(seed: Any, name: str = "seed", allow_none: bool = False) -> np.random.Generator:
    """A :class:`numpy.random.Generator` from a Generator or a non-negative integer seed
    (or, with ``allow_none``, ``None``: fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None and allow_none:
        return np.random.default_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        expected = "None, " if allow_none else ""
        raise TypeError(f"{name} must be {expected}a non-negative integer or numpy Generator, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be non-negative, got {seed}")
    return np.random.default_rng(int(seed))


def binary(value, name: str, message: str | None = None):
    """``value`` (a numpy array or torch tensor) as a bool mask of the same shape.

    Accepts a bool array, or integer / float numbers that are all 0 or 1 (NaN is refused);
    returns ``value`` itself when it is already bool, else ``value != 0``.

    Raises:
        TypeError: a dtype that holds neither booleans nor real numbers (strings,
            objects, complex): ``"{name} must hold booleans or 0/1 numbers, got dtype ..."``.
        ValueError: other values than 0 and 1. ``message``, if given, is the error text,
            formatted with ``name``, ``dtype`` and ``values`` (up to 3 of the offending values).
    """
    if isinstance(value, Tensor):
        if value.dtype == torch.bool:
            return value
        numeric = not value.is_complex()
    else:
        value = as_array(value, name)
        if value.dtype == np.bool_:
            return value
        numeric = np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating)
    if not numeric:
        raise TypeError(f"{name} must hold booleans or 0/1 numbers, got dtype {value.dtype}")
    ok = (value == 0) | (value == 1)  # NaN compares unequal to both
    if not bool(ok.all()):
        bad = value[~ok]
        values = (torch.unique(bad) if isinstance(bad, Tensor) else np.unique(bad))[:3].tolist()
        if message is None:
            message = "{name} must be a bool (or 0/1) mask, got {dtype} values {values}"
        raise ValueError(message.format(name=name, dtype=value.dtype, values=values))
    return value != 0


# ----------------------------------------------------------------------------- nested sequences


def _is_sequence(value: Any) -> bool:
    """A list / tuple, or an array / tensor with at least one axis (what ``np.asarray`` nests into)."""
    if isinstance(value, (list, tuple)):
        return True
    if isinstance(value, (np.ndarray, Tensor)):
        return value.ndim > 0
    return False


def _where(name: str, path: tuple[int, ...]) -> str:
    return name + "".join(f"[{i}]" for i in path)


def ragged(value: Any, name: str) -> str | None:
    """Why the nested sequence ``value`` is not a rectangular array, in words naming ``name``
    (``None`` if it is rectangular, or not a nested sequence at all).

    Walks ``value`` one depth at a time: at each depth every item must be a sequence of one
    common length, or every item a scalar.
    """
    level: list[tuple[tuple[int, ...], Any]] = [((), value)]
    while level:
        sequences = [(path, item) for path, item in level if _is_sequence(item)]
        if not sequences:
            return None
        if len(sequences) != len(level):
            scalar = next(path for path, item in level if not _is_sequence(item))
            return (
                f"{name} is ragged: {_where(name, scalar)} is a single value but {_where(name, sequences[0][0])} "
                "is a row of values; every row must hold the same number of values"
            )
        lengths = [len(item) for _, item in sequences]
        if len(set(lengths)) > 1:
            first_path, first = sequences[0][0], lengths[0]
            other = next(i for i, n in enumerate(lengths) if n != first)
            shown = ", ".join(map(str, lengths[:12])) + (", ..." if len(lengths) > 12 else "")
            return (
                f"{name} rows have different lengths: {_where(name, first_path)} has {first} entries but "
                f"{_where(name, sequences[other][0])} has {lengths[other]} (row lengths [{shown}]); "
                "every row must have the same length"
            )
        level = [(path + (i,), sub) for path, item in sequences for i, sub in enumerate(item)]
    return None


def as_array(value: Any, name: str) -> np.ndarray:
    """``np.asarray(value)``, with a ragged nested list refused by name.

    Raises:
        ValueError: ``value`` nests sequences of different lengths (``[[1, 1], [1]]``) or
            mixes values and rows; the message names ``name``, the first two rows that differ and
            the row lengths (numpy's own message speaks of an "inhomogeneous shape").
    """
    try:
        return np.asarray(value)
    except ValueError:
        problem = ragged(value, name)
        if problem is None:
            raise
        raise ValueError(problem) from None


# ----------------------------------------------------------------------------- devices


def _device_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def as_device(value: Any, name: str = "device", available: bool = True) -> torch.device:
    """``value`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``, a :class:`torch.device`, ...) as a
    :class:`torch.device`, checked up front.

    Args:
        value: the device.
        name: the argument's name, for the messages.
        available: also refuse a device this machine does not have: CUDA (or ``cuda:N`` past the
            number of GPUs), MPS or XPU where torch finds none. ``False`` checks the spelling only
            (e.g. a config written on one machine for another).

    Raises:
        ValueError: torch does not know the device (``"gpu"``), or (``available``) this machine
            lacks it; the message names ``name`` and what to use instead.
    """
    try:
        device = value if isinstance(value, torch.device) else torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(
            f"{name} must be a torch device such as 'cpu', 'cuda', 'cuda:N' or 'mps', got {value!r}"
        ) from None
    if not available:
        return device
    text = _device_text(value)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA support" if torch.version.cuda is None and \
                getattr(torch.version, "hip", None) is None else "torch finds no CUDA GPU"
            raise ValueError(f"{name}={text!r}: CUDA is not available on this machine ({why}); use {name}='cpu'")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
            raise ValueError(
                f"{name}={text!r}: this machine has {count} CUDA device(s) ({have}); "
                f"use {name}='cuda' (cuda:0), another index below {count}, or {name}='cpu'"
            )
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"{name}={text!r}: MPS (Apple's GPU) is not available on this machine; use {name}='cpu'")
    elif device.type == "xpu":
        xpu = getattr(torch, "xpu", None)
        if xpu is None or not xpu.is_available():
            raise ValueError(f"{name}={text!r}: XPU (Intel's GPU) is not available on this machine; use {name}='cpu'")
        count = xpu.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(
                f"{name}={text!r}: this machine has {count} XPU device(s); use {name}='xpu' or {name}='cpu'"
            )
    return device


# ----------------------------------------------------------------------------- memory


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes (``None`` where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def size_text(num_bytes: float) -> str:
    """A byte count in words: ``"512 MiB"``, ``"3.2 GiB"``, ``"1,234 TiB"``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if num_bytes >= scale:
            value = num_bytes / scale
            return f"{value:,.1f} {unit}" if value < 10 else f"{value:,.0f} {unit}"
    return f"{int(num_bytes)} bytes"


def check_memory(need: int, what: str, remedy: str) -> None:
    """Refuse work that cannot fit in this machine's memory, before allocating anything.

    Args:
        need: a lower bound on the bytes the work needs (a bound, so nothing that fits is refused).
        what: the work, as the subject of the message (``"10 mazes of 7x7"``).
        remedy: what to change (``"reduce counts or size"``).

    Raises:
        ValueError: ``need`` exceeds the machine's physical memory
            (:func:`memory_bytes`; nothing is refused where the OS does not say).
    """
    have = memory_bytes()
    if have and need > have:
        raise ValueError(
            f"{what} need at least {size_text(need)} of memory, more than this machine's {size_text(have)}; {remedy}"
        )
