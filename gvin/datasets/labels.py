"""Expert labels of a planning graph with a goal, from its exact least-cost distances.

:func:`label_graph` lives in :mod:`gvin.transforms` with its transform,
:class:`gvin.transforms.AddExpertLabels`; it is kept here for older imports.
"""
from __future__ import annotations

from gvin.transforms import AddExpertLabels, label_graph

__all__ = ["AddExpertLabels", "label_graph"]
