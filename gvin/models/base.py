"""The planner interface: what every planner reads from a graph and what it returns."""
from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from torch_geometric.data import Batch, Data

from gvin._checks import graph_edge_index, positive_int
from gvin.graphs.grid import describe_stencil, stencil_key, stencil_window
from gvin.nn.edge_features import EdgeFeatureTerm, edge_feature_matrix
from gvin.nn.edge_kernels import DEFAULT_NUM_EDGE_TYPES, EdgeKernels
from gvin.nn.neighbour_table import NeighbourTable, neighbour_table
from gvin.nn.stencil import Stencil, build_stencil
from gvin.nn.bellman import LayerHook, Transition
from gvin.nn.value_iteration import MEMORY_MODES, value_iteration
from gvin.planners.shortest_paths import goal_mask


@dataclass
class PlannerOutput:
    """A planner's answer on a planning graph (or a batch of them).

    Attributes:
        log_probs: ``[E]`` log-probability of each out-edge under the policy of
            its source node (``-inf`` on edges that are not moves).
        q: ``[N, A]`` latent Q-values (GPPN: hidden state) of the last layer.
        v: ``[N]`` values of the last layer (GPPN: zeros).
        intermediate: ``{layer k: log_probs [E]}`` for the layers asked for.
        layer_losses: ``{layer k: layer_loss(k, log_probs)}`` when a
            ``layer_loss`` was given instead.
        info: implicit planners: the :class:`~gvin.nn.implicit.FixedPointInfo`
            of the solves (``None`` for unrolled planners).
    """

    log_probs: Tensor
    q: Tensor
    v: Tensor
    intermediate: dict[int, Tensor] = field(default_factory=dict)
    layer_losses: dict[int, Tensor] = field(default_factory=dict)
    info: Any = None


@dataclass
class GraphInputs:
    """The fields of a planning graph that a planner needs, checked once.

    ``choice [E]`` marks the edges the policy chooses among: the moves, or on
    grids every move direction from a free cell (``data.action``). A typed
    planner reads ``edge_type`` (and may use the ``stencil``); a geometric one
    reads ``edge_attr`` (the other is ``None``). An edge-aware typed planner
    also reads ``edge_features [E, D + 1]``
    (:func:`~gvin.nn.edge_features.edge_feature_matrix` of ``edge_attr`` and the moves).
    """

    x: Tensor
    edge_index: Tensor
    edge_type: Tensor | None
    choice: Tensor
    stencil: Stencil | None
    edge_attr: Tensor | None = None
    edge_features: Tensor | None = None
    goal: Tensor | None = None
    moves: Tensor | None = None
    gathers: bool = False

    @functools.cached_property
    def neighbour_table(self) -> NeighbourTable | None:
        """The padded neighbour table of an edge list (:func:`~gvin.nn.neighbour_table.neighbour_table`), built on
        first use (value iteration reads it; GPPN never does); ``None`` with a stencil, when the
        planner scatters (``use_stencil=False``) or when the degrees are too uneven."""
        if not self.gathers or self.stencil is not None:
            return None
        return neighbour_table(self.edge_index, self.num_nodes)

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    @property
    def edge_feature(self) -> Tensor:
        """What the edge layers read: ``edge_type [E]`` (typed) or ``edge_attr [E, D]`` (geometric)."""
        return self.edge_type if self.edge_type is not None else self.edge_attr

    @property
    def conv_args(self) -> tuple:
        """``(edge_index, edge_type, stencil)`` for :class:`~gvin.nn.EdgeTypeConv`, or
        ``(edge_index, edge_attr)`` for :class:`~gvin.nn.EdgeGeometryConv`."""
        if self.edge_type is not None:
            return self.edge_index, self.edge_type, self.stencil
        return self.edge_index, self.edge_attr


ACTION_SETS = ("moves", "directions")


