"""Value Iteration Network (Tamar et al., 2016) on planning graphs."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from gvin.models.base import GraphInputs, GraphPlanner, LayerHook
from gvin.nn.edge_type_conv import EdgeTypeConv
from gvin.nn.policy import EdgePolicyHead
from gvin.nn.value_iteration import EdgeTransition, StencilTransition, Transition, value_iteration


class VIN(GraphPlanner):
    r"""VIN with one learned transition weight per edge type and latent action.

    .. math::
        h = \mathrm{conv}_\tau(x), \quad r = w_r^\top h, \quad
        R[s,a] = \sum_{e=(s,s')} W^R_{\tau(e),a}\, r_{s'}, \quad
        Q_k = R + \gamma \sum_{e=(s,s')} W^V_{\tau(e),a}\, V_{k-1}[s'], \quad V_k = \max_a Q_k

    with ``V_0 = 0``; the policy head reads ``Q_K`` and the successor's ``V_K``.
    On a :func:`gvin.from_grid` graph every ``conv_τ`` is a zero-padded grid
    conv, so this is GPPN's whole-map VIN with ``K`` Q-layers (GPPN's ``k = K - 1``).

    Args:
        in_channels: node features (2 for grid graphs: free, goal).
        num_edge_types: ``T``, the stencil size (``len(gvin.grid_stencil(...))``).
        num_actions: latent actions ``A``.
        hidden_channels: channels of the encoder ``h``.
        num_iterations: default depth ``K``.
        gamma: discount in the backup.
        actions: the policy chooses among ``"moves"`` or all ``"directions"``.
    """

    def __init__(
        self,
        in_channels: int = 2,
        num_edge_types: int = 9,
        num_actions: int = 16,
        hidden_channels: int = 150,
        num_iterations: int = 20,
        gamma: float = 1.0,
        actions: str = "moves",
    ):
        super().__init__()
        self.num_edge_types = num_edge_types
        self.num_actions = num_actions
        self.num_iterations = num_iterations
        self.actions = actions
        self.gamma = gamma
        self.encoder = EdgeTypeConv(in_channels, hidden_channels, num_edge_types, bias=True)
        self.reward = nn.Linear(hidden_channels, 1, bias=False)
        self.reward_kernel = EdgeTypeConv(1, num_actions, num_edge_types, bias=False)
        self.value_kernel = nn.Parameter(torch.empty(num_edge_types, num_actions))
        self.head = EdgePolicyHead(num_actions, num_edge_types)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in (self.encoder, self.reward, self.reward_kernel, self.head):
            module.reset_parameters()
        nn.init.zeros_(self.value_kernel)  # as GPPN's VIN: deep unrolls start stable

    def transition(self, graph: GraphInputs) -> Transition:
        if graph.stencil is not None:
            return StencilTransition(self.value_kernel, graph.stencil)
        return EdgeTransition(self.value_kernel[graph.edge_type], graph.edge_index, graph.num_nodes)

    def reward_map(self, graph: GraphInputs) -> Tensor:
        """``R [N, A]``."""
        h = self.encoder(graph.x, *graph.conv_args)
        return self.reward_kernel(self.reward(h), *graph.conv_args)

    def plan(self, graph: GraphInputs, depth: int, hook: LayerHook) -> tuple[Tensor, Tensor]:
        return value_iteration(self.reward_map(graph), self.transition(graph), depth, self.gamma, hook=hook)

    def policy(self, graph: GraphInputs, q: Tensor, v: Tensor) -> Tensor:
        return self.head(q, v, graph.edge_index, graph.edge_type, graph.choice)
