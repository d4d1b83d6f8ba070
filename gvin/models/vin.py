"""Value Iteration Network (Tamar et al., 2016) on planning graphs."""
from __future__ import annotations


from torch import Tensor, nn

from gvin._checks import discount, positive_int
from gvin.models.base import GraphInputs, ValueIterationPlanner
from gvin.nn.policy import DEFAULT_HEAD, SUCCESSOR_INIT, check_head_input
from gvin.nn.edge_kernels import DEFAULT_NUM_EDGE_TYPES, edge_values, reset_kernel
from gvin.nn.bellman import EdgeTransition, StencilTransition, Transition


class VIN(ValueIterationPlanner):
    r"""VIN with a learned transition weight per edge and latent action.

    .. math::
        h = \mathrm{conv}(x), \quad r = w_r^\top h, \quad
        R[s,a] = \sum_{e=(s,s')} W^R_{e,a}\, r_{s'}, \quad
        Q_k = R + \gamma \sum_{e=(s,s')} W^V_{e,a}\, V_{k-1}[s'], \quad V_k = \max_a Q_k

    with ``V_0 = 0``; the policy head reads ``Q_K`` and the successor's ``V_K``.
    With ``num_edge_types`` every weight is indexed by ``edge_type``
    (``W_{e} = W_{τ(e)}``): on a :func:`gvin.from_grid` graph every conv is a
    zero-padded grid conv, so this is GPPN's whole-map VIN with ``K`` Q-layers
    (GPPN's ``k = K - 1``). With ``edge_dim`` the weights are functions of
    ``edge_attr`` (GVIN: ``W^V_{e} = \mathrm{MLP}(a_e)``, convs are
    :class:`~gvin.nn.EdgeGeometryConv`), for graphs without edge types.

    With ``edge_features=D`` a typed VIN also reads each edge's features ``f_e``
    (``edge_attr [E, D]`` and the move flag, :mod:`gvin.nn.edge_features`):
    ``W^V_{e} = W^V_{τ(e)} + U^\top f_e`` and ``R[s, a]`` gains
    ``Σ_{e=(s,·)} (C^\top f_e)_a``, a learned cost of the moves ``s`` can take
    (``U`` and ``C`` start at zero). The grid-conv fast path needs shared
    weights, so an edge-aware VIN runs on the per-node stencil path.

    Args:
        in_channels: node features (2 for grid graphs: free, goal).
        num_edge_types: ``T``, the stencil size (``len(gvin.grid_stencil(...))``);
            9 unless ``edge_dim`` is given.
        num_actions: latent actions ``A``.
        hidden_channels: channels of the encoder ``h``.
        num_iterations: default depth ``K``.
        gamma: discount in the backup.
        actions: the policy chooses among ``"moves"`` or all ``"directions"``.
        stencil: ``[T, d]`` offsets table (``gvin.grid_stencil(...)``) of the grid
            graphs the planner is built for; sets ``num_edge_types = T`` and makes
            the planner refuse a graph whose ``data.stencil`` differs.
        edge_dim: ``D``: plan on ``data.edge_attr [E, D]`` instead of edge types.
        num_bases: (geometric) kernel matrices mixed per edge in the convs.
        edge_hidden: (geometric) hidden width of the edge MLPs.
        head: what the policy head reads from ``Q_K``: ``"centered"`` (default), ``"advantage"``
            or ``"raw"`` (the published head); see :class:`~gvin.nn.EdgePolicyHead`.
        advantage: the older flag (``True``: ``head="advantage"``, ``False``: ``head="raw"``).
        successor_init: the initial ``β`` of the head's ``β V_K[s']`` term (default 1,
            :data:`~gvin.nn.policy.SUCCESSOR_INIT`).
        encoder_kernel_size: an odd window narrower than the stencil for the
            encoder ``h`` (needs ``stencil``); GPPN's VIN reads a ``3×3`` window
            whatever the planning kernel. Default: the whole stencil.
        edge_features: ``D`` of ``data.edge_attr [E, D]`` to read as per-edge
            features (typed planners; ``None``: edge types alone).
        successor_value: the head also reads the successor's value ``β V_K[s']``
            (``β`` learned from 0); ``False`` with ``head="raw"`` gives the
            published head, a linear map of ``Q_K`` alone.
    """

    def __init__(
        self,
        in_channels: int = 2,
        num_edge_types: int | None = DEFAULT_NUM_EDGE_TYPES,
        num_actions: int = 16,
        hidden_channels: int = 150,
        num_iterations: int = 20,
        gamma: float = 1.0,
        actions: str = "moves",
        edge_dim: int | None = None,
        num_bases: int = 8,
        edge_hidden: int = 32,
        stencil=None,
        head: str = DEFAULT_HEAD,
        advantage: bool | None = None,
        successor_init: float = SUCCESSOR_INIT,
        encoder_kernel_size: int | None = None,
        successor_value: bool = True,
        edge_features: int | None = None,
    ):
        super().__init__(
            in_channels, num_iterations, actions, num_edge_types=num_edge_types, edge_dim=edge_dim, stencil=stencil,
            num_bases=num_bases, edge_hidden=edge_hidden, edge_features=edge_features,
        )
        edges = self.edge_kernels
        self.num_actions = positive_int(num_actions, "num_actions")
        hidden_channels = positive_int(hidden_channels, "hidden_channels")
        self.gamma = discount(gamma)
        self.encoder = edges.conv(in_channels, hidden_channels, bias=True, slots=self.window_slots(encoder_kernel_size))
        self.reward = nn.Linear(hidden_channels, 1, bias=False)
        self.reward_kernel = edges.conv(1, num_actions, bias=False)
        self.value_kernel = edges.kernel(num_actions)  # [T, A] table or MLP: edge_attr -> [E, A]
        self.head = edges.policy_head(num_actions, successor_value=successor_value, head=check_head_input(head, advantage),
                                      successor_init=successor_init)
        self.edge_value, self.edge_cost = self.edge_term(self.num_actions), self.edge_term(self.num_actions)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in (self.encoder, self.reward, self.reward_kernel, self.head, self.edge_value, self.edge_cost):
            if module is not None:
                module.reset_parameters()
        reset_kernel(self.value_kernel)  # a table starts at zero, as GPPN's VIN: deep unrolls start stable

    def transition(self, graph: GraphInputs) -> Transition:
        features = graph.edge_features if self.edge_value is not None else None
        if graph.stencil is not None:
            if features is None:
                return StencilTransition(self.value_kernel, graph.stencil)
            return StencilTransition(self.value_kernel + self.edge_value(features, graph.stencil), graph.stencil)
        weight = edge_values(self.value_kernel, graph.edge_feature)
        if features is not None:
            weight = weight + self.edge_value(features)
        return EdgeTransition(weight, graph.edge_index, graph.num_nodes).on_table(graph.neighbour_table)

    def reward_map(self, graph: GraphInputs) -> Tensor:
        """``R [N, A]``."""
        h = self.encoder(graph.x, *graph.conv_args)
        reward = self.reward_kernel(self.reward(h), *graph.conv_args)
        if self.edge_cost is None:
            return reward
        return reward.index_add(0, graph.edge_index[0], self.edge_cost(graph.edge_features))

    def mdp(self, graph: GraphInputs) -> tuple[Tensor, Transition]:
        """The latent MDP value iteration solves: ``R [N, A]`` and the transition."""
        return self.reward_map(graph), self.transition(graph)

