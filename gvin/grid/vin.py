"""VIN as plain convolutions on 2-D grids: the reference for :class:`gvin.models.VIN`."""
from __future__ import annotations

from typing import Iterable

from torch import Tensor, nn

from gvin._checks import discount, positive_int
from gvin.grid.layout import (
    GridPlannerOutput,
    GridPolicyHead,
    check_depth,
    check_input,
    check_kernel_size,
)


class GridVIN(nn.Module):
    r"""Whole-map VIN with ``F×F`` zero-padded convolutions.

    .. math::
        h = \mathrm{conv}_F(x) + b,\quad r = w_r^\top h,\quad R = \mathrm{conv}_F(r),\quad
        Q_k = R + \gamma\, \mathrm{conv}_F(V_{k-1}),\quad V_k = \max_a Q_k,\quad V_0 = 0

    The head scores move ``m`` at each cell as ``Q_K · w_m + β V_K(cell + δ_m)``
    and normalises over the real moves.

    Args:
        in_channels: input channels (2: free, goal).
        kernel_size: ``F`` of every conv but the 1×1 reward layer.
        connectivity: 4 or 8 moves.
        num_actions: latent actions ``A``.
        hidden_channels: channels of ``h``.
        num_iterations: default depth ``K``.
        gamma: discount.
        head: what the head reads: ``"raw"`` ``Q_K`` (default, the published head),
            ``"advantage"`` ``Q_K - V_K`` or ``"centered"`` ``Q_K - mean_a Q_K`` (the graph
            planners' default); see :class:`~gvin.grid.layout.GridPolicyHead`.
        advantage: the older flag (``True``: ``"advantage"``, ``False``: ``"raw"``).

    Shapes:
        x ``[B, C, H, W]`` → :class:`~gvin.grid.layout.GridPlannerOutput`.
    """

    def __init__(
        self,
        in_channels: int = 2,
        kernel_size: int = 3,
        connectivity: int = 4,
        num_actions: int = 16,
        hidden_channels: int = 150,
        num_iterations: int = 20,
        gamma: float = 1.0,
        head: str = "raw",
        advantage: bool | None = None,
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
        self.connectivity = connectivity
        self.num_actions = num_actions
        self.num_iterations = num_iterations
        self.gamma = gamma
        self.encoder = nn.Conv2d(in_channels, hidden_channels, size, padding=pad, bias=True)
        self.reward = nn.Conv2d(hidden_channels, 1, 1, bias=False)
        self.reward_kernel = nn.Conv2d(1, num_actions, size, padding=pad, bias=False)
        self.value_kernel = nn.Conv2d(1, num_actions, size, padding=pad, bias=False)
        self.head = GridPolicyHead(num_actions, connectivity, successor_value=True, head=head, advantage=advantage)

    def reward_map(self, x: Tensor) -> Tensor:
        """``R [B, A, H, W]``."""
        return self.reward_kernel(self.reward(self.encoder(x)))

    def backup(self, v: Tensor, reward: Tensor) -> tuple[Tensor, Tensor]:
        """One Bellman backup: ``V [B, 1, H, W]`` → ``(Q [B, A, H, W], V [B, 1, H, W])``."""
        q = reward + self.gamma * self.value_kernel(v)
        return q, q.max(dim=1, keepdim=True).values

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
        reward = self.reward_map(x)
        v = x.new_zeros(x.shape[0], 1, *x.shape[2:])
        kept: dict[int, Tensor] = {}
        for k in range(1, depth + 1):
            q, v = self.backup(v, reward)
            if k in wanted:
                kept[k] = self.head(q, v[:, 0], free)
        return GridPlannerOutput(self.head(q, v[:, 0], free), q, v[:, 0], kept)
