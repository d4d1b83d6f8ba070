"""DT-VIN as a per-cell dynamic kernel on 2-D grids: the reference for :class:`gvin.models.DTVIN`."""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gvin._checks import binary, discount, positive_int
from gvin.grid.layout import (
    GridPlannerOutput,
    GridPolicyHead,
    check_depth,
    check_input,
    check_kernel_size,
    masked_log_softmax,
    move_kernel_mask,
    slot_mask,
)


class GridDTVIN(nn.Module):
    r"""DT-VIN: every cell predicts its own ``F×F`` kernel per latent action.

    .. math::
        P[t, a](i, j) = \mathrm{softmax}_t\, \ell[t, a](i, j), \quad
        Q_k[a](i, j) = \sum_t P[t, a](i, j)\, \big(r + \gamma V_{k-1}\big)\big((i, j) + \delta_t\big)

    with ``ℓ = W_ℓ ReLU(conv_F(x) + b) + b_ℓ`` viewed ``[B, T, A, H, W]`` (channel
    ``t·A + a``), ``r = w_r^⊤ ReLU(conv_F(x) + b) + b_r`` and ``V_0 = 0``. The softmax
    runs over the kernel slots that lie **on the grid** (and inside ``kernel_mask``):
    out-of-grid slots are masked out, not zero-padded. The neighbourhood sums use
    ``F.unfold`` (zero padding, which the mask makes irrelevant).

    Args:
        in_channels: input channels.
        kernel_size: ``F``.
        connectivity: 4 or 8 moves.
        num_actions: ``A``.
        hidden_channels: channels of the reward and transition encoders.
        num_iterations: default depth ``K``.
        gamma: discount.
        head: what the head reads: ``"raw"`` ``Q_K`` (default, the published head),
            ``"advantage"`` ``Q_K - V_K`` or ``"centered"`` ``Q_K - mean_a Q_K`` (the graph
            planners' default); see :class:`~gvin.grid.layout.GridPolicyHead`.
        advantage: the older flag (``True``: ``"advantage"``, ``False``: ``"raw"``).
        kernel_mask: optional ``[F, F]`` bool, the kernel slots in use (e.g. the
            plus-shaped default stencil of a graph); all by default.
        absorbing_goal: the goal cells (``x[:, 1] > 0.5``) keep all their kernel
            mass on themselves, as :class:`~gvin.models.DTVIN` does with ``absorbing_goal``.
        move_transitions: kernels put mass only on moves between free cells and on the
            centre, as :class:`~gvin.models.DTVIN` does with ``move_transitions``.

    Shapes:
        x ``[B, C, H, W]`` → :class:`~gvin.grid.layout.GridPlannerOutput`.
    """

    def __init__(
        self,
        in_channels: int = 2,
        kernel_size: int = 3,
        connectivity: int = 4,
        num_actions: int = 4,
        hidden_channels: int = 32,
        num_iterations: int = 50,
        gamma: float = 1.0,
        kernel_mask: Tensor | None = None,
        head: str = "raw",
        advantage: bool | None = None,
        absorbing_goal: bool = False,
        move_transitions: bool = False,
    ):
        super().__init__()
        size = check_kernel_size(kernel_size)
        in_channels = positive_int(in_channels, "in_channels")
        hidden_channels = positive_int(hidden_channels, "hidden_channels")
        num_iterations = positive_int(num_iterations, "num_iterations")
        num_actions = positive_int(num_actions, "num_actions")
        gamma = discount(gamma)
        pad = size // 2
        self.in_channels = in_channels
        self.kernel_size = size
        self.num_slots = size * size
        self.connectivity = connectivity
        self.num_actions = num_actions
        self.num_iterations = num_iterations
        self.gamma = gamma
        if kernel_mask is None:
            kernel_mask = torch.ones(size, size, dtype=torch.bool)
        kernel_mask = torch.as_tensor(kernel_mask)
        if tuple(kernel_mask.shape) != (size, size):
            raise ValueError(f"kernel_mask must be [{size}, {size}], got {tuple(kernel_mask.shape)}")
        kernel_mask = binary(kernel_mask, "kernel_mask", f"kernel_mask must be a bool (or 0/1) [{size}, {size}] mask")
        if not bool(kernel_mask.any()):
            raise ValueError("kernel_mask selects no kernel slot: every transition would be empty")
        self.register_buffer("kernel_mask", kernel_mask.clone())
        self.encoder = nn.Conv2d(in_channels, hidden_channels, size, padding=pad)
        self.reward = nn.Conv2d(hidden_channels, 1, 1)
        self.features = nn.Conv2d(in_channels, hidden_channels, size, padding=pad)
        self.logits = nn.Conv2d(hidden_channels, self.num_slots * num_actions, 1)
        self.head = GridPolicyHead(num_actions, connectivity, successor_value=True, head=head, advantage=advantage)
        self.absorbing_goal = bool(absorbing_goal)
        self.move_transitions = bool(move_transitions)

    def node_reward(self, x: Tensor) -> Tensor:
        """``r [B, 1, H, W]``."""
        return self.reward(torch.relu(self.encoder(x)))

    def kernel(self, x: Tensor, free: Tensor | None = None) -> Tensor:
        """``P [B, T, A, H, W]``: per-cell kernels, a distribution over slots per (cell, action);
        ``free [B, H, W]`` (default ``x[:, 0] > 0.5``) limits them to the moves when
        :attr:`move_transitions`."""
        batch, _, height, width = x.shape
        logits = self.logits(torch.relu(self.features(x)))
        logits = logits.view(batch, self.num_slots, self.num_actions, height, width)
        valid = slot_mask(height, width, self.kernel_size, x.device)
        valid = (valid & self.kernel_mask.view(-1, 1, 1)).unsqueeze(0)  # [1, T, H, W]
        if self.move_transitions:
            free = x[:, 0] > 0.5 if free is None else free
            moves = valid & move_kernel_mask(free, self.kernel_size, self.connectivity)
            valid = torch.where(moves.any(1, keepdim=True), moves, valid)  # a cell without one keeps all
        valid = valid.unsqueeze(2).expand(batch, -1, self.num_actions, -1, -1)  # [B, T, A, H, W]
        kernel = masked_log_softmax(logits, valid, dim=1).exp()
        if not self.absorbing_goal:
            return kernel
        goal = (x[:, 1] > 0.5).view(batch, 1, 1, height, width)
        centre = torch.zeros(self.num_slots, 1, 1, 1, dtype=kernel.dtype, device=kernel.device)
        centre[self.num_slots // 2] = 1.0
        return torch.where(goal, centre, kernel)

    def expect(self, kernel: Tensor, values: Tensor) -> Tensor:
        """``Σ_t P[t, a] · values(cell + δ_t)``: ``[B, T, A, H, W]``, ``[B, 1, H, W]`` → ``[B, A, H, W]``."""
        batch, _, height, width = values.shape
        patches = F.unfold(values, self.kernel_size, padding=self.kernel_size // 2)  # [B, T, H·W]
        patches = patches.view(batch, self.num_slots, 1, height, width)
        return (kernel * patches).sum(dim=1)

    def forward(
        self,
        x: Tensor,
        free: Tensor | None = None,
        num_iterations: int | None = None,
        intermediate: Iterable[int] = (),
    ) -> GridPlannerOutput:
        """Plan on ``x [B, C, H, W]``; ``free [B, H, W]`` defaults to ``x[:, 0] > 0.5``."""
        free = check_input(x, self.in_channels, free, self.encoder.weight)
        depth = check_depth(num_iterations, self.num_iterations)
        wanted = set(intermediate)
        kernel = self.kernel(x, free)
        reward = self.expect(kernel, self.node_reward(x))
        v = x.new_zeros(x.shape[0], 1, *x.shape[2:])
        kept: dict[int, Tensor] = {}
        for k in range(1, depth + 1):
            q = reward + self.gamma * self.expect(kernel, v)
            v = q.max(dim=1, keepdim=True).values
            if k in wanted:
                kept[k] = self.head(q, v[:, 0], free)
        return GridPlannerOutput(self.head(q, v[:, 0], free), q, v[:, 0], kept)
