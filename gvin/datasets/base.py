"""One pattern for the datasets of generated worlds: :class:`PlanningDataset`.

Every generated world's dataset is built as::

    Dataset(split, *, size, counts, seed, connectivity, transform, root=None, **world_settings)

``counts`` is the ``(train, valid, test)`` triple (or a mapping) and only the
``split``'s entry is made; ``seed`` the data seed; ``root`` an optional cache
folder. A world subclass implements :meth:`~PlanningDataset.make_item` (and
checks its own settings before calling ``super().__init__``); the base does
the rest: per-item seeding, the index checks, the ``transform`` call and the
cache. A world that keeps its items compact implements
:meth:`~PlanningDataset.make_record` and :meth:`~PlanningDataset.from_record`
instead (a record is a dict of tensors and plain numbers).

**Seeds.** Item ``i`` of a split draws from ``numpy.random.default_rng([seed,
s, i, salt])`` (``s`` the split's position in ``("train", "valid", "test")``,
``salt`` a per-world constant): a split's items do not depend on the other
splits' counts, and a larger count keeps a split's first items. A
:attr:`~PlanningDataset.sequential` world draws its items in order from one
generator per split, ``default_rng([seed, s, salt])``.

**Cache.** With ``root``, a split's records are written once to
``root/<class>_<hash>/<split>_<count>.pt`` (``<hash>`` of the settings) and read
back by later instances (``torch.load(weights_only=True)``).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping

import numpy as np
import torch
from torch_geometric.data import Data

from gvin._checks import item_index, positive_int
from gvin.datasets.generators import SPLITS

__all__ = ["PlanningDataset", "renamed_keywords", "check_counts", "check_split"]

Record = dict
"""One stored item: a dict of tensors and plain numbers (what :meth:`PlanningDataset.make_record` gives)."""


def check_split(split: Any) -> str:
    """``split`` if it is ``"train"``, ``"valid"`` or ``"test"`` (``ValueError`` otherwise)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def check_counts(counts: Any) -> tuple[int, int, int]:
    """``(train, valid, test)`` non-negative ints from a triple or a mapping with (some of) those keys.

    Raises:
        TypeError: not a triple or a mapping. ValueError: an unknown split name, or a count that
        is not a non-negative int (``"counts['valid'] must be a non-negative int, got -1"``).
    """
    if isinstance(counts, Mapping):
        unknown = set(counts) - set(SPLITS)
        if unknown:
            raise ValueError(f"unknown split names {sorted(unknown)} in counts; use {SPLITS}")
        values = [counts.get(name, 0) for name in SPLITS]
    elif isinstance(counts, (tuple, list)) and len(counts) == 3:
        values = list(counts)
    else:
        raise TypeError(f"counts must be a (train, valid, test) triple or a mapping, got {counts!r}")
    for name, value in zip(SPLITS, values):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"counts[{name!r}] must be a non-negative int, got {value!r}")
    return tuple(int(value) for value in values)


