"""Weights and tensors between the graph planners and their conv references.

* :func:`grid_from_graph`: the conv reference of a graph model, with its weights.
* :func:`grid_to_graph_state`: the inverse map, a graph model's ``state_dict`` (or
  its gradients) from a conv reference.
* :func:`node_values_to_grid` / :func:`edge_values_to_grid`: node ``[N, *F]`` and
  edge ``[E]`` tensors of a :func:`gvin.from_grid` graph (or a ``Batch`` of equal
  shapes) onto the channels-first grid layout ``[B, *F, H, W]`` / ``[B, M, H, W]``.

Weight correspondence on an ``F×F`` kernel (``flat(t) = u·F + v`` where
``(u - F//2, v - F//2) = gvin.grid_stencil(2, connectivity, kernel_size)[t]``):
``EdgeTypeConv.weight[t, c_in, c_out] = Conv2d.weight[c_out, c_in, u, v]``. The default
stencil (``kernel_size=None``: self-loop and moves) sits in a 3×3 kernel whose
other entries are zero (and, for DT-VIN, masked out of the kernel softmax).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from gvin.graphs.grid import grid_stencil, move_offsets, stencil_window, to_grid
from gvin.grid.dtvin import GridDTVIN
from gvin.grid.gppn import GridGPPN
from gvin.grid.layout import GridPolicyHead, kernel_slots, move_slots
from gvin.grid.vin import GridVIN
from gvin.models import DTVIN, GPPN, VIN
from gvin.nn.edge_type_conv import EdgeTypeConv
from gvin.nn.policy import HEAD_INPUTS

GridPlanner = GridVIN | GridDTVIN | GridGPPN


@dataclass(frozen=True)
class _Layout:
    """How a graph stencil maps onto a conv kernel."""

    size: int  # F
    flat: Tensor  # [T] kernel index of each stencil slot
    moves: Tensor  # [M] stencil slot of each move direction
    num_actions: int  # A of the DT-VIN slot logits (1 elsewhere)

    @property
    def num_types(self) -> int:
        return self.flat.numel()


# -- one converter pair per kind of parameter: graph layout <-> grid layout -----------------


def _conv_to_grid(weight: Tensor, lay: _Layout) -> Tensor:
    """``[T, C_in, C_out]`` → ``[C_out, C_in, F, F]`` (zeros off the stencil)."""
    _, c_in, c_out = weight.shape
    out = weight.new_zeros(c_out, c_in, lay.size * lay.size)
    out[:, :, lay.flat.to(weight.device)] = weight.permute(2, 1, 0)
    return out.view(c_out, c_in, lay.size, lay.size)


def _conv_to_graph(weight: Tensor, lay: _Layout) -> Tensor:
    c_out, c_in = weight.shape[:2]
    return weight.reshape(c_out, c_in, -1)[:, :, lay.flat.to(weight.device)].permute(2, 1, 0)


def _value_kernel_to_grid(weight: Tensor, lay: _Layout) -> Tensor:
    """VIN's ``[T, A]`` → ``[A, 1, F, F]``."""
    return _conv_to_grid(weight.unsqueeze(1), lay)


def _value_kernel_to_graph(weight: Tensor, lay: _Layout) -> Tensor:
    return _conv_to_graph(weight, lay).squeeze(1)


def _linear_to_grid(weight: Tensor, lay: _Layout) -> Tensor:
    """``Linear.weight [C_out, C_in]`` → 1×1 ``Conv2d.weight [C_out, C_in, 1, 1]``."""
    return weight[:, :, None, None]


def _linear_to_graph(weight: Tensor, lay: _Layout) -> Tensor:
    return weight[:, :, 0, 0]


def _head_to_grid(weight: Tensor, lay: _Layout) -> Tensor:
    """Head ``[A, T]`` (one column per edge type) → ``[A, M]`` (one per move direction)."""
    return weight[:, lay.moves.to(weight.device)]


