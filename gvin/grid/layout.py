"""Shared pieces of the conv reference planners: kernel slots, moves, the policy head.

Layout conventions (2-D grids, channels first):

* inputs ``x [B, C, H, W]``: the node features of :func:`gvin.from_grid`
  (channel 0 = free flag, channel 1 = goal flag);
* an ``F×F`` kernel has ``T = F·F`` slots, row-major: slot ``t = u·F + v`` reads
  the cell at offset ``(u - F//2, v - F//2)``, exactly ``gvin.grid_stencil(2, c, F)[t]``
  and the flat index of ``Conv2d.weight[..., u, v]`` (cross-correlation);
* moves: ``M`` directions in the order of ``gvin.move_offsets(2, connectivity)``;
  policies are ``[B, M, H, W]`` with ``-inf`` where the move is not real.

Everything here is written for clarity: it is the oracle the graph planners are
tested against, so it uses plain ``torch`` ops and nothing from :mod:`gvin.nn`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gvin._checks import binary, positive_int
from gvin.graphs.grid import grid_stencil, move_offsets
from gvin.nn.policy import check_head_input, read_values


@dataclass
class GridPlannerOutput:
    """A conv planner's answer on a batch of grids.

    Attributes:
        log_probs: ``[B, M, H, W]`` log-probability of each move direction
            (``-inf`` where the move is not real).
        q: ``[B, A, H, W]`` latent Q-values of the last layer (GPPN: hidden state).
        v: ``[B, H, W]`` values of the last layer (GPPN: zeros).
        intermediate: ``{layer k: log_probs [B, M, H, W]}`` for the layers asked for.
    """

    log_probs: Tensor
    q: Tensor
    v: Tensor
    intermediate: dict[int, Tensor] = field(default_factory=dict)


def check_kernel_size(kernel_size: int) -> int:
    """``kernel_size`` as an int, or a ValueError (odd, >= 3, like the graph stencils)."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int):
        raise TypeError(f"kernel_size must be an int, got {type(kernel_size).__name__}")
    if kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd integer >= 3, got {kernel_size}")
    return kernel_size


def kernel_slots(connectivity: int | None, kernel_size: int | None) -> tuple[int, Tensor]:
    """Where the graph stencil's slots sit in a conv kernel.

    Args:
        connectivity: 4 or 8.
        kernel_size: ``F``, or ``None`` for the default stencil (self-loop plus
            the moves), which lives in a 3×3 kernel.

    Returns:
        ``(F, flat)``: the conv kernel size and ``flat [T]`` long, the row-major
        kernel index of each row of ``gvin.grid_stencil(2, connectivity, kernel_size)``.
    """
    stencil = grid_stencil(2, connectivity, kernel_size)
    size = 3 if kernel_size is None else kernel_size
    shifted = stencil + size // 2
    return size, shifted[:, 0] * size + shifted[:, 1]


def move_slots(connectivity: int | None, kernel_size: int | None) -> Tensor:
    """``[M]`` long: the stencil row (graph edge type) of each move direction."""
    stencil = grid_stencil(2, connectivity, kernel_size)
    moves = move_offsets(2, connectivity)
    matches = (stencil[None, :, :] == moves[:, None, :]).all(-1)  # [M, T]
    return matches.float().argmax(1)


def shift(values: Tensor, offset: tuple[int, int], fill: float | bool = 0) -> Tensor:
    """``out[..., i, j] = values[..., i + di, j + dj]``, ``fill`` outside the grid.

    Args:
        values: ``[..., H, W]``.
        offset: ``(di, dj)`` with ``|di|, |dj| <= 1``.
    """
    di, dj = offset
    height, width = values.shape[-2:]
    padded = values.new_full((*values.shape[:-2], height + 2, width + 2), fill)
    padded[..., 1:-1, 1:-1] = values
    return padded[..., 1 + di : 1 + di + height, 1 + dj : 1 + dj + width]


def move_mask(free: Tensor, connectivity: int | None) -> Tensor:
    """``[B, M, H, W]`` bool: the move is real (source free, target on the grid and free).

    Args:
        free: ``[B, H, W]`` bool.
    """
    offsets = move_offsets(2, connectivity).tolist()
    targets_free = torch.stack([shift(free, tuple(o), fill=False) for o in offsets], dim=1)
    return free.unsqueeze(1) & targets_free


def masked_log_softmax(logits: Tensor, mask: Tensor, dim: int) -> Tensor:
    """Log-softmax over the entries where ``mask``; ``-inf`` elsewhere (all ``-inf`` for empty rows)."""
    masked = logits.masked_fill(~mask, float("-inf"))
    has_entry = mask.any(dim=dim, keepdim=True)
    masked = torch.where(has_entry, masked, torch.zeros_like(masked))  # keep empty rows finite
    return torch.log_softmax(masked, dim=dim).masked_fill(~mask, float("-inf"))


