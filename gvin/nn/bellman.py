r"""The Bellman backup as message passing: transitions and one layer of value iteration.

One layer (a Bellman backup in a latent MDP with ``A`` actions):

.. math::
    Q_k[s, a] = R[s, a] + \gamma \sum_{e=(s,s')} P[e, a]\, V_{k-1}[s'], \qquad
    V_k[s] = \max_a Q_k[s, a].

The sum runs over the out-edges of ``s`` (aggregation at ``edge_index[0]``): a
node without out-edges gets ``Q = R``, exactly as a zero-padded conv treats the
border, never a filled-in 0 inside a max. The max is over actions, not edges.

A *transition* is the linear map ``T: V ↦ Σ_e P[e, a] V[s']``:
:class:`EdgeTransition` scatters over an edge list (or gathers over its padded
neighbour table, :mod:`gvin.nn.neighbour_table`), :class:`StencilTransition`
gathers over the dense slot table of a grid graph. All give the same numbers,
and both expose the vector-Jacobian product of ``T`` (:meth:`vjp`), which the
memory-compact backward (:mod:`gvin.nn.deep`) and implicit solvers reuse.

This module is the layer under :mod:`gvin.nn.deep`, :mod:`gvin.nn.value_iteration`
and :mod:`gvin.nn.implicit`, which run many layers; :mod:`gvin.nn.value_iteration`
re-exports its names.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass, replace
from typing import Callable, Protocol

import torch
from torch import Tensor

from gvin.nn.neighbour_table import NeighbourTable
from gvin.nn.rows import gather_rows, scatter_rows
from gvin.nn.stencil import GridLayout, Stencil


class Transition(Protocol):
    """``V [N] → Σ_{e=(s,s')} P[e, a] V[s']  [N, A]`` with weights ``weight``."""

    weight: Tensor

    def __call__(self, values: Tensor) -> Tensor: ...

    def actions_first(self, values: Tensor) -> Tensor: ...

    def with_weight(self, weight: Tensor) -> "Transition": ...

    def vjp(self, values: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]: ...

    def vjp_argmax(self, values: Tensor, grad: Tensor, action: Tensor, grad_weight: Tensor) -> Tensor: ...

    def argmax_transpose(self, action: Tensor) -> Callable[[Tensor], Tensor]: ...


@dataclass
class EdgeTransition:
    """Transition weights per edge: ``weight [E, A]`` on ``edge_index [2, E]``.

    With a :class:`~gvin.nn.neighbour_table.NeighbourTable` of this ``edge_index`` (:meth:`on_table`),
    :meth:`actions_first` gathers over the table and scatters only the edges that overflow it; the
    numbers are the same.
    """

    weight: Tensor
    edge_index: Tensor
    num_nodes: int
    table: NeighbourTable | None = None

    def __call__(self, values: Tensor) -> Tensor:
        if values.shape != (self.num_nodes,):
            raise ValueError(f"values must be [N]={self.num_nodes}, got {tuple(values.shape)}")
        # One application (a reward's expectation, a solver's last step): on the edge list even with a
        # table, so that autograd keeps [E] neighbour values, not a laid-out copy of the weights.
        src, dst = self.edge_index
        messages = self.weight * gather_rows(values, dst).unsqueeze(-1)
        return scatter_rows(messages, src, self.num_nodes)

    def actions_first(self, values: Tensor, base: Tensor | None = None, alpha: float = 1.0) -> Tensor:
        """``base + alpha · T(V)`` as ``[A, N]`` (see :meth:`StencilTransition.actions_first`)."""
        if self.table is None:
            out = self(values).T
            return out if base is None else torch.add(base, out, alpha=alpha)
        if base is None:
            alpha = 1.0
        out = sweep_slots(self.table_weight, self.table.row_gatherer(values), base, alpha)
        src, dst = self.table.overflow_edge_index
        if src.numel():
            out = out.index_add_(1, src, self.overflow_weight * values.index_select(0, dst), alpha=alpha)
        return out

    @property
    def table_weight(self) -> Tensor:
        """``weight`` laid out on the table, ``[D, A, N]`` (made once per transition; see
        :func:`cached_layout`)."""
        return cached_layout(self, "_table_weight", self.weight, self.table.lay_out)

    @property
    def overflow_weight(self) -> Tensor:
        """``weight`` of the edges past the table, ``[A, E_o]``."""
        return cached_layout(self, "_overflow_weight", self.weight, self.table.overflow_rows)

    def with_weight(self, weight: Tensor) -> "EdgeTransition":
        return replace(self, weight=weight)

    def on_table(self, table: NeighbourTable | None) -> "EdgeTransition":
        """This transition on a padded neighbour table of its ``edge_index``
        (:func:`gvin.nn.neighbour_table.neighbour_table`; ``None``: the edge list alone)."""
        if table is not None and not isinstance(table, NeighbourTable):
            raise TypeError(f"table must be a NeighbourTable (gvin.nn.neighbour_table) or None, got {type(table).__name__}")
        if table is not None and (
            (table.num_nodes, table.num_edges) != (self.num_nodes, self.edge_index.shape[1])
            or not torch.equal(table.overflow_edge_index, self.edge_index[:, table.overflow])
        ):
            raise ValueError(
                f"the table is for {table.num_nodes} nodes and {table.num_edges} edges of another edge_index, "
                f"the transition for {self.num_nodes} nodes and {self.edge_index.shape[1]} edges"
            )
        return replace(self, table=table)

    def absorbing(self, nodes: Tensor) -> "EdgeTransition":
        """The transition with ``nodes [N]`` (bool) made absorbing: each such node that has a self-loop
        moves to itself with probability 1 under every action (nodes without one keep their weights)."""
        src, dst = self.edge_index
        loop = src == dst
        has_loop = torch.zeros_like(nodes).index_fill_(0, src[loop], True)
        pinned = (nodes & has_loop)[src]
        weight = torch.where(pinned.unsqueeze(-1), loop.unsqueeze(-1).to(self.weight.dtype), self.weight)
        return self.with_weight(weight)

    def expect(self, edge_values: Tensor) -> Tensor:
        """``Σ_{e=(s,·)} P[e, a] c_e`` ``[N, A]`` for per-edge values ``c [E]`` (e.g. a move's cost)."""
        return scatter_rows(self.weight * edge_values.unsqueeze(-1), self.edge_index[0], self.num_nodes)

    def vjp(self, values: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
        """For ``G = ∂ℓ/∂T(V) [N, A]``: ``(∂ℓ/∂V [N], ∂ℓ/∂weight [E, A])``."""
        src, dst = self.edge_index
        grad_weight = grad[src] * values[dst].unsqueeze(-1)
        grad_values = values.new_zeros(self.num_nodes).index_add_(0, dst, (self.weight * grad[src]).sum(-1))
        return grad_values, grad_weight

    def weight_gradient(self) -> "Tensor | TableGradient":
        """A zero accumulator of ``∂ℓ/∂weight`` for :meth:`vjp_argmax` to add into: ``[E, A]``, or on a
        table a :class:`TableGradient` (``+=`` an ``[E, A]`` update; :func:`gradient_tensor` at the end)."""
        if self.table is None:
            return torch.zeros_like(self.weight)
        return TableGradient(self.table, self.weight.new_zeros(self.table_weight.shape), torch.zeros_like(self.weight))

    def vjp_argmax(self, values: Tensor, grad: Tensor, action: Tensor, grad_weight: "Tensor | TableGradient") -> Tensor:
        """:meth:`vjp` for ``G[s, a] = grad[s] · 1[a = action[s]]``; adds into ``grad_weight``
        (``[E, A]`` or this transition's :meth:`weight_gradient`)."""
        if isinstance(grad_weight, TableGradient):
            return self._table_vjp_argmax(values, grad, action, grad_weight)
        src, dst = self.edge_index
        edge_action = action[src].unsqueeze(-1)
        edge_grad = grad[src]
        grad_weight.scatter_add_(1, edge_action, (edge_grad * values[dst]).unsqueeze(-1))
        chosen = self.weight.gather(1, edge_action).squeeze(-1)
        return values.new_zeros(self.num_nodes).index_add_(0, dst, chosen * edge_grad)

    def _table_vjp_argmax(self, values: Tensor, grad: Tensor, action: Tensor, grad_weight: "TableGradient") -> Tensor:
        """:meth:`vjp_argmax` on the table, all in its ``[D, A, N]`` layout: slot ``(j, s)``'s chosen
        weight ``P[e, action[s]]`` gets ``grad[s] · V[s']``, and ``V[s']`` gets ``P[e, action[s]] · grad[s]``;
        the overflow edges as on an edge list."""
        table, weight = self.table, self.table_weight  # [D, A, N]
        chosen_row = action.unsqueeze(0)  # [1, N]: the row of each column's chosen action
        neighbour_values = table.row_gatherer(values)
        out = values.new_zeros(table.num_nodes + 1)  # + the pad node of empty slots
        for slot in range(table.depth):  # row by row, as the forward sweep (no [D, N] buffer a layer)
            grad_weight.slots[slot].scatter_add_(0, chosen_row, (neighbour_values(slot) * grad).unsqueeze(0))
            chosen = weight[slot].gather(0, chosen_row).squeeze(0)  # [N]: P[e, action[s]]
            out.index_add_(0, table.neighbour[slot], chosen * grad)
        out = out[: table.num_nodes]
        src, dst = table.overflow_edge_index
        if src.numel():
            edge_action, edge_grad = action[src], grad[src]
            grad_weight.edges.index_put_((table.overflow, edge_action), edge_grad * values[dst], accumulate=True)
            chosen = self.overflow_weight.gather(0, edge_action.unsqueeze(0)).squeeze(0)
            out.index_add_(0, dst, chosen * edge_grad)
        return out

    def argmax_transpose(self, action: Tensor) -> Callable[[Tensor], Tensor]:
        """``w [N] ↦ Σ_{e=(s,s')} P[e, action[s]] w[s]`` summed at ``s'``: the transpose of
        ``V ↦ T(V)[s, action[s]]``, with the chosen weights gathered once (for implicit backward solves)."""
        src, dst = self.edge_index
        chosen = self.weight.gather(1, action[src].unsqueeze(-1)).squeeze(-1)  # [E]
        return lambda grad: grad.new_zeros(self.num_nodes).index_add_(0, dst, chosen * grad[src])


@dataclass
class TableGradient:
    """``∂ℓ/∂weight`` of an :class:`EdgeTransition` on a table, summed in the table's layout over the
    layers of a backward pass (``slots [D, A, N]``: a per-column scatter along the short action axis,
    far faster than one into ``[E, A]`` per layer) plus ``edges [E, A]`` for the rest (``+=`` adds there)."""

    table: NeighbourTable
    slots: Tensor
    edges: Tensor

    def __iadd__(self, update: Tensor) -> "TableGradient":
        self.edges += update
        return self

    def to_edges(self) -> Tensor:
        """The whole gradient as ``[E, A]``."""
        filled = self.table.edge != self.table.num_edges  # [D, N]
        rows = self.slots.permute(0, 2, 1)[filled]  # [V, A], in the order of table.edge[filled]
        return self.edges.index_add_(0, self.table.edge[filled], rows)


def gradient_tensor(grad_weight: "Tensor | TableGradient") -> Tensor:
    """A weight-gradient accumulator (:meth:`EdgeTransition.weight_gradient`) as a tensor of the weight's shape."""
    return grad_weight.to_edges() if isinstance(grad_weight, TableGradient) else grad_weight


def new_weight_gradient(transition: "Transition", weight: Tensor) -> "Tensor | TableGradient":
    """The transition's own accumulator (:meth:`EdgeTransition.weight_gradient`) or zeros like ``weight``."""
    make = getattr(transition, "weight_gradient", None)
    return make() if make is not None else torch.zeros_like(weight)


@dataclass
class StencilTransition:
    """Transition weights on a stencil: ``weight [N, S, A]`` per node, or ``[S, A]`` shared.

    Empty slots read a zero value, so their weight does not matter; shared
    weights (VIN) turn a layer into one ``[N, S] @ [S, A]`` matrix product.
    """

    weight: Tensor
    stencil: Stencil

    def __call__(self, values: Tensor) -> Tensor:
        return self.actions_first(values).T

    def actions_first(self, values: Tensor, base: Tensor | None = None, alpha: float = 1.0) -> Tensor:
        """``T(V)`` as ``[A, N]``: the layout value iteration sweeps in; ``base + alpha · T(V)``
        when ``base [A, N]`` is given (a Bellman backup's ``R + γ T(V)`` in one pass).

        Nodes run along the last, long axis, so each slot is one multiply-add over
        ``A × N`` contiguous numbers (a ``[N, S, A]`` product with a sum over ``S``
        would write and reread an ``N·S·A`` temporary, with ``A`` as short as 4 innermost).
        """
        if self.weight.dim() == 2 and self._grid_conv_applies():
            out = grid_conv(values, self.weight, self.stencil.layout)
            return out if base is None else torch.add(base, out, alpha=alpha)
        layout = self.stencil.layout
        if self.weight.dim() == 3 and layout is not None:  # each slot reads a shifted window of the grids
            grids = (layout.batch, *layout.shape)
            weight = self.slot_major_weight.view(*self.slot_major_weight.shape[:2], *grids)  # [S, A, B, *shape]
            base = None if base is None else base.view(base.shape[0], *grids)
            out = sweep_slots(weight, self.stencil.grid_windows(values), base, alpha)
            return out.reshape(out.shape[0], -1)
        neighbour_values = self.stencil.gather_slot_major(values)  # [S, N]
        if self.weight.dim() == 2:
            if base is None:
                return self.weight.T @ neighbour_values
            return torch.addmm(base, self.weight.T, neighbour_values, alpha=alpha)
        return sweep_slots(self.slot_major_weight, neighbour_values, base, alpha)

    def _grid_conv_applies(self) -> bool:
        """Shared weights on whole grids of 1–3 dimensions with few actions run as a grid conv, on CPU.

        Measured on CPU (``benchmarks/bench_vi_layer.py``): the conv beats the gather and
        product up to a few dozen actions; with more, the product writes ``[A, N]``
        directly while the conv's ``[B, A, *grid]`` output needs a transposing copy. Not on
        CUDA: cuDNN convolutions may run float32 in TF32 by default (matrix products do not),
        which would make the fast path differ from the general one.
        """
        layout = self.stencil.layout
        return (
            layout is not None and self.weight.device.type == "cpu" and len(layout.shape) in _CONVS
            and self.weight.shape[1] <= GRID_CONV_MAX_ACTIONS
        )

    @property
    def slot_major_weight(self) -> Tensor:
        """Per-node weights ``[N, S, A]`` as ``[S, A, N]``, laid out once per transition (all layers
        share it; see :func:`cached_layout`)."""
        return cached_layout(self, "_slot_major", self.weight, lambda w: w.permute(1, 2, 0).contiguous())

    def with_weight(self, weight: Tensor) -> "StencilTransition":
        return replace(self, weight=weight)

    def absorbing(self, nodes: Tensor) -> "StencilTransition":
        """See :meth:`EdgeTransition.absorbing` (per-node weights ``[N, S, A]`` only)."""
        if self.weight.dim() != 3:
            raise ValueError("only per-node transition weights [N, S, A] can make single nodes absorbing")
        loop = self.stencil.neighbour == torch.arange(self.stencil.num_nodes, device=nodes.device).unsqueeze(1)
        pinned = (nodes & loop.any(1)).view(-1, 1, 1)
        weight = torch.where(pinned, loop.unsqueeze(-1).to(self.weight.dtype), self.weight)
        return self.with_weight(weight)

    def expect(self, edge_values: Tensor) -> Tensor:
        """See :meth:`EdgeTransition.expect`: ``[N, A]`` for ``c [E]`` (empty slots hold no edge)."""
        dense = self.stencil.to_dense(edge_values).unsqueeze(-1)  # [N, S, 1]
        weight = self.weight if self.weight.dim() == 3 else self.weight.unsqueeze(0)
        return (weight * dense).sum(1)

    def vjp(self, values: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
        """For ``G = ∂ℓ/∂T(V) [N, A]``: ``(∂ℓ/∂V [N], ∂ℓ/∂weight)``."""
        neighbour_values = self.stencil.gather(values)  # [N, S]
        if self.weight.dim() == 2:
            grad_weight = neighbour_values.T @ grad
            per_slot = grad @ self.weight.T
        else:
            grad_weight = neighbour_values.unsqueeze(-1) * grad.unsqueeze(1)
            per_slot = (self.weight * grad.unsqueeze(1)).sum(-1)
        return self.stencil.scatter(per_slot), grad_weight

    def vjp_argmax(self, values: Tensor, grad: Tensor, action: Tensor, grad_weight: Tensor) -> Tensor:
        """:meth:`vjp` for ``G[s, a] = grad[s] · 1[a = action[s]]``; adds into ``grad_weight``."""
        neighbour_values = self.stencil.gather(values)  # [N, S]
        if self.weight.dim() == 2:  # only column action[s] of W is used at s: O(N·S), not O(N·S·A)
            grad_weight.index_add_(1, action, (grad.unsqueeze(-1) * neighbour_values).T)
            chosen = self.weight[:, action].T  # [N, S]: W[slot, a*(s)]
            return self.stencil.scatter(chosen * grad.unsqueeze(-1))
        index = action.view(-1, 1, 1).expand(-1, self.weight.shape[1], 1)
        grad_weight.scatter_add_(2, index, (grad.unsqueeze(-1) * neighbour_values).unsqueeze(-1))
        chosen = self.weight.gather(2, index).squeeze(-1)  # [N, S]: P[s, slot, a*(s)]
        return self.stencil.scatter(chosen * grad.unsqueeze(-1))

    def argmax_transpose(self, action: Tensor) -> Callable[[Tensor], Tensor]:
        """See :meth:`EdgeTransition.argmax_transpose`."""
        if self.weight.dim() == 2:
            chosen = self.weight[:, action].T  # [N, S]: W[slot, a*(s)]
        else:
            index = action.view(-1, 1, 1).expand(-1, self.weight.shape[1], 1)
            chosen = self.weight.gather(2, index).squeeze(-1)
        return lambda grad: self.stencil.scatter(chosen * grad.unsqueeze(-1))


def sweep_slots(weight: Tensor, neighbour_values: "Tensor | Callable[[int], Tensor]", base: Tensor | None = None,
                alpha: float = 1.0) -> Tensor:
    """``base + alpha · Σ_j weight[j] · n_j`` as ``[A, N]``, for ``weight [S, A, N]`` and slot ``j``'s
    neighbour values ``n_j [N]``: one multiply-add over ``A × N`` contiguous numbers per slot.

    ``neighbour_values`` is ``[S, N]`` or a function ``j ↦ n_j`` that makes each row when it is
    needed, so no ``[S, N]`` buffer is allocated per layer (on a 1M-node graph that is 40 MB, past
    glibc's 32 MB ``mmap`` threshold: fresh pages whose faults took ~30 ms a layer).
    """
    row = neighbour_values.__getitem__ if isinstance(neighbour_values, Tensor) else neighbour_values
    if base is None:
        out, alpha = weight[0] * row(0), 1.0
    else:
        out = torch.addcmul(base, weight[0], row(0), value=alpha)
    for slot in range(1, weight.shape[0]):
        out = out.addcmul_(weight[slot], row(slot), value=alpha)
    return out


def cached_layout(owner: object, name: str, weight: Tensor, lay_out: Callable[[Tensor], Tensor]) -> Tensor:
    """``lay_out(weight)``, kept on ``owner`` under ``name`` so that all layers share one copy.

    The copy is remade when ``weight`` is another tensor or changed in place, when ``owner``'s
    ``table`` was replaced, or when it was made without gradient tracking and is now needed with it
    (a solver's forward runs under ``no_grad``, its backward with grad), so it never goes stale.
    """
    version = -1 if weight.is_inference() else weight._version  # inference tensors have none
    tracked = torch.is_grad_enabled() and weight.requires_grad
    key = (weakref.ref(weight), version, id(getattr(owner, "table", None)))  # a reassigned weight or table: remade
    cached = owner.__dict__.get(name)
    if cached is None or cached[0][0]() is not weight or cached[0][1:] != key[1:] or (
        tracked and not cached[1].requires_grad
    ):
        cached = (key, lay_out(weight))
        owner.__dict__[name] = cached
    return cached[1]


GRID_CONV_MAX_ACTIONS = 32
"""The most latent actions for which :class:`StencilTransition` runs shared weights as a grid conv
(CPU, one thread: the conv takes 0.3–0.7× the product's time up to 32 actions, up to 4× it at 48–64)."""

_CONVS = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}


def grid_conv(values: Tensor, weight: Tensor, layout: GridLayout) -> Tensor:
    """``T(V)`` as ``[A, N]`` for shared weights ``[S, A]`` on nodes laid out as whole grids:
    one zero-padded convolution, equal to the stencil gather and product.

    Slot ``j`` at offset ``o_j`` reads ``V[cell + o_j]``: a cross-correlation whose kernel
    holds ``weight[j]`` at ``o_j + r`` (``r`` the stencil radius; cells of the window no
    slot covers stay 0).
    """
    radius, ndim = layout.radius, len(layout.shape)
    side = 2 * radius + 1
    index = torch.tensor(layout.kernel_positions, device=weight.device)
    kernel = weight.new_zeros(weight.shape[1], side**ndim).index_copy(1, index, weight.T)
    grid = values.view(layout.batch, 1, *layout.shape)
    out = _CONVS[ndim](grid, kernel.view(weight.shape[1], 1, *[side] * ndim), padding=radius)  # [B, A, *grid]
    return out.transpose(0, 1).reshape(weight.shape[1], -1)


def bellman_backup(
    values: Tensor, reward: Tensor, transition: Transition, gamma: float = 1.0
) -> tuple[Tensor, Tensor]:
    """One layer: ``values [N]`` → ``(Q [N, A], V [N])``."""
    if values.shape != reward.shape[:1]:
        raise ValueError(f"values must be [N]={reward.shape[0]} (one per row of reward), got {tuple(values.shape)}")
    q, values, _ = backup_actions_first(values, reward.T, transition, gamma)
    return q.T, values


def backup_actions_first(
    values: Tensor, reward_t: Tensor, transition: Transition, gamma: float, need_action: bool = False
) -> tuple[Tensor, Tensor, Tensor | None]:
    """One layer in the ``[A, N]`` layout: ``(Q^T [A, N], V [N], arg-max action [N] or None)``.

    ``reward_t`` is ``R^T [A, N]``; the max over actions runs down the columns.
    The action is found when asked for (``need_action``) or when gradients must
    flow through the max; otherwise only the max is taken.
    """
    if isinstance(transition, (EdgeTransition, StencilTransition)):  # R + γ T(V) in one pass
        q = transition.actions_first(values, reward_t, gamma)
    else:  # a transition of the user's: the protocol's actions_first(values)
        q = torch.add(reward_t, transition.actions_first(values), alpha=gamma)
    values, action = max_over_actions(q, need_action)
    return q, values, action


SWEEP_MAX_ACTIONS = 32
"""The most actions :func:`max_over_actions` sweeps over on CPU (measured: at 600 actions
``max`` takes half the sweep's time; at 4–16 the sweep is up to 1.1–1.3× faster)."""


def max_over_actions(q: Tensor, need_action: bool = True) -> tuple[Tensor, Tensor | None]:
    """``Q^T [A, N]`` → ``(max [N], first arg-max [N] long or None)``, as ``q.max(dim=0)``: ties go
    to the lowest action, and the gradient flows to it alone.

    On CPU, ``max``/``argmax`` with indices down a short action axis run slower than ``amax``
    and an elementwise sweep over the actions (``torch`` 2.x), so those find them; beyond
    :data:`SWEEP_MAX_ACTIONS` actions, the sweep's per-action passes cost more than ``max``.
    """
    tracked = torch.is_grad_enabled() and q.requires_grad
    if not (need_action or tracked) and q.is_floating_point():
        return q.amax(dim=0), None
    if q.is_cuda or q.shape[0] == 1 or q.shape[0] > SWEEP_MAX_ACTIONS or not q.is_floating_point():
        return q.max(dim=0)
    rows = q.detach()
    best = rows.amax(dim=0)
    action = rows.new_zeros(rows.shape[1], dtype=torch.long)
    for index in range(rows.shape[0] - 1, 0, -1):  # downwards: the lowest maximal action is written last
        action.masked_fill_(rows[index] == best, index)
    action.masked_fill_(rows[0] == best, 0)
    if tracked:
        return q.gather(0, action.unsqueeze(0)).squeeze(0), action
    return best, action


LayerHook = Callable[[int, Tensor, Tensor], None]
"""``hook(k, Q_k [N, A], V_k [N])``: called after layer ``k`` of value iteration."""


def check_transition(reward: Tensor, transition: Transition) -> None:
    """The transition must act on ``N`` nodes with ``A`` actions and ``reward``'s dtype.

    Raises ``TypeError`` without a ``weight`` tensor, ``ValueError`` when an :class:`EdgeTransition`
    or :class:`StencilTransition` does not fit ``reward [N, A]``; other transitions are not checked further.
    """
    weight = getattr(transition, "weight", None)
    if not isinstance(weight, Tensor):
        raise TypeError(f"transition must have a weight tensor (EdgeTransition, StencilTransition), got {type(transition).__name__}")
    num_nodes, num_actions = reward.shape
    if isinstance(transition, StencilTransition):
        nodes = transition.stencil.num_nodes
        expected = "[S, A] or [N, S, A]"
        fits = (weight.dim() == 2 and weight.shape[0] == transition.stencil.num_slots) or (
            weight.dim() == 3 and weight.shape[:2] == transition.stencil.neighbour.shape
        )
    elif isinstance(transition, EdgeTransition):
        nodes = transition.num_nodes
        expected = f"[E, A] = [{transition.edge_index.shape[1]}, A]"
        fits = weight.dim() == 2 and weight.shape[0] == transition.edge_index.shape[1]
    else:
        return
    if nodes != num_nodes:
        raise ValueError(f"reward has {num_nodes} rows but the transition acts on {nodes} nodes")
    if not fits:
        raise ValueError(f"the transition weight must be {expected}, got {tuple(weight.shape)}")
    if weight.shape[-1] != num_actions:
        raise ValueError(f"reward has {num_actions} actions but the transition weight has {weight.shape[-1]}")
    if weight.dtype != reward.dtype:
        raise ValueError(f"reward is {reward.dtype} but the transition weight is {weight.dtype}; use one dtype")


__all__ = [
    "Transition",
    "EdgeTransition",
    "StencilTransition",
    "GRID_CONV_MAX_ACTIONS",
    "grid_conv",
    "bellman_backup",
    "backup_actions_first",
    "SWEEP_MAX_ACTIONS",
    "max_over_actions",
    "LayerHook",
    "check_transition",
    "TableGradient",
    "gradient_tensor",
    "new_weight_gradient",
]
