"""GPPN as a ConvLSTM / ConvGRU on 2-D grids: the reference for :class:`gvin.models.GPPN`."""
from __future__ import annotations

from typing import Iterable

from torch import Tensor, nn

from gvin._checks import positive_int
from gvin.grid.layout import (
    GridPlannerOutput,
    GridPolicyHead,
    check_depth,
    check_input,
    check_kernel_size,
)


class GridGPPN(nn.Module):
    r"""GPPN (official form): one conv message channel feeds a cell shared by all grid cells.

    .. math::
        z = \mathrm{conv}_F(x),\quad h_0 = \mathrm{conv}_F(z),\quad c_0 = \mathrm{conv}_F(z),\quad
        u_k = \mathrm{conv}_F(h_{k-1}) \in \mathbb{R}^{1},\quad
        (h_k, c_k) = \mathrm{LSTMCell}(u_k, (h_{k-1}, c_{k-1}))

    applied per cell (``cell="gru"``: a GRU, no ``c``). The head scores move ``m``
    as ``h_K · w_m``. ``q`` in the output is ``h``, ``v`` is zeros.

    Args:
        in_channels: input channels.
        kernel_size: ``F`` of every conv.
        connectivity: 4 or 8 moves.
        hidden_channels: ``l_h``.
        num_iterations: default ``K``.
        cell: ``"lstm"`` or ``"gru"``.

    Shapes:
        x ``[B, C, H, W]`` → :class:`~gvin.grid.layout.GridPlannerOutput`.
    """

    def __init__(
        self,
        in_channels: int = 2,
        kernel_size: int = 3,
        connectivity: int = 4,
        hidden_channels: int = 64,
        num_iterations: int = 20,
        cell: str = "lstm",
    ):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        size = check_kernel_size(kernel_size)
        in_channels = positive_int(in_channels, "in_channels")
        hidden_channels = positive_int(hidden_channels, "hidden_channels")
        num_iterations = positive_int(num_iterations, "num_iterations")
        pad = size // 2
        self.in_channels = in_channels
        self.kernel_size = size
        self.connectivity = connectivity
        self.hidden_channels = hidden_channels
        self.num_iterations = num_iterations
        self.cell_type = cell
        self.encoder = nn.Conv2d(in_channels, hidden_channels, size, padding=pad)
        self.h0 = nn.Conv2d(hidden_channels, hidden_channels, size, padding=pad)
        self.c0 = nn.Conv2d(hidden_channels, hidden_channels, size, padding=pad) if cell == "lstm" else None
        self.message = nn.Conv2d(hidden_channels, 1, size, padding=pad)
        self.cell = nn.LSTMCell(1, hidden_channels) if cell == "lstm" else nn.GRUCell(1, hidden_channels)
        self.head = GridPolicyHead(hidden_channels, connectivity, successor_value=False)

    def step(self, h: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """One recurrent update of ``h, c [B, l_h, H, W]``, the cell applied at every grid cell."""
        batch, channels, height, width = h.shape
        u = self.message(h)  # [B, 1, H, W]

        def per_cell(t: Tensor) -> Tensor:  # [B, C, H, W] -> [B·H·W, C]
            return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])

        def to_grid(t: Tensor) -> Tensor:  # [B·H·W, C] -> [B, C, H, W]
            return t.view(batch, height, width, channels).permute(0, 3, 1, 2)

        if c is None:
            return to_grid(self.cell(per_cell(u), per_cell(h))), None
        h_new, c_new = self.cell(per_cell(u), (per_cell(h), per_cell(c)))
        return to_grid(h_new), to_grid(c_new)

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
        z = self.encoder(x)
        h = self.h0(z)
        c = self.c0(z) if self.c0 is not None else None
        v = x.new_zeros(x.shape[0], *x.shape[2:])
        kept: dict[int, Tensor] = {}
        for k in range(1, depth + 1):
            h, c = self.step(h, c)
            if k in wanted:
                kept[k] = self.head(h, v, free)
        return GridPlannerOutput(self.head(h, v, free), h, v, kept)
