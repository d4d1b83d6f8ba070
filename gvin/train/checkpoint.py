"""Checkpoints: written atomically, loadable with ``torch.load(weights_only=True)``."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from gvin._checks import as_device
from gvin.io import atomic_write


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, numbers, strings, lists, tuples, dicts) to ``path`` atomically.

    The file is written to a temporary file next to its destination, flushed to
    disk and renamed over it, so a crash or an error leaves either the old
    checkpoint or the new one, never half of one (and no temporary file).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    if not isinstance(payload, dict):
        raise TypeError(f"a checkpoint payload must be a dict, got {type(payload).__name__}")
    _check_loadable(payload, "payload")
    path = _as_path(path)
    with atomic_write(path) as file:
        torch.save(payload, file)
    return path


_PLAIN = (torch.Tensor, int, float, str, bool, type(None), torch.dtype, torch.device)


def _check_loadable(value: Any, where: str) -> None:
    """Refuse what a weights-only load would refuse later (numpy arrays, objects), naming where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_loadable(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_loadable(item, f"{where}[{index}]")
    elif not isinstance(value, _PLAIN):
        raise TypeError(
            f"{where} is a {type(value).__module__}.{type(value).__name__}, which a weights-only load refuses; "
            "store tensors, numbers, strings, lists, tuples or dicts (torch.as_tensor for numpy arrays)"
        )


def _as_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"the checkpoint path must be a str or path, got {type(path).__name__}")
    return Path(path)


def _one_line(error: BaseException) -> str:
    """The first line of an error message (torch's load errors span paragraphs)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _check_device(path: Path, map_location: Any) -> None:
    """Refuse a map location this machine does not have, before torch calls the file damaged."""
    if not isinstance(map_location, (str, torch.device)):
        return
    try:
        as_device(map_location, "map_location")
    except ValueError as error:
        raise ValueError(f"cannot load checkpoint {path} onto {str(map_location)!r}: {error}") from None


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (weights only, no pickled code).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: ``path`` is a folder, the file is damaged or not a
            checkpoint, has no ``"model"`` state, or ``map_location`` is a device
            torch does not know or this machine lacks (CUDA without CUDA, ``cuda:N``
            past its GPUs, MPS without MPS).
    """
    path = _as_path(path)
    if path.is_dir():
        raise ValueError(
            f"checkpoint {path} is a folder; expected a checkpoint file (such as {path / 'checkpoint.pt'})"
        )
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    _check_device(path, map_location)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for damaged files
        if "weights only load failed" in str(error).lower():
            reason = "a weights-only load refuses it: pickled objects, or not a torch file at all"
        else:
            reason = f"{type(error).__name__}: {_one_line(error)}"
        raise ValueError(f"checkpoint {path} is damaged or not a gvin checkpoint ({reason})") from error
    if not isinstance(payload, dict) or "model" not in payload:
        bare = isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values())
        what = "a bare state_dict" if bare else f"a {type(payload).__name__} without a 'model' entry"
        raise ValueError(
            f"checkpoint {path} has no model state: it holds {what}, "
            "not a gvin checkpoint ({'model': ..., 'config': ..., ...} as written by gvin train)"
        )
    return payload


def training_config(payload: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """The training config saved in a checkpoint (``ValueError`` naming ``path`` if it has none)."""
    config = payload.get("config")
    if (
        not isinstance(config, dict)
        or not isinstance(config.get("model"), str)
        or not isinstance(config.get("model_kwargs", {}), dict)
    ):
        raise ValueError(
            f"checkpoint {path} has no gvin training config (model name and settings): it was not "
            "written by gvin train / Trainer; build the model yourself and load its 'model' weights"
        )
    return config


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[Any, dict[str, Any]]:
    """The planner saved in a checkpoint, on ``device``, and the checkpoint's payload
    (:func:`gvin.load_planner` wraps the same with its settings, for planning on maps).

    Raises:
        FileNotFoundError, ValueError: as :func:`load_checkpoint`; also when the
            saved config builds no model or the weights do not fit it.
    """
    from gvin.models import build_model

    payload = load_checkpoint(path, map_location=device)
    config = training_config(payload, path)
    kwargs = config.get("model_kwargs", {})
    try:
        model = build_model(config["model"], **kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"checkpoint {path}: its config does not build a {config['model']!r} model: {_one_line(error)}"
        ) from None
    try:
        with warnings.catch_warnings():  # the checkpoint's own head (raw Q when it predates advantages) is the right one
            warnings.filterwarnings("ignore", message="these weights predate advantage-reading policy heads")
            model.load_state_dict(payload["model"])
    except (RuntimeError, TypeError, AttributeError) as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else _one_line(error)
        more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
        raise ValueError(
            f"checkpoint {path}: its weights do not fit its {config['model']} config: {detail}{more}"
        ) from None
    return model.to(device), payload