def graph_inputs(
    data: Data,
    num_edge_types: int | None,
    use_stencil: bool = True,
    actions: str = "moves",
    *,
    edge_dim: int | None = None,
    edge_features: int | None = None,
) -> GraphInputs:
    """Read and check ``x``, ``edge_index``, the edge features and the policy's choices from ``data``.

    Exactly one of ``num_edge_types`` (read ``data.edge_type [E]``, values in
    ``[0, T)``) and ``edge_dim`` (read ``data.edge_attr [E, edge_dim]``, cast to
    ``x``'s dtype; ``[E]`` is accepted when ``edge_dim == 1``) is given.

    ``actions="moves"`` lets the policy choose among real moves (``data.move``,
    or every non-self-loop edge); ``"directions"`` among every move direction
    (``data.action`` of a grid graph), as GPPN's grid policies do.

    ``edge_features=D`` (typed planners only) also reads ``data.edge_attr [E, D]``
    and the moves as per-edge features (``GraphInputs.edge_features``).

    The stencil (dense slot table) is built for typed planners when
    ``use_stencil`` and every (source, edge type) pair is unique, as on
    :func:`gvin.from_grid` graphs.
    """
    if (num_edge_types is None) == (edge_dim is None):
        raise ValueError(
            f"give exactly one of num_edge_types and edge_dim, got num_edge_types={num_edge_types!r}, "
            f"edge_dim={edge_dim!r}"
        )
    for key in ("x", "edge_index"):
        if getattr(data, key, None) is None:
            raise ValueError(f"the planning graph has no '{key}' field (build it with gvin.from_grid)")
    x = data.x
    if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point():
        kind = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"data.x must be a float [N, F] tensor, got {kind}")
    if x.shape[0] == 0:
        raise ValueError("the planning graph is empty (no nodes)")
    if not torch.isfinite(x).all():
        raise ValueError("data.x contains NaN or inf")
    edge_index = graph_edge_index(data.edge_index, x.shape[0])
    if edge_dim is not None:
        edge_attr = _edge_attr(data, edge_index, edge_dim, x.dtype)
        moves = _choice(data, edge_index, "moves")
        choice = moves if actions == "moves" else _choice(data, edge_index, actions)
        return GraphInputs(x, edge_index, None, choice, None, edge_attr, moves=moves, gathers=use_stencil)
    edge_type = _edge_type(data, edge_index, num_edge_types)
    moves = _choice(data, edge_index, "moves")
    choice = moves if actions == "moves" else _choice(data, edge_index, actions)
    stencil = build_stencil(edge_index, edge_type, x.shape[0], num_edge_types) if use_stencil else None
    if stencil is not None:
        stencil = _with_grid_layout(stencil, data)
    features = None
    if edge_features is not None:
        edge_attr = _edge_attr(data, edge_index, edge_features, x.dtype, option="edge_features")
        features = edge_feature_matrix(edge_attr, moves)
    return GraphInputs(x, edge_index, edge_type, choice, stencil, edge_features=features, moves=moves,
                       gathers=use_stencil)


def _with_grid_layout(stencil: Stencil, data: Data) -> Stencil:
    """``stencil`` with its dense grid layout when ``data`` holds whole grids of one shape
    (``data.grid_shape``, ``data.stencil`` of :func:`gvin.from_grid`); the slot table itself is
    checked (:meth:`~gvin.nn.stencil.Stencil.with_grid`), so a graph that only claims to be a
    grid keeps the general path."""
    shape, offsets = getattr(data, "grid_shape", None), getattr(data, "stencil", None)
    if not isinstance(shape, Tensor) or offsets is None:
        return stencil
    shapes = shape.reshape(-1, shape.shape[-1]) if shape.dim() else shape.reshape(1, 1)
    tables = stencil_keys(data)
    if tables is None or len(tables) != 1 or not bool((shapes == shapes[0]).all()):
        return stencil
    return stencil.with_grid(shapes[0].tolist(), tables.pop())


def stencil_keys(data: Data) -> set[tuple[tuple[int, ...], ...]] | None:
    """The distinct ``data.stencil`` tables of ``data`` (one per graph of a Batch), ``None`` if
    ``data.stencil`` is not an offsets table."""
    stencil = data.stencil
    try:  # a Batch holds one table per graph; clone() and to() turn tuples into lists
        return {stencil_key(t) for t in (stencil if isinstance(data, Batch) else [stencil])}
    except (TypeError, ValueError, RuntimeError):
        return None