def _head_to_graph(weight: Tensor, lay: _Layout) -> Tensor:
    out = weight.new_zeros(weight.shape[0], lay.num_types)  # non-move edge types are never scored
    out[:, lay.moves.to(weight.device)] = weight
    return out


def _slot_rows(lay: _Layout) -> Tensor:
    """DT-VIN logit channel ``t·A + a`` of the graph → ``flat(t)·A + a`` of the grid."""
    actions = torch.arange(lay.num_actions)
    return (lay.flat[:, None] * lay.num_actions + actions[None, :]).reshape(-1)


def _slots_to_grid(weight: Tensor, lay: _Layout) -> Tensor:
    """DT-VIN slot logits ``Linear [T·A, C]`` / bias ``[T·A]`` → 1×1 conv ``[F²·A, C, 1, 1]`` / ``[F²·A]``."""
    out = weight.new_zeros(lay.size * lay.size * lay.num_actions, *weight.shape[1:])
    out[_slot_rows(lay).to(weight.device)] = weight
    return out[:, :, None, None] if weight.dim() == 2 else out


def _slots_to_graph(weight: Tensor, lay: _Layout) -> Tensor:
    rows = weight[_slot_rows(lay).to(weight.device)]
    return rows[:, :, 0, 0] if rows.dim() == 4 else rows


def _copy(weight: Tensor, lay: _Layout) -> Tensor:
    return weight


_Converter = tuple[Callable[[Tensor, _Layout], Tensor], Callable[[Tensor, _Layout], Tensor]]
_KINDS: dict[str, _Converter] = {
    "conv": (_conv_to_grid, _conv_to_graph),
    "value_kernel": (_value_kernel_to_grid, _value_kernel_to_graph),
    "linear": (_linear_to_grid, _linear_to_graph),
    "head": (_head_to_grid, _head_to_graph),
    "slots": (_slots_to_grid, _slots_to_graph),
    "copy": (_copy, _copy),
}


def _conv_rules(*names: str) -> dict[str, tuple[str, str]]:
    """``name.weight`` (an EdgeTypeConv) and ``name.bias`` → same names on a Conv2d."""
    rules: dict[str, tuple[str, str]] = {}
    for name in names:
        rules[f"{name}.weight"] = (f"{name}.weight", "conv")
        rules[f"{name}.bias"] = (f"{name}.bias", "copy")
    return rules


_HEAD = {"head.weight": ("head.weight", "head"), "head.beta": ("head.beta", "copy")}

