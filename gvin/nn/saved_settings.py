"""Settings of a module that travel with its weights: a buffer in the state dict, a Python copy to read.

A planner's behaviour can depend on a choice that is not a parameter (what the policy head
reads, whether the goal absorbs). Kept as a buffer, the choice is saved with the weights and
loaded back with them, and a state dict stays a dict of tensors. State dicts saved before a
setting existed load the value they were trained with (``legacy``), not today's default.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn


class SavedSetting:
    """A class attribute of a :class:`WithSavedSettings` module: one of ``choices``, stored as
    buffer ``buffer`` (a bool tensor for ``(False, True)``, else the int64 index of the choice).

    Reads return a Python copy (no device sync per call); assignments check the value and
    update the buffer. ``legacy`` is what a state dict without the buffer loads.

    Args:
        buffer: the state-dict key (under the module's prefix).
        legacy: the value of weights saved before the setting existed.
        choices: the allowed values (default ``(False, True)``).
        check: turns an assigned value into one of ``choices`` or raises (default: must be one).
    """

    def __init__(self, buffer: str, legacy: Any, choices: Sequence[Any] = (False, True), check=None):
        self.buffer = buffer
        self.choices = tuple(choices)
        if legacy not in self.choices:
            raise ValueError(f"legacy={legacy!r} is not one of {self.choices}")
        self.legacy = legacy
        self.check = check
        self.name = buffer

    @property
    def is_flag(self) -> bool:
        return self.choices == (False, True)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, module: nn.Module | None, owner: type | None = None) -> Any:
        if module is None:
            return self
        return module.__dict__[self._copy]

    def __set__(self, module: nn.Module, value: Any) -> None:
        value = self._checked(value)
        if self.buffer in module._buffers:
            getattr(module, self.buffer).fill_(self.encode(value))
        else:
            module.register_buffer(self.buffer, self.encode(value))
        module.__dict__[self._copy] = value

    @property
    def _copy(self) -> str:
        return f"_saved_{self.name}"

    def _checked(self, value: Any) -> Any:
        if self.check is not None:
            value = self.check(value)
        if self.is_flag and not isinstance(value, bool):
            raise TypeError(f"{self.name} must be True or False, got {value!r}")
        if value not in self.choices:
            raise ValueError(f"{self.name} must be one of {self.choices}, got {value!r}")
        return value

    def encode(self, value: Any) -> torch.Tensor:
        return torch.tensor(value) if self.is_flag else torch.tensor(self.choices.index(value))

    def decode(self, tensor: torch.Tensor, key: str) -> Any:
        if self.is_flag:
            return bool(tensor)
        code = int(tensor)
        if not 0 <= code < len(self.choices):
            raise RuntimeError(f"{key} holds {code}, not an index into {self.choices}")
        return self.choices[code]


class WithSavedSettings(nn.Module):
    """A module with :class:`SavedSetting` attributes: loading a state dict fills in the missing
    settings with their ``legacy`` values and refreshes the Python copies."""

    @classmethod
    def saved_settings(cls) -> list[SavedSetting]:
        found: dict[str, SavedSetting] = {}
        for klass in reversed(cls.__mro__):
            found.update({name: value for name, value in vars(klass).items() if isinstance(value, SavedSetting)})
        return list(found.values())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        settings = self.saved_settings()
        if any(name.startswith(prefix) for name in state_dict):  # this module's weights are in the dict
            for setting in settings:
                state_dict.setdefault(prefix + setting.buffer, setting.encode(setting.legacy))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        for setting in settings:
            self.__dict__[setting._copy] = setting.decode(getattr(self, setting.buffer), prefix + setting.buffer)