def _edge_type(data: Data, edge_index: Tensor, num_edge_types: int) -> Tensor:
    edge_type = getattr(data, "edge_type", None)
    if edge_type is None:
        raise ValueError(
            "the planning graph has no 'edge_type' field (build it with gvin.from_grid, or build the "
            "model with edge_dim=D to plan on data.edge_attr [E, D])"
        )
    if not isinstance(edge_type, Tensor) or edge_type.shape != edge_index.shape[1:]:
        shape = tuple(edge_type.shape) if isinstance(edge_type, Tensor) else type(edge_type).__name__
        raise ValueError(f"edge_type must be [E]={edge_index.shape[1]}, got {shape}")
    if edge_type.dtype != torch.long:
        raise ValueError(f"edge_type must be int64 (long), got {edge_type.dtype}")
    if int(edge_type.max()) >= num_edge_types or int(edge_type.min()) < 0:
        raise ValueError(
            f"edge_type has values in [{int(edge_type.min())}, {int(edge_type.max())}] but the "
            f"model was built for num_edge_types={num_edge_types}"
        )
    return edge_type


def _edge_attr(data: Data, edge_index: Tensor, edge_dim: int, dtype: torch.dtype, option: str = "edge_dim") -> Tensor:
    edge_attr = getattr(data, "edge_attr", None)
    num_edges = edge_index.shape[1]
    if edge_attr is None:
        source = "gvin.from_networkx sets it" if option == "edge_dim" else "gvin.from_terrain sets it"
        raise ValueError(
            f"the planning graph has no 'edge_attr' field; a model built with {option}={edge_dim} reads "
            f"edge features from data.edge_attr [E={num_edges}, {edge_dim}] ({source})"
        )
    if not isinstance(edge_attr, Tensor) or not edge_attr.is_floating_point():
        kind = edge_attr.dtype if isinstance(edge_attr, Tensor) else type(edge_attr).__name__
        raise ValueError(f"data.edge_attr must be a float tensor, got {kind}")
    if edge_attr.dim() == 1 and edge_dim == 1:
        edge_attr = edge_attr.unsqueeze(-1)
    if edge_attr.dim() != 2 or edge_attr.shape != (num_edges, edge_dim):
        raise ValueError(
            f"data.edge_attr must be [E, {option}] = [{num_edges}, {edge_dim}] (the model was built with "
            f"{option}={edge_dim}), got {tuple(edge_attr.shape)}"
        )
    if not torch.isfinite(edge_attr).all():
        raise ValueError("data.edge_attr contains NaN or inf")
    return edge_attr.to(dtype)


def _choice(data: Data, edge_index: Tensor, actions: str) -> Tensor:
    if actions not in ACTION_SETS:
        raise ValueError(f"actions must be one of {ACTION_SETS}, got {actions!r}")
    key = "move" if actions == "moves" else "action"
    choice = getattr(data, key, None)
    if choice is None and actions == "directions":
        raise ValueError("actions='directions' needs data.action (a grid graph from gvin.from_grid)")
    if choice is None:
        choice = edge_index[0] != edge_index[1]
    if choice.shape != edge_index.shape[1:]:
        raise ValueError(f"data.{key} must be [E]={edge_index.shape[1]}, got {tuple(choice.shape)}")
    return choice.bool()


