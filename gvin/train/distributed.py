"""Multi-process training with PyTorch's own distributed engine (``torchrun``).

``torchrun --nproc-per-node N`` starts ``N`` copies of a program and tells each
its place through the environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``). :func:`init_from_env` reads it and joins the
process group: gloo on CPU, nccl on CUDA, where rank ``r`` runs on
``cuda:LOCAL_RANK``. Without those variables (or with ``WORLD_SIZE=1``) nothing
is initialised and every helper here acts as for one process, so the same code
runs unchanged in both cases.

The :class:`~gvin.train.Trainer` uses these helpers: each rank takes a shard of
every batch (:func:`shard_batches`), rank 0 alone evaluates, writes checkpoints
and reports, and the loss is weighted so that gradients equal those of one
process on the whole batch.
"""
from __future__ import annotations

import contextlib
import datetime
import inspect
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Iterator, TypeVar

import torch
import torch.distributed as dist

from gvin._checks import as_device

T = TypeVar("T")

TIMEOUT = datetime.timedelta(hours=2)
"""How long a rank waits at a collective call (rank 0 evaluates the validation set
while the others wait for its record)."""


@dataclass(frozen=True)
class Launch:
    """Where ``torchrun`` placed this process.

    Attributes:
        rank: global rank in ``[0, world_size)``.
        world_size: number of processes.
        local_rank: rank on this machine (its CUDA device index).
        local_world_size: processes on this machine.
    """

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int


def _env_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"the environment variable {name}={value!r} must be an integer (torchrun sets it)") from None
    if number < 0:
        raise ValueError(f"the environment variable {name}={value!r} must be >= 0")
    return number


def launch_from_env(environ: dict[str, str] | None = None) -> Launch | None:
    """The :class:`Launch` that ``torchrun`` describes in the environment, ``None`` for one process.

    ``None`` when ``WORLD_SIZE`` is unset or ``1``. ``ValueError`` naming the variable
    when one is missing or inconsistent (e.g. ``RANK >= WORLD_SIZE``).
    """
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env or _env_int("WORLD_SIZE", env["WORLD_SIZE"]) <= 1:
        return None
    missing = [name for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if name not in env]
    if missing:
        raise ValueError(
            f"WORLD_SIZE={env['WORLD_SIZE']} asks for distributed training but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set; start the processes with torchrun"
        )
    world_size = _env_int("WORLD_SIZE", env["WORLD_SIZE"])
    rank, local_rank = _env_int("RANK", env["RANK"]), _env_int("LOCAL_RANK", env["LOCAL_RANK"])
    local_world_size = _env_int("LOCAL_WORLD_SIZE", env.get("LOCAL_WORLD_SIZE", str(world_size)))
    if rank >= world_size or local_rank >= local_world_size or local_world_size > world_size:
        raise ValueError(
            f"inconsistent torchrun environment: RANK={rank}, LOCAL_RANK={local_rank}, "
            f"LOCAL_WORLD_SIZE={local_world_size}, WORLD_SIZE={world_size}"
        )
    return Launch(rank, world_size, local_rank, local_world_size)


def rank_device(device: str | torch.device, launch: Launch | None = None) -> torch.device:
    """The device of this rank for a run on ``device``: ``cuda`` becomes ``cuda:LOCAL_RANK``.

    Raises:
        ValueError: a device torch does not know; for one process, a device this machine
            lacks (:func:`gvin._checks.as_device`: CUDA without CUDA, ``cuda:N`` past its GPUs,
            MPS without MPS); for several ranks, a device other than CPU or CUDA, an explicit
            ``cuda:N`` that is not this rank's, or fewer CUDA devices than ranks on this machine.
    """
    if launch is None:
        launch = launch_from_env()
    if launch is None:
        return as_device(device)
    device = as_device(device, available=False)
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(
            f"distributed training runs on cpu (gloo) or cuda (nccl), not {device.type}; use --device cpu or cuda"
        )
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if available < launch.local_world_size:
        raise ValueError(
            f"torchrun started {launch.local_world_size} processes on this machine with --device cuda, but it has "
            f"{available} CUDA device(s): each rank needs its own GPU; use --nproc-per-node {max(available, 1)}"
            + ("" if available else " or --device cpu")
        )
    if device.index is not None and device.index != launch.local_rank:
        raise ValueError(
            f"under torchrun rank {launch.rank} runs on cuda:{launch.local_rank} (its LOCAL_RANK), not {device}; "
            "pass --device cuda"
        )
    return torch.device("cuda", launch.local_rank)