def slot_mask(height: int, width: int, kernel_size: int, device=None) -> Tensor:
    """``[T, H, W]`` bool: slot ``t`` of the kernel centred on each cell lies on the grid."""
    ones = torch.ones(1, 1, height, width, device=device)
    inside = F.unfold(ones, kernel_size, padding=kernel_size // 2)  # [1, T, H·W]
    return inside.view(kernel_size * kernel_size, height, width) > 0.5


def move_kernel_mask(free: Tensor, kernel_size: int, connectivity: int) -> Tensor:
    """``[B, T, H, W]`` bool: kernel slot ``t`` of each cell is a move between free cells, or the
    centre (the cell itself): the slots a transition that follows the moves may use
    (:func:`gvin.nn.transitions.move_support` on the grid).

    Args:
        free: ``[B, H, W]`` bool.
    """
    batch, height, width = free.shape
    size = kernel_size
    neighbour = F.unfold(free[:, None].to(torch.float32), size, padding=size // 2) > 0.5  # [B, T, H·W]
    neighbour = neighbour.view(batch, size * size, height, width)
    offsets = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij"), -1).view(-1, 2) - size // 2
    is_move = (offsets[:, None, :] == move_offsets(2, connectivity)[None, :, :]).all(-1).any(1).to(free.device)
    centre = torch.zeros(size * size, dtype=torch.bool, device=free.device)
    centre[size * size // 2] = True
    return centre.view(1, -1, 1, 1) | (is_move.view(1, -1, 1, 1) & neighbour & free[:, None])


def check_input(x: Tensor, in_channels: int, free: Tensor | None, weight: Tensor | None = None) -> Tensor:
    """Validate ``x [B, C, H, W]`` (of ``weight``'s dtype and device, if given); return
    ``free [B, H, W]`` bool (default ``x[:, 0] > 0.5``)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"x must be a float [B, C, H, W] tensor, got {x.dtype} {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"x has {x.shape[1]} channels but the model expects in_channels={in_channels}")
    if 0 in x.shape:
        raise ValueError(f"x is empty (shape {tuple(x.shape)})")
    if weight is not None and (x.dtype, x.device) != (weight.dtype, weight.device):
        raise ValueError(
            f"x is {x.dtype} on {x.device} but the model's parameters are {weight.dtype} on {weight.device}; "
            "move one to the other"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or inf")
    if free is None:
        return x[:, 0] > 0.5
    if not isinstance(free, Tensor):
        raise TypeError(f"free must be a torch.Tensor, got {type(free).__name__}")
    expected = (x.shape[0], *x.shape[2:])
    if free.shape != expected:
        raise ValueError(f"free must be [B, H, W] = {list(expected)}, got {tuple(free.shape)}")
    return binary(free, "free", "free must be a bool (or 0/1) mask, got {dtype} values other than 0 and 1")


def check_depth(num_iterations: int | None, default: int) -> int:
    """The depth ``K >= 1`` to run (an int: ``2.9`` or ``True`` are refused, not truncated)."""
    depth = default if num_iterations is None else num_iterations
    return positive_int(depth, "num_iterations")



class GridPolicyHead(nn.Module):
    r"""Linear head over ``Q`` plus a successor-value term, normalised over the real moves.

    .. math::
        \ell_m(i, j) = Q(i, j)^\top \mathbf{w}_m + \beta\, V\big((i, j) + \delta_m\big)

    with ``V = 0`` outside the grid, then a log-softmax over the moves ``m`` that
    are real at ``(i, j)``. ``head`` says what it reads in place of ``Q(i, j)``:
    ``"raw"`` (default here, the published head) ``Q(i, j)``, ``"advantage"``
    ``Q(i, j) - V(i, j)`` or ``"centered"`` ``Q(i, j) - mean_a Q(i, j)`` (the graph
    planners' default), as :func:`gvin.nn.policy.read_values` says.

    Args:
        num_actions: ``A`` channels of ``Q``.
        connectivity: 4 or 8 (``M`` moves).
        successor_value: learn ``β`` (initialised 0).
        head: ``"raw"``, ``"advantage"`` or ``"centered"``.
        advantage: the older flag (``True``: ``"advantage"``, ``False``: ``"raw"``).

    Shapes:
        q ``[B, A, H, W]``, v ``[B, H, W]``, free ``[B, H, W]`` → ``[B, M, H, W]``.
    """

    def __init__(
        self, num_actions: int, connectivity: int | None = 4, successor_value: bool = True, head: str = "raw",
        *, advantage: bool | None = None,
    ):
        super().__init__()
        num_actions = positive_int(num_actions, "num_actions")
        self.head = check_head_input(head, advantage, default="raw")
        self.connectivity = connectivity
        self.offsets = [tuple(o) for o in move_offsets(2, connectivity).tolist()]
        self.weight = nn.Parameter(torch.empty(num_actions, len(self.offsets)))
        self.beta = nn.Parameter(torch.zeros(())) if successor_value else None
        nn.init.uniform_(self.weight, -num_actions**-0.5, num_actions**-0.5)

    def forward(self, q: Tensor, v: Tensor, free: Tensor) -> Tensor:
        for name, value in (("q", q), ("v", v), ("free", free)):
            if not isinstance(value, Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if q.dim() != 4 or q.shape[1] != self.weight.shape[0]:
            raise ValueError(f"q must be [B, A={self.weight.shape[0]}, H, W], got {tuple(q.shape)}")
        spatial = (q.shape[0], *q.shape[2:])
        if v.shape != spatial or free.shape != spatial:
            raise ValueError(
                f"v and free must be [B, H, W] = {list(spatial)} like q, got v {tuple(v.shape)}, free {tuple(free.shape)}"
            )
        if free.dtype != torch.bool:
            raise ValueError(f"free must be a bool mask, got {free.dtype}")
        q = read_values(q, v, self.head, dim=1)
        logits = torch.einsum("bahw,am->bmhw", q, self.weight)
        if self.beta is not None:
            successor_v = torch.stack([shift(v, o) for o in self.offsets], dim=1)
            logits = logits + self.beta * successor_v
        return masked_log_softmax(logits, move_mask(free, self.connectivity), dim=1)