def as_stencil(stencil, num_edge_types: int | None, edge_dim: int | None) -> tuple[Tensor, int]:
    """Check a planner's ``stencil`` argument; returns it as a ``[T, d]`` long tensor and ``T``.

    Raises:
        ValueError: not an integer ``[T, d]`` table of distinct offsets, given
            with ``edge_dim`` (geometric planners read no edge types), or
            ``num_edge_types`` given as well and different from ``T``.
    """
    if edge_dim is not None:
        raise ValueError(
            "stencil= is for planners on grid graphs (edge types); a planner with edge_dim reads "
            "data.edge_attr instead, so give one of them"
        )
    try:
        table = torch.as_tensor(stencil)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"stencil must be a [T, d] table of integer offsets: {error}") from None
    if table.dim() != 2 or table.shape[0] == 0 or table.dtype.is_floating_point or table.dtype == torch.bool:
        raise ValueError(
            f"stencil must be a [T, d] table of integer offsets (gvin.grid_stencil), got "
            f"{table.dtype} {tuple(table.shape)}"
        )
    table = table.long().cpu()
    if len(torch.unique(table, dim=0)) != len(table):
        raise ValueError("stencil has repeated offsets; each edge type must be one offset")
    if not isinstance(num_edge_types, type(DEFAULT_NUM_EDGE_TYPES)) and num_edge_types is not None \
            and num_edge_types != len(table):
        raise ValueError(
            f"num_edge_types={num_edge_types!r} disagrees with the stencil's {len(table)} offsets; "
            "give only stencil="
        )
    return table, len(table)


def _layers(intermediate: Iterable[int], depth: int) -> set[int]:
    """The intermediate layers asked for, each an int in ``[1, depth]``."""
    if isinstance(intermediate, (int, str)) or not isinstance(intermediate, Iterable):
        raise TypeError(f"intermediate must be a collection of layer numbers, got {intermediate!r}")
    layers = set(intermediate)
    bad = [k for k in layers if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= depth]
    if bad:
        raise ValueError(f"intermediate layers must be ints in [1, {depth}] (the depth of this run), got {sorted(map(str, bad))}")
    return {int(k) for k in layers}


