"""Planners assembled from gvin.nn: VIN, DT-VIN, GPPN."""
from __future__ import annotations

from gvin.models.base import GraphPlanner, PlannerOutput, ValueIterationPlanner
from gvin.models.dtvin import DTVIN
from gvin.models.gppn import GPPN
from gvin.models.implicit import ImplicitDTVIN, ImplicitGPPN, ImplicitPlanner, ImplicitVIN
from gvin.models.vin import VIN

MODELS: dict[str, type[GraphPlanner]] = {
    "vin": VIN, "dtvin": DTVIN, "gppn": GPPN, "implicit_vin": ImplicitVIN, "implicit_dtvin": ImplicitDTVIN,
    "implicit_gppn": ImplicitGPPN,
}


def build_model(name: str, **kwargs) -> GraphPlanner:
    """A planner by name (a key of :data:`MODELS`: ``"vin"``, ``"dtvin"``, ``"gppn"`` and their
    ``"implicit_*"`` variants) with constructor arguments."""
    if not isinstance(name, str):
        raise TypeError(f"the model name must be a string, one of {sorted(MODELS)}; got {name!r}")
    try:
        cls = MODELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None
    return cls(**kwargs)


__all__ = [
    "GraphPlanner", "PlannerOutput", "ValueIterationPlanner", "VIN", "DTVIN", "GPPN", "ImplicitPlanner", "ImplicitVIN", "ImplicitDTVIN", "ImplicitGPPN",
    "MODELS", "build_model",
]
