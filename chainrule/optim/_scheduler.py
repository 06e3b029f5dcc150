"""What every learning-rate scheduler shares: the optimizer check, writing the groups'
learning rates, ``get_last_lr`` and an exact, JSON-able ``state_dict``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .optimizer import Optimizer, _jsonable


class _Scheduler:
    _exclude: tuple[str, ...] = ("optimizer",)  # attributes left out of state_dict
    _per_group: tuple[str, ...] = ("base_lrs", "_last_lr", "max_lrs", "min_lrs")

    _last_lr: list[float]

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"a scheduler needs a chainrule Optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer

    def get_last_lr(self) -> list[float]:
        """The learning rate of every group, as last set by this scheduler."""
        return list(self._last_lr)

    def _write(self, lrs: Iterable[float]) -> None:
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=False):
            group["lr"] = lr

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state: numbers, strings, None and lists only (JSON-able)."""
        return {k: _jsonable(v) for k, v in vars(self).items() if k not in self._exclude}

    def _check_state(self, state_dict: Mapping[str, Any]) -> None:
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"a scheduler state_dict must be a dict, got "
                             f"{type(state_dict).__name__}")
        expected = {k for k in vars(self) if k not in self._exclude}
        missing, unknown = expected - set(state_dict), set(state_dict) - expected
        if missing or unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: missing key(s) "
                             f"{sorted(missing)}, unknown key(s) {sorted(unknown)}")
        n = len(self.optimizer.param_groups)
        for key in self._per_group:
            if key in state_dict and len(state_dict[key]) != n:
                raise ValueError(f"{key} has {len(state_dict[key])} entries in the "
                                 f"state_dict, but the optimizer has {n} parameter groups")

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`; the following steps are those the saved one made."""
        self._check_state(state_dict)
        for key in vars(self).copy():
            if key not in self._exclude:
                setattr(self, key, _jsonable(state_dict[key]))