def renamed_keywords(
    deprecated: Mapping[str, str] | None = None, synonyms: Mapping[str, str] | None = None
) -> Callable:
    """Decorate an ``__init__`` to take keywords under other names: ``old name → new name``.

    ``deprecated`` names warn (:class:`DeprecationWarning`); ``synonyms`` (a world spec's
    keys, e.g. ``data_seed`` for ``seed``) do not. Giving both names is a ``TypeError``.
    """
    renames = {**(synonyms or {}), **(deprecated or {})}
    warned = set(deprecated or {})

    def decorate(init: Callable) -> Callable:
        @functools.wraps(init)
        def wrapper(self, *args: Any, **kwargs: Any) -> None:
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                if new in kwargs:
                    raise TypeError(f"{type(self).__name__}() got both {new}= and {old}= (its other name)")
                if old in warned:
                    warnings.warn(f"{type(self).__name__}({old}=...) is deprecated; use {new}=",
                                  DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            init(self, *args, **kwargs)

        return wrapper

    return decorate


class PlanningDataset(torch.utils.data.Dataset):
    """Base class of the generated worlds' datasets: one split of labelled planning graphs, made once.

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        size: the world's size setting (cells a side, bins a joint, samples ...), checked by the world.
        counts: ``(train, valid, test)`` sizes (or a mapping); only ``split``'s entry is made.
            ``count=`` is a deprecated name of it.
        seed: non-negative int, the data seed (``data_seed`` is a synonym).
        connectivity: the world's move connectivity (``None`` where it has none).
        transform: applied to each item on access (e.g. a PyG transform).
        root: a cache folder (see the module documentation); ``None``: made in memory.
        **world_settings: the world's other settings, set as attributes of the same name
            (plain values: they name the cache).

    Subclasses set :attr:`salt` (and :attr:`sequential`), implement :meth:`make_item`
    (or :meth:`make_record` and :meth:`from_record`), and may override :meth:`setup`.

    Raises:
        ValueError: unknown split, bad counts or seed; an unreadable cache file.
    """

    salt: ClassVar[int] = 0
    """Mixed into every seed, so that two worlds with the same ``seed`` draw differently."""
    sequential: ClassVar[bool] = False
    """Draw the items in order from one generator per split (else one generator per item)."""
    version: ClassVar[int] = 1
    """Part of the cache's name: raise it when the same settings start to mean other items."""
    later: ClassVar[Mapping[str, Any]] = {}
    """World settings added after caches were first written, each with the value that makes the items
    as before: the cache's name leaves a setting out while it has that value (older caches stay valid)."""

    def __init__(
        self,
        split: str = "train",
        *,
        size: Any,
        counts: Any,
        seed: int = 0,
        connectivity: int | None = None,
        transform: Callable[[Data], Data] | None = None,
        root: str | os.PathLike | None = None,
        **world_settings: Any,
    ) -> None:
        super().__init__()
        if type(self).make_item is PlanningDataset.make_item and type(self).make_record is PlanningDataset.make_record:
            raise TypeError(f"{type(self).__name__} must implement make_item (or make_record and from_record)")
        self.split = check_split(split)
        self.counts = check_counts(counts)
        self.seed = positive_int(seed, "seed", 0)
        self.size, self.connectivity, self.transform = size, connectivity, transform
        self.root = Path(root) if root is not None else None
        self.world_settings = dict(world_settings)
        for name, value in world_settings.items():
            setattr(self, name, value)
        self.setup()
        self._records = self._load_or_make(self.counts[SPLITS.index(split)])

    # -- what a world implements
    def setup(self) -> None:
        """Derived state needed to make or rebuild items (templates, maps), after the settings are set."""

    def make_item(self, rng: np.random.Generator, index: int) -> Data:
        """Item ``index`` of the split, drawn from ``rng`` (see the module documentation on seeds)."""
        return self.from_record(self.make_record(rng, index), index)

    def make_record(self, rng: np.random.Generator, index: int) -> Record:
        """Item ``index`` as it is stored (default: the item's tensors, :meth:`Data.to_dict`)."""
        return self.make_item(rng, index).to_dict()

    def from_record(self, record: Record, index: int) -> Data:
        """A fresh item (sharing nothing with the store) from its record."""
        return Data.from_dict(record).clone()

    # -- seeds and making
    def split_rng(self) -> np.random.Generator:
        """The one generator of a :attr:`sequential` world's split."""
        return np.random.default_rng([self.seed, SPLITS.index(self.split), self.salt])

    def item_rng(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` (worlds that are not :attr:`sequential`)."""
        return np.random.default_rng([self.seed, SPLITS.index(self.split), index, self.salt])

    def _make(self, count: int) -> list[Record]:
        if self.sequential:
            rng = self.split_rng()
            return [self.make_record(rng, index) for index in range(count)]
        return [self.make_record(self.item_rng(index), index) for index in range(count)]

    # -- cache
    def identity(self) -> dict[str, Any]:
        """The settings that decide the items (the cache's name hashes them)."""
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}", "version": self.version,
                "size": self.size, "seed": self.seed, "connectivity": self.connectivity,
                **{name: value for name, value in self.world_settings.items()
                   if not (name in self.later and value == self.later[name])}}

    @property
    def path(self) -> Path | None:
        """The cache file of this split (``None`` without ``root``)."""
        if self.root is None:
            return None
        key = json.dumps(self.identity(), sort_keys=True, default=repr)
        folder = f"{type(self).__name__.lower()}_{hashlib.sha1(key.encode()).hexdigest()[:10]}"
        return self.root / folder / f"{self.split}_{self.counts[SPLITS.index(self.split)]}.pt"

    def _load_or_make(self, count: int) -> list[Record]:
        path = self.path
        if path is None:
            return self._make(count)
        if path.exists():
            try:
                stored = torch.load(path, map_location="cpu", weights_only=True)
                records = stored["records"]
                same = stored["identity"] == json.loads(json.dumps(self.identity(), default=repr))
            except Exception as error:  # noqa: BLE001 - any unreadable file gets the same advice
                first = (str(error).splitlines() or [""])[0][:200]
                raise ValueError(f"cannot read the dataset cache {path} ({type(error).__name__}: {first}); "
                                 "delete it") from error
            if not same or len(records) != count:
                raise ValueError(f"dataset cache {path} does not match its settings; delete it")
            return records
        records = self._make(count)
        path.parent.mkdir(parents=True, exist_ok=True)
        identity = json.loads(json.dumps(self.identity(), default=repr))
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
            try:
                torch.save({"identity": identity, "records": records}, handle)
            except BaseException:
                handle.close()
                os.unlink(handle.name)
                raise
        os.replace(handle.name, path)  # atomic: readers see the old state or the whole file
        return records

    # -- dataset interface
    def record(self, index: Any) -> Record:
        """The stored record of item ``index`` (read-only: it is the store)."""
        return self._records[item_index(index, len(self))]

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: Any) -> Data:
        index = item_index(index, len(self))
        data = self.from_record(self._records[index], index)
        return self.transform(data) if self.transform is not None else data

    def __iter__(self) -> Iterator[Data]:
        return (self[i] for i in range(len(self)))

    def describe(self) -> str:
        """The settings shown by ``repr`` after the size (a world may add its own)."""
        return f"seed={self.seed}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.split!r}, size={self.size!r}, n={len(self)}, {self.describe()})"