# graph parameter name -> (grid parameter name, kind)
_RULES: dict[type, dict[str, tuple[str, str]]] = {
    VIN: {
        **_conv_rules("encoder", "reward_kernel"),
        "reward.weight": ("reward.weight", "linear"),
        "value_kernel": ("value_kernel.weight", "value_kernel"),
        **_HEAD,
    },
    DTVIN: {
        **_conv_rules("encoder"),
        "reward.weight": ("reward.weight", "linear"),
        "reward.bias": ("reward.bias", "copy"),
        "transition.features.weight": ("features.weight", "conv"),
        "transition.features.bias": ("features.bias", "copy"),
        "transition.logits.weight": ("logits.weight", "slots"),
        "transition.logits.bias": ("logits.bias", "slots"),
        **_HEAD,
    },
    GPPN: {
        **_conv_rules("encoder", "h0", "c0", "message"),
        **{f"cell.{n}": (f"cell.{n}", "copy") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")},
        **_HEAD,
    },
}
_GRID_OF = {VIN: GridVIN, DTVIN: GridDTVIN, GPPN: GridGPPN}
_GRAPH_OF = {grid: graph for graph, grid in _GRID_OF.items()}


def _graph_class(model: nn.Module, table: dict[type, type]) -> type:
    for cls in table:
        if isinstance(model, cls):
            return cls
    names = ", ".join(c.__name__ for c in table)
    raise TypeError(f"expected one of {names}, got {type(model).__name__}")


def _layout(connectivity: int, kernel_size: int | None, num_actions: int = 1) -> _Layout:
    size, flat = kernel_slots(connectivity, kernel_size)
    return _Layout(size, flat, move_slots(connectivity, kernel_size), num_actions)


def _plus_mask(lay: _Layout) -> Tensor:
    mask = torch.zeros(lay.size * lay.size, dtype=torch.bool)
    mask[lay.flat] = True
    return mask.view(lay.size, lay.size)


def _build_grid(model: nn.Module, connectivity: int, lay: _Layout) -> nn.Module:
    """An untrained conv reference with the graph model's hyperparameters."""
    size = lay.size
    common = dict(in_channels=model.encoder.in_channels, kernel_size=size, connectivity=connectivity)
    if isinstance(model, VIN):
        return GridVIN(**common, num_actions=model.num_actions, hidden_channels=model.encoder.out_channels,
                       num_iterations=model.num_iterations, gamma=model.gamma, head=model.head.head)
    if isinstance(model, DTVIN):
        return GridDTVIN(**common, num_actions=model.num_actions, hidden_channels=model.encoder.out_channels,
                         num_iterations=model.num_iterations, gamma=model.gamma, kernel_mask=_plus_mask(lay),
                         head=model.head.head, absorbing_goal=model.absorbing_goal,
                         move_transitions=model.move_transitions)
    return GridGPPN(**common, hidden_channels=model.encoder.out_channels,
                    num_iterations=model.num_iterations, cell=model.cell_type)


def grid_from_graph(
    graph_model: VIN | DTVIN | GPPN, connectivity: int = 4, kernel_size: int | None = None
) -> GridPlanner:
    """The conv reference of ``graph_model`` with the same weights.

    Args:
        graph_model: a :class:`~gvin.models.VIN`, :class:`~gvin.models.DTVIN` or
            :class:`~gvin.models.GPPN`.
        connectivity: the moves (4 or 8) of the graphs the model plans on.
        kernel_size: the ``kernel_size`` those graphs were built with
            (``None``: the default stencil, a 3×3 kernel with zeros off the stencil).

    Returns:
        A :class:`GridVIN`, :class:`GridDTVIN` or :class:`GridGPPN` on the same
        device and dtype, whose output on ``x [B, C, H, W]`` matches the graph
        model's output on ``from_grid(maze, connectivity=..., kernel_size=...)``.
    """
    cls = _graph_class(graph_model, _RULES)
    if getattr(graph_model, "edge_dim", None) is not None:
        raise ValueError(
            f"the {cls.__name__} plans on edge geometry (edge_dim={graph_model.edge_dim}), not on grid edge "
            "types: it has no conv reference (build it with num_edge_types=... for grid graphs)"
        )
    if getattr(graph_model, "actions", "moves") != "moves":
        raise ValueError(
            f"the conv references choose among real moves; the {cls.__name__} was built with "
            f"actions={graph_model.actions!r}, whose policy differs (it also scores moves into walls)"
        )
    stencil = grid_stencil(2, connectivity, kernel_size)
    own = getattr(graph_model, "stencil", None)
    if isinstance(own, Tensor) and (own.shape != stencil.shape or not bool((own.cpu() == stencil).all())):
        raise ValueError(
            f"the model was built for another stencil ({len(own)} offsets) than connectivity={connectivity}, "
            f"kernel_size={kernel_size} ({len(stencil)} offsets)"
        )
    if len(stencil) != graph_model.num_edge_types:
        raise ValueError(
            f"the model has num_edge_types={graph_model.num_edge_types} but the 2-D stencil with "
            f"connectivity={connectivity}, kernel_size={kernel_size} has {len(stencil)} slots"
        )
    lay = _layout(connectivity, kernel_size, getattr(graph_model, "num_actions", 1))
    reference = _build_grid(graph_model, connectivity, lay)
    some = next(graph_model.parameters())
    reference = reference.to(device=some.device, dtype=some.dtype)
    grid_params = dict(reference.named_parameters())
    rules = _RULES[cls]
    with torch.no_grad():
        for name, value in graph_model.named_parameters():
            if name not in rules:
                raise ValueError(f"no porting rule for the {cls.__name__} parameter '{name}'")
            grid_name, kind = rules[name]
            grid_params[grid_name].copy_(_KINDS[kind][0](_on_every_slot(graph_model, name, value), lay))
    return reference.train(graph_model.training)


def _on_every_slot(model: nn.Module, name: str, value: Tensor) -> Tensor:
    """The weight of a conv that reads a subset of slots (an encoder window) as a ``[T, ...]``
    weight with zeros on the other slots; any other parameter unchanged."""
    owner, _, leaf = name.rpartition(".")
    module = model.get_submodule(owner) if owner else model
    if leaf != "weight" or not isinstance(module, EdgeTypeConv) or module.slots is None:
        return value
    full = value.new_zeros(module.num_edge_types, *value.shape[1:])
    full[list(module.slots)] = value
    return full


_ENCODERS = ("encoder.weight", "h0.weight", "c0.weight")
"""The graph parameters an ``encoder_kernel_size`` window narrows (VIN's encoder; GPPN's three)."""


def grid_to_graph_state(
    grid_model: GridPlanner, kernel_size: int | None = None, grad: bool = False,
    encoder_kernel_size: int | None = None,
) -> dict[str, Tensor]:
    """The graph model's parameters (or gradients) from a conv reference.

    The inverse of :func:`grid_from_graph`: kernel entries off the stencil are
    dropped, and the head columns of edge types that are not moves are zero.
    The result loads into the matching graph model (``load_state_dict``).

    Args:
        grid_model: a conv reference.
        kernel_size: the graph stencil (``None``: the default stencil, which
            needs ``grid_model.kernel_size == 3``).
        grad: map ``.grad`` instead of the values (missing gradients are zeros).
        encoder_kernel_size: the graph model's encoder window, if it has one: its
            encoder weights keep the window's slots only (the conv's other entries,
            zero after :func:`grid_from_graph`, are dropped).

    Returns:
        ``{graph parameter name: tensor}``, and (values only) the head's
        ``head.head_reads``: what it reads, as the reference's head does (and a DT-VIN's
        ``goal_absorbs`` and ``moves_only``, as the reference does).
    """
    cls = _graph_class(grid_model, _GRAPH_OF)
    graph_cls = _GRAPH_OF[cls]
    if (kernel_size or 3) != grid_model.kernel_size:
        raise ValueError(
            f"kernel_size={kernel_size} does not fit a reference with kernel_size={grid_model.kernel_size}"
        )
    lay = _layout(grid_model.connectivity, kernel_size, getattr(grid_model, "num_actions", 1))
    if encoder_kernel_size is not None:
        window = stencil_window(grid_stencil(2, grid_model.connectivity, kernel_size), int(encoder_kernel_size))
    grid_params = dict(grid_model.named_parameters())
    state: dict[str, Tensor] = {}
    for graph_name, (grid_name, kind) in _RULES[graph_cls].items():
        if grid_name not in grid_params:  # e.g. c0 of a GRU
            continue
        param = grid_params[grid_name]
        value = param.detach()
        if grad:
            value = param.grad if param.grad is not None else torch.zeros_like(param)
        state[graph_name] = _KINDS[kind][1](value, lay).clone()
        if encoder_kernel_size is not None and graph_name in _ENCODERS and graph_cls is not DTVIN:
            state[graph_name] = state[graph_name][list(window)]
    head = getattr(grid_model, "head", None)
    if not grad and isinstance(head, GridPolicyHead):
        state["head.head_reads"] = torch.tensor(HEAD_INPUTS.index(head.head))  # what the graph head reads
    if not grad and graph_cls is DTVIN:
        state[DTVIN.GOAL_BUFFER] = torch.tensor(bool(grid_model.absorbing_goal))
        state[DTVIN.MOVES_BUFFER] = torch.tensor(bool(grid_model.move_transitions))
    return state


# -- graph tensors onto the grid layout ------------------------------------------------------


def _grid_layout(data: Data) -> tuple[tuple[int, ...], int, Tensor]:
    """``(shape, num_graphs, graph index of each node)`` of a from_grid graph or batch."""
    for key in ("cell", "grid_shape", "edge_index"):
        if getattr(data, key, None) is None:
            raise ValueError(f"the graph has no '{key}' field (build it with gvin.from_grid)")
    shapes = data.grid_shape.view(-1, data.grid_shape.shape[-1])
    if not (shapes == shapes[0]).all():
        raise ValueError("the graphs of the batch have different grid shapes; split the batch first")
    batch = getattr(data, "batch", None)
    if batch is None:
        batch = torch.zeros(data.num_nodes, dtype=torch.long, device=data.cell.device)
    return tuple(int(s) for s in shapes[0]), shapes.shape[0], batch


def node_values_to_grid(data: Data, values: Tensor, fill: float = 0.0) -> Tensor:
    """Node values ``[N, *F]`` → ``[B, *F, *shape]`` (channels first, ``B = 1`` for a single graph)."""
    _grid_layout(data)
    out = to_grid(data, values, fill=fill)
    if getattr(data, "batch", None) is None:
        out = out.unsqueeze(0)
    ndim = data.grid_shape.shape[-1]
    spatial = list(range(1, 1 + ndim))
    features = list(range(1 + ndim, out.dim()))
    return out.permute(0, *features, *spatial)


def edge_values_to_grid(
    data: Data, edge_values: Tensor, connectivity: int | None = None, fill: float = float("-inf")
) -> Tensor:
    """Per-edge values of a from_grid graph → ``[B, M, *shape]`` over the move directions.

    Edge ``e = (s, s')`` with offset ``δ = edge_attr[e]`` (the stencil offset) is
    written to ``[graph(s), m, cell(s)]`` where ``δ = gvin.move_offsets(d, connectivity)[m]``;
    edges whose offset is not a move are ignored, and cells without such an edge
    (off-grid targets, or cells that are not nodes) get ``fill``.

    Args:
        data: a graph from :func:`gvin.from_grid` or a ``Batch`` of equal grid shapes.
        edge_values: ``[E]``, e.g. the graph planner's ``log_probs``.
        connectivity: the move set (4/8 in 2-D, 6/18/26 in 3-D; default 4/6).
        fill: value where no edge exists (default ``-inf``, as a policy).

    Returns:
        ``[B, M, *shape]`` (``B = 1`` for a single graph), dtype of ``edge_values``.
    """
    shape, num_graphs, batch = _grid_layout(data)
    if not isinstance(edge_values, (Tensor, np.ndarray, list, tuple)):
        raise TypeError(f"edge_values must be an [E] tensor or array, got {type(edge_values).__name__}")
    values = torch.as_tensor(edge_values)
    num_edges = data.edge_index.shape[1]
    if values.shape != (num_edges,):
        raise ValueError(f"edge_values must be [E] = [{num_edges}], got {tuple(values.shape)}")
    moves = move_offsets(len(shape), connectivity).to(values.device)
    src, dst = data.edge_index.to(values.device)
    if getattr(data, "edge_attr", None) is not None:
        offsets = data.edge_attr.to(values.device).round().long()
    else:
        offsets = (data.pos[dst] - data.pos[src]).to(values.device).round().long()
    if offsets.shape != (num_edges, len(shape)):
        raise ValueError(f"edge offsets must be [E, {len(shape)}], got {tuple(offsets.shape)}")
    match = (offsets[:, None, :] == moves[None, :, :]).all(-1)  # [E, M]
    keep = match.any(1)
    direction = match.float().argmax(1)[keep]
    sources = src[keep]
    graph = batch.to(values.device)[sources]
    cell = data.cell.to(values.device)[sources]
    num_cells = int(torch.tensor(shape).prod())
    out = values.new_full((num_graphs, len(moves), num_cells), fill)
    out[graph, direction, cell] = values[keep]
    return out.view(num_graphs, len(moves), *shape)
