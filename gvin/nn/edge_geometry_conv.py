"""Convolutions whose kernel is a function of edge geometry (GVIN-style), for graphs without edge types."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gvin import _checks as check
from gvin.nn.chunks import over_edge_chunks
from gvin.nn.rows import scatter_rows


def check_edge_attr(edge_attr: Tensor, edge_dim: int, num_edges: int | None = None) -> None:
    """Raise a ``ValueError`` unless ``edge_attr`` is a float ``[E, edge_dim]`` tensor."""
    if not isinstance(edge_attr, Tensor):
        raise TypeError(f"edge_attr must be a Tensor, got {type(edge_attr).__name__}")
    if not edge_attr.is_floating_point():
        raise ValueError(f"edge_attr must be a float tensor, got {edge_attr.dtype}")
    if edge_attr.dim() != 2 or edge_attr.shape[1] != edge_dim:
        raise ValueError(f"edge_attr must be [E, edge_dim={edge_dim}], got {tuple(edge_attr.shape)}")
    if num_edges is not None and edge_attr.shape[0] != num_edges:
        raise ValueError(f"edge_attr has {edge_attr.shape[0]} rows but edge_index has {num_edges} edges")


class EdgeMLP(nn.Module):
    r"""A small MLP applied to every edge's attributes: ``[E, D] → [E, C]``.

    .. math::
        f(\mathbf{a}) = W_2\, \mathrm{ReLU}(W_1 \mathbf{a} + \mathbf{b}_1) + \mathbf{b}_2
        \quad (\text{or } W \mathbf{a} + \mathbf{b} \text{ when } \texttt{hidden} \text{ is } 0/\texttt{None})

    Args:
        edge_dim: ``D``.
        out_channels: ``C``.
        hidden: width of the hidden layer; ``None`` or ``0`` for a linear map.
        output_gain: scales the initial weights of the last layer (``< 1`` starts
            near zero, e.g. for a value kernel that a deep unroll multiplies).

    Shapes:
        edge_attr ``[E, D]`` → ``[E, C]``; on large graphs in chunks of edges whose hidden layers
        are recomputed in the backward pass (:func:`gvin.nn.chunks.over_edge_chunks`; same values).
    """

    def __init__(self, edge_dim: int, out_channels: int, hidden: int | None = 32, output_gain: float = 1.0):
        super().__init__()
        self.edge_dim = edge_dim = check.positive_int(edge_dim, "edge_dim")
        self.out_channels = out_channels = check.positive_int(out_channels, "out_channels")
        self.output_gain = check.real(output_gain, "output_gain")
        hidden = check.optional_width(hidden, "hidden")
        if hidden:
            self.net = nn.Sequential(nn.Linear(edge_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_channels))
        else:
            self.net = nn.Sequential(nn.Linear(edge_dim, out_channels))
        self.reset_parameters()

    @property
    def last(self) -> nn.Linear:
        return self.net[-1]

    def reset_parameters(self) -> None:
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        with torch.no_grad():
            self.last.weight.mul_(self.output_gain)
            self.last.bias.mul_(self.output_gain)

    def forward(self, edge_attr: Tensor) -> Tensor:
        check_edge_attr(edge_attr, self.edge_dim)
        if edge_attr.dtype != self.last.weight.dtype:
            raise ValueError(
                f"edge_attr is {edge_attr.dtype} but the layer's weights are {self.last.weight.dtype}; "
                "cast one to the other"
            )
        if len(self.net) == 1:  # linear: nothing to recompute
            return self.net(edge_attr)
        return over_edge_chunks(self.net, edge_attr)


class EdgeGeometryConv(nn.Module):
    r"""Sum aggregation with a weight matrix computed from each edge's attributes.

    .. math::
        \mathbf{x}'_s = \mathbf{b} + \sum_{e=(s,s')} \mathbf{W}(\mathbf{a}_e)^\top \mathbf{x}_{s'},
        \qquad \mathbf{W}(\mathbf{a}) = \sum_{j=1}^{B} \varphi_j(\mathbf{a})\, \mathbf{W}_j

    aggregated at the *source* ``s`` (value flows against the transition), with
    ``a_e = edge_attr[e]`` (displacement ``pos[s'] - pos[s]``, cost, …) and
    ``φ`` a small :class:`EdgeMLP` (``self.basis``): a learned mixture of ``B``
    kernel matrices, GVIN-style. It is NNConv's edge network with its last layer
    factored through ``B`` matrices, so memory stays at ``E·B·min(C_in, C_out)``
    instead of ``E·C_in·C_out``.

    The grid case is the special case ``B = T`` and ``φ(a_e) = onehot(τ(e))``:
    then ``W(a_e) = W_{τ(e)}`` and the layer equals
    :class:`~gvin.nn.EdgeTypeConv` with ``weight = self.weight``.

    Args:
        in_channels: ``C_in``.
        out_channels: ``C_out``.
        edge_dim: ``D``, the width of ``edge_attr``.
        num_bases: ``B``, kernel matrices mixed per edge.
        hidden: hidden width of ``φ`` (``None``/``0``: ``φ`` is linear).
        bias: learn ``b``.

    Shapes:
        x ``[N, C_in]``, edge_index ``[2, E]``, edge_attr ``[E, D]`` → ``[N, C_out]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        edge_dim: int,
        num_bases: int = 8,
        hidden: int | None = 32,
        bias: bool = True,
    ):
        super().__init__()
        self.in_channels = in_channels = check.positive_int(in_channels, "in_channels")
        self.out_channels = out_channels = check.positive_int(out_channels, "out_channels")
        self.edge_dim = edge_dim = check.positive_int(edge_dim, "edge_dim")
        self.num_bases = num_bases = check.positive_int(num_bases, "num_bases")
        self.basis = EdgeMLP(edge_dim, num_bases, hidden)
        self.weight = nn.Parameter(torch.empty(num_bases, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.basis.reset_parameters()
        # As EdgeTypeConv: fan-in of C_in channels times B kernels.
        bound = 1.0 / math.sqrt(self.in_channels * self.num_bases)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        check.features(x, "x", self.in_channels, self.weight)
        num_edges = check.edge_index(edge_index, x.shape[0])
        check_edge_attr(edge_attr, self.edge_dim, num_edges)
        out = self.aggregate(x, edge_index, edge_attr)
        return out if self.bias is None else out + self.bias

    def aggregate(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        r"""``Σ_{e=(s,s')} (Σ_j φ(a_e)_j W_j)^T x_{s'}`` (no bias). The per-edge part (``φ`` and the
        messages) runs in chunks of edges on large graphs (:func:`gvin.nn.chunks.over_edge_chunks`),
        so neither ``φ``'s hidden layer nor the messages are kept whole for the backward pass."""
        src, dst = edge_index
        num_nodes = x.shape[0]
        if self.out_channels <= self.in_channels:
            # Transform every node once per basis, mix per edge: [E, C_out] messages.
            transformed = torch.einsum("nc,bco->nbo", x, self.weight)

            def messages(attr: Tensor, target: Tensor) -> Tensor:
                return torch.einsum("eb,ebo->eo", self.basis(attr), transformed[target])

            return scatter_rows(over_edge_chunks(messages, edge_attr, dst), src, num_nodes)

        # Aggregate the mixed inputs first ([E, B·C_in] messages), transform once per node.
        def mixed_inputs(attr: Tensor, target: Tensor) -> Tensor:
            return (self.basis(attr).unsqueeze(-1) * x[target].unsqueeze(1)).flatten(1)

        mixed = over_edge_chunks(mixed_inputs, edge_attr, dst)
        aggregated = scatter_rows(mixed, src, num_nodes)
        return aggregated @ self.weight.reshape(-1, self.out_channels)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, edge_dim={self.edge_dim}, "
            f"num_bases={self.num_bases}, bias={self.bias is not None}"
        )
