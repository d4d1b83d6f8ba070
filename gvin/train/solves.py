"""How an implicit planner's fixed-point solves went, in words: gathered per call, summarised per epoch."""
from __future__ import annotations

from typing import Any

import torch

from gvin.models.implicit import ImplicitPlanner


class SolveLog:
    """The fixed-point solves of an implicit planner's calls, gathered by a forward hook for summary lines.

    Nothing is gathered for an unrolled planner (its summary is empty).
    """

    def __init__(self, model: torch.nn.Module):
        self.infos: list[Any] = []
        self.implicit = isinstance(model, ImplicitPlanner)
        self._handle = model.register_forward_hook(self._keep) if self.implicit else None

    def _keep(self, module, inputs, output) -> None:
        if getattr(output, "info", None) is not None:
            self.infos.append(output.info)

    def __enter__(self) -> "SolveLog":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()

    def summary(self) -> str:
        """How the solves since the last summary went, e.g. ``forward anderson: 4 solves, up to 31 steps,
        all converged; backward ...`` (``""`` if none); forgets them."""
        infos, self.infos = self.infos, []
        parts = []
        for direction in ("forward", "backward"):
            solves = [getattr(info, direction) for info in infos if getattr(info, direction) is not None]
            if not solves:
                continue
            missed = sum(not s.converged for s in solves)
            diverged = sum(s.diverged for s in solves)
            state = "all converged" if not missed else f"{missed} missed the tolerance"
            if diverged:
                state += f" ({diverged} diverged)"
            solvers = "/".join(sorted({s.solver for s in solves}))
            steps = max(s.steps for s in solves)
            parts.append(f"{direction} {solvers}: {len(solves)} solve{'s' * (len(solves) != 1)}, "
                         f"up to {steps} step{'s' * (steps != 1)}, {state}")
        return "; ".join(parts)


def solve_line(info: Any) -> str:
    """One forward solve in words: its solver, steps, and whether it converged."""
    residual = info.best_residual
    steps = f"{info.steps} step{'s' * (info.steps != 1)}"
    if info.converged:
        return f"forward {info.solver} solve converged after {steps} ({info.stop_mode} residual {residual:.2g})"
    how = "diverged" if info.diverged else "did not converge"
    return (f"forward {info.solver} solve {how} in {steps} ({info.stop_mode} residual {residual:.2g} "
            f"> tol {info.tol:g}; its best iterate was used)")