class GraphPlanner(nn.Module):
    """Base of the planners: resolves depth, collects intermediate policies.

    Subclasses implement :meth:`plan` (run ``depth`` layers, calling ``hook(k, q, v)``
    after the layers in ``layers``) and :meth:`policy` (``q, v`` → log-probs over
    out-edges).

    Attributes:
        num_edge_types / edge_dim: exactly one is set (see
            :class:`~gvin.nn.edge_kernels.EdgeKernels`): the planner reads
            ``data.edge_type`` (typed) or ``data.edge_attr`` (geometric).
        actions: ``"moves"`` or ``"directions"`` (see :func:`graph_inputs`);
            set by the subclasses' constructors.
        edge_features: ``D`` of ``data.edge_attr [E, D]`` that a typed planner
            also reads, with the moves, as per-edge features (``None``: it reads
            edge types alone); see :mod:`gvin.nn.edge_features`.
        use_stencil: gather over the dense slot table of grid graphs, and over the
            padded neighbour table of other graphs whose degrees are even enough
            (:func:`gvin.nn.neighbour_table.neighbour_table`), in value iteration (default),
            instead of scattering over the edge list; results are equal.
        memory: how value iteration pays for the backward pass: ``"auto"``
            (default: ``"compact"`` while its ``5·N·K`` bytes fit 128 MiB, else
            ``"checkpoint"``), ``"checkpoint"`` (``O(√K·N)`` memory, one extra
            forward), ``"compact"`` (``O(K·N)``, no recomputation) or
            ``"autograd"`` (plain unrolled autograd, ``O(K·E·A)``); see
            :func:`gvin.nn.value_iteration`. It applies to the planners built
            on the value-iteration operator (VIN, DT-VIN); GPPN's recurrent
            update keeps plain autograd.
            Values and gradients are the same in every mode.
    """

    in_channels: int
    num_edge_types: int | None
    edge_dim: int | None = None
    edge_features: int | None = None
    stencil: Tensor | None = None
    num_iterations: int
    actions: str = "moves"
    use_stencil: bool = True
    memory: str = "auto"

    def __init__(
        self,
        in_channels: int,
        num_iterations: int,
        actions: str = "moves",
        *,
        num_edge_types: int | None = None,
        edge_dim: int | None = None,
        stencil=None,
        num_bases: int = 8,
        edge_hidden: int = 32,
        edge_features: int | None = None,
    ):
        """Check and record the arguments every planner shares; the subclass builds its layers with
        :attr:`edge_kernels` (:class:`~gvin.nn.edge_kernels.EdgeKernels`, the factory of edge layers
        for typed or geometric graphs)."""
        super().__init__()
        self.in_channels = positive_int(in_channels, "in_channels")
        self.num_iterations = positive_int(num_iterations, "num_iterations")
        if actions not in ACTION_SETS:
            raise ValueError(f"actions must be one of {ACTION_SETS}, got {actions!r}")
        self.actions = actions
        if stencil is not None:
            self.stencil, num_edge_types = as_stencil(stencil, num_edge_types, edge_dim)
        edges = EdgeKernels(num_edge_types, edge_dim, num_bases, edge_hidden)
        self.num_edge_types, self.edge_dim = edges.num_edge_types, edges.edge_dim
        self.edge_kernels = edges
        if edge_features is not None:
            if not edges.typed:
                raise ValueError(
                    "edge_features is for typed planners (edge types of a grid graph); a planner built with "
                    "edge_dim already reads data.edge_attr"
                )
            edge_features = positive_int(edge_features, "edge_features")
        self.edge_features = edge_features

    def edge_term(self, out_channels: int) -> EdgeFeatureTerm | None:
        """A zero-initialised linear map of the per-edge features to ``out_channels``, or ``None``
        when the planner reads no edge features."""
        return None if self.edge_features is None else EdgeFeatureTerm(self.edge_features + 1, out_channels)

    def window_slots(self, kernel_size: int | None) -> tuple[int, ...] | None:
        """The stencil slots within a ``kernel_size`` window (an odd size): the edge types of an
        encoder narrower than the stencil, e.g. GPPN's ``3×3`` encoders on a ``9×9`` stencil.
        ``None`` (all slots) for ``None``; a window at least as wide as the stencil holds every slot.

        Raises:
            ValueError: an even or non-positive size, or a planner built without ``stencil=``
                (only the offsets tell which edge types lie in the window).
        """
        if kernel_size is None:
            return None
        size = positive_int(kernel_size, "encoder_kernel_size")
        if size % 2 == 0:
            raise ValueError(f"encoder_kernel_size must be odd, got {size}")
        if self.stencil is None:
            raise ValueError(
                "encoder_kernel_size needs stencil= (gvin.grid_stencil(...)): the offsets tell which "
                "edge types lie in the window"
            )
        return stencil_window(self.stencil, size)

    def read_graph(self, data: Data) -> GraphInputs:
        """The fields of ``data`` this planner reads, checked against what it was built for."""
        self.check_stencil(data)
        graph = graph_inputs(data, self.num_edge_types, self.use_stencil, self.actions, edge_dim=self.edge_dim,
                             edge_features=self.edge_features)
        self.check_fits(data, graph)
        return graph

    def check_fits(self, data: Data, graph: GraphInputs) -> None:
        """Refuse a graph this planner was not built for (``ValueError`` naming the mismatch), and keep
        its checked goal mask as ``graph.goal``. Refused:
        another feature width, dtype or device, or a graph whose ``goal`` marks no node (graphs
        without a ``goal`` field carry their goal in ``x`` only, which a planner cannot check)."""
        x = graph.x
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"data.x has {x.shape[1]} feature column(s) but the planner was built with "
                f"in_channels={self.in_channels} (gvin.from_grid graphs have 2, gvin.from_networkx graphs 1)"
            )
        parameter = next(self.parameters(), None)
        if parameter is not None and (x.dtype, x.device) != (parameter.dtype, parameter.device):
            raise ValueError(
                f"data.x is {x.dtype} on {x.device} but the planner's parameters are {parameter.dtype} on "
                f"{parameter.device}; move one to the other (data.to(...), model.to(...))"
            )
        if getattr(data, "goal", None) is not None:
            try:
                graph.goal = goal_mask(data)  # checked once, kept for the planners that read it
            except ValueError as error:
                raise ValueError(f"cannot plan without a goal: {error}") from None

    def check_stencil(self, data: Data) -> None:
        """Refuse a grid graph whose ``data.stencil`` is not the one this typed planner was built for."""
        stencil = getattr(data, "stencil", None)
        if stencil is None or self.num_edge_types is None:
            return
        keys = stencil_keys(data)
        if keys is None:
            raise ValueError("data.stencil must be the offsets table of gvin.from_grid (a tuple of offset tuples)")
        if len(keys) != 1:
            raise ValueError("the batch mixes graphs built with different stencils")
        table = torch.tensor(keys.pop(), dtype=torch.long)
        built_for = f"num_edge_types={self.num_edge_types}"
        if self.stencil is not None:
            built_for = describe_stencil(self.stencil)
            same = table.shape == self.stencil.shape and bool((table == self.stencil).all())
        else:
            same = len(table) == self.num_edge_types
        if not same:
            raise ValueError(
                f"the graph was built with {describe_stencil(table)}, {len(table)} edge types, but the "
                f"planner was built for {built_for}; build the graph with the planner's stencil "
                "(gvin.from_grid(..., connectivity=..., kernel_size=...) as in training)"
            )

    def plan(self, graph: GraphInputs, depth: int, hook: LayerHook, layers: Collection[int]) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def policy(self, graph: GraphInputs, q: Tensor, v: Tensor) -> Tensor:
        """Log-probabilities ``[E]`` over each node's out-edges from the last layer's ``q`` and ``v``
        (the planner's ``head``, a policy head of :mod:`gvin.nn.policy`)."""
        return self.head(q, v, graph.edge_index, graph.edge_feature, graph.choice)

    def forward(
        self,
        data: Data,
        num_iterations: int | None = None,
        intermediate: Iterable[int] = (),
        layer_loss: Callable[[int, Tensor], Tensor] | None = None,
    ) -> PlannerOutput:
        """Plan on ``data``, a planning graph or a ``Batch`` of them.

        Args:
            num_iterations: depth ``K`` (default: the constructor's); a model
                trained with one depth can plan with another.
            intermediate: layers ``k`` whose policy log-probs to return as well.
            layer_loss: instead of returning the intermediate policies, reduce
                each right away with ``layer_loss(k, log_probs [E]) -> Tensor``
                (e.g. the highway loss); the policy head is recomputed in the
                backward pass, so only ``Q_k`` and ``V_k`` stay alive per layer.
                The results are in ``PlannerOutput.layer_losses``.
        """
        graph = self.read_graph(data)
        depth = positive_int(self.num_iterations if num_iterations is None else num_iterations, "num_iterations")
        if self.memory not in MEMORY_MODES:
            raise ValueError(f"memory must be one of {MEMORY_MODES}, got {self.memory!r}")
        wanted = _layers(intermediate, depth)
        kept: dict[int, Tensor] = {}
        reduced: dict[int, Tensor] = {}

        def hook(k: int, q: Tensor, v: Tensor) -> None:
            if k not in wanted:
                return
            if layer_loss is None:
                kept[k] = self.policy(graph, q, v)
            elif torch.is_grad_enabled():
                reduced[k] = checkpoint(lambda q, v: layer_loss(k, self.policy(graph, q, v)), q, v, use_reentrant=False)
            else:
                reduced[k] = layer_loss(k, self.policy(graph, q, v))

        q, v = self.plan(graph, depth, hook, wanted)
        return PlannerOutput(self.policy(graph, q, v), q, v, kept, reduced)


class ValueIterationPlanner(GraphPlanner):
    """A planner whose layers are value iteration on a latent MDP it reads off the graph (VIN, DT-VIN).

    Subclasses implement :meth:`mdp`; the unrolled layers (:func:`gvin.nn.value_iteration`) and the
    implicit fixed point (:class:`gvin.models.implicit.ImplicitPlanner`) both solve that MDP.

    Attributes:
        gamma: the discount.
    """

    gamma: float

    def mdp(self, graph: GraphInputs) -> tuple[Tensor, Transition]:
        """The latent MDP: ``R [N, A]`` (the expected reward of each latent action) and the transition."""
        raise NotImplementedError

    def plan(self, graph: GraphInputs, depth: int, hook: LayerHook, layers: Collection[int]) -> tuple[Tensor, Tensor]:
        reward, transition = self.mdp(graph)
        return value_iteration(reward, transition, depth, self.gamma, hook=hook, layers=layers, memory=self.memory)