def init_from_env(device: str | torch.device = "cpu") -> torch.device:
    """Join the process group ``torchrun`` describes (no-op for one process or if already joined).

    Args:
        device: the run's device: ``cpu`` uses the gloo backend, ``cuda`` nccl
            (and selects ``cuda:LOCAL_RANK`` as this process's current device).

    Returns:
        This rank's device (:func:`rank_device`).
    """
    launch = launch_from_env()
    rank_dev = rank_device(device, launch)
    if launch is None or is_initialized():
        return rank_dev
    if rank_dev.type == "cuda":
        torch.cuda.set_device(rank_dev)
    backend = "nccl" if rank_dev.type == "cuda" else "gloo"
    kwargs: dict[str, Any] = {}
    if rank_dev.type == "cuda" and "device_id" in inspect.signature(dist.init_process_group).parameters:
        kwargs["device_id"] = rank_dev  # binds the rank to its GPU (nccl's barrier and objects use it)
    dist.init_process_group(backend, rank=launch.rank, world_size=launch.world_size, timeout=TIMEOUT, **kwargs)
    return rank_dev


def is_initialized() -> bool:
    """A process group of more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 for one process)."""
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    """Number of processes (1 for one process)."""
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    """Rank 0: the process that writes files and prints."""
    return rank() == 0


def _device_ids() -> list[int] | None:
    return [torch.cuda.current_device()] if dist.get_backend() == "nccl" else None


def barrier() -> None:
    """Wait until every rank gets here (no-op for one process)."""
    if is_initialized():
        dist.barrier(device_ids=_device_ids())


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over the ranks, in place (returned as is for one process)."""
    if is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(value: T, src: int = 0) -> T:
    """Rank ``src``'s ``value`` (any picklable object) on every rank; also a barrier."""
    if not is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=src)
    return box[0]


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Run a block on rank 0 first, then on the others (e.g. to generate and cache a dataset once)."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


def cleanup() -> None:
    """Leave the process group (no-op if none)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_batches(batches: Sequence[Sequence[int]], rank: int, world_size: int) -> list[list[int]]:
    """This rank's share of every batch of an epoch.

    ``batches`` are the single-process batches of the epoch (item indices). Rank
    ``r`` takes items ``r, r + W, ...`` of each, so the ranks' shards of step ``t``
    together are exactly batch ``t`` of one process. A batch with fewer than ``W``
    items (only the last one can be) is padded with the epoch's first items,
    repeated as needed, as :class:`torch.utils.data.DistributedSampler` pads:
    every rank gets a non-empty shard and the same number of steps.

    Args:
        batches: the epoch's batches in order.
        rank, world_size: ``r`` and ``W``.

    Returns:
        one list of indices per batch.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    order = [int(i) for batch in batches for i in batch]
    if not order:
        raise ValueError("the epoch has no items")
    shards = []
    for batch in batches:
        chunk = [int(i) for i in batch]
        if len(chunk) < world_size:
            pad = world_size - len(chunk)
            chunk += (order * (pad // len(order) + 1))[:pad]
        shards.append(chunk[rank::world_size])
    return shards


__all__ = [
    "Launch",
    "launch_from_env",
    "rank_device",
    "init_from_env",
    "is_initialized",
    "rank",
    "world_size",
    "is_main",
    "barrier",
    "all_reduce_sum",
    "broadcast_object",
    "main_first",
    "cleanup",
    "shard_batches",
]
