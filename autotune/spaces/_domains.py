"""Search-space primitives: one small immutable class per kind of parameter domain.

Each domain validates its arguments in the constructor, converts itself to an Optuna distribution, and describes
itself as a plain dict (the study database stores that to detect a changed space on resume).

>>> uniform(0.0, 1.0)
uniform(0.0, 1.0)
>>> randint(1, 4).to_dict()
{'kind': 'randint', 'low': 1, 'high': 4, 'step': 1, 'log': False}
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

from autotune.errors import SpaceError

_PRIMITIVES = (type(None), bool, int, float, str)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+(?=>)")  # as reprs end: <function f at 0x7f...>


def strip_addresses(text: str) -> str:
    """``text`` without the memory addresses of reprs such as ``<function f at 0x7f...>``."""
    return _ADDRESS.sub("", text)


def stable_repr(value: Any) -> str:
    """``repr(value)`` without memory addresses: the study database compares a space's description on resume, and
    a function's repr (``<function loss at 0x7f...>``) changes with every process."""
    return strip_addresses(repr(value))


def _require_number(fn: str, name: str, value: Any, integer: bool = False) -> None:
    ok = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)
    if not ok:
        kind = "an integer" if integer else "a number"
        raise SpaceError(f"{fn}: `{name}` must be {kind}, but got {value!r} ({type(value).__name__}).")
    if not integer and not math.isfinite(value):
        raise SpaceError(f"{fn}: `{name}` must be finite, but got {value!r}.")


class Domain:
    """Base class of every parameter domain. Subclasses are frozen after ``__init__``."""

    kind: str = ""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def distribution(self):  # -> optuna.distributions.BaseDistribution
        raise NotImplementedError

    def suggest(self, otrial, name: str) -> Any:
        """Ask an Optuna trial for a value of this domain."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a value of this domain (used to check enqueued configurations)."""
        raise NotImplementedError

    def grid_values(self, name: str) -> list[Any]:
        raise SpaceError(f"the grid sampler needs discrete parameters, but '{name}' is {self!r}; "
                         "give it a `step`, or use `choice`.")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Domain) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __setattr__(self, key: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"{type(self).__name__} is immutable; build a new one instead.")
        object.__setattr__(self, key, value)


class Float(Domain):
    """A float in ``[low, high]``, optionally on a log scale or quantised by ``step``."""

    kind = "float"

    def __init__(self, low: float, high: float, *, log: bool = False, step: float | None = None) -> None:
        fn = "loguniform" if log else "uniform"
        _require_number(fn, "low", low)
        _require_number(fn, "high", high)
        if not low <= high:
            raise SpaceError(f"{fn}: `low <= high` must hold, but got (low={low!r}, high={high!r}).")
        if log and low <= 0:
            raise SpaceError(f"{fn}: a log scale needs `low > 0`, but got (low={low!r}, high={high!r}); "
                             "use uniform() for ranges that include zero.")
        if step is not None:
            if log:
                raise SpaceError(f"{fn}: `step` cannot be combined with a log scale (step={step!r}).")
            _require_number(fn, "step", step)
            if step <= 0:
                raise SpaceError(f"{fn}: `step > 0` must hold, but got step={step!r}.")
            n = (high - low) / step
            if abs(n - round(n)) > 1e-8 * max(1.0, abs(n)):
                raise SpaceError(f"{fn}: `high - low` must be a multiple of `step`, but got "
                                 f"(low={low!r}, high={high!r}, step={step!r}).")
        self.low, self.high, self.log, self.step = float(low), float(high), bool(log), step
        self._frozen = True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "loguniform" if self.log else "uniform", "low": self.low, "high": self.high,
                "step": self.step}

    def distribution(self):
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, otrial, name: str) -> float:
        # float(): an enqueued 2 is stored and passed on as 2.0, as the sampler would propose it (Optuna's
        # FixedTrial returns the value it was given), so it matches a trial of the same configuration
        return float(otrial.suggest_float(name, self.low, self.high, log=self.log, step=self.step))

    def contains(self, value: Any) -> bool:
        if not (isinstance(value, numbers.Real) and not isinstance(value, bool) and self.low <= value <= self.high):
            return False
        if self.step is None:
            return True
        k = (value - self.low) / self.step  # on the grid low, low + step, ...: a whole k, up to rounding
        return abs(k - round(k)) <= 1e-9 * max(1.0, abs(k))

    def grid_values(self, name: str) -> list[Any]:
        if self.step is None:
            return super().grid_values(name)
        n = int(round((self.high - self.low) / self.step))
        return [self.low + i * self.step for i in range(n + 1)]

    def __repr__(self) -> str:
        fn = "loguniform" if self.log else "uniform"
        step = f", step={self.step!r}" if self.step is not None else ""
        return f"{fn}({self.low!r}, {self.high!r}{step})"


class Int(Domain):
    """An integer in ``[low, high]``, both bounds included, optionally quantised or on a log scale."""

    kind = "randint"

    def __init__(self, low: int, high: int, *, step: int = 1, log: bool = False) -> None:
        _require_number("randint", "low", low, integer=True)
        _require_number("randint", "high", high, integer=True)
        _require_number("randint", "step", step, integer=True)
        if not low <= high:
            raise SpaceError(f"randint: `low <= high` must hold (both bounds are inclusive), but got "
                             f"(low={low!r}, high={high!r}).")
        if step < 1:
            raise SpaceError(f"randint: `step >= 1` must hold, but got step={step!r}.")
        if (high - low) % step:
            raise SpaceError(f"randint: `high - low` must be a multiple of `step`, but got (low={low!r}, "
                             f"high={high!r}, step={step!r}); use high={high - (high - low) % step}.")
        if log and low < 1:
            raise SpaceError(f"randint: a log scale needs `low >= 1`, but got low={low!r}.")
        if log and step != 1:
            raise SpaceError(f"randint: `step` cannot be combined with a log scale (step={step!r}).")
        self.low, self.high, self.step, self.log = int(low), int(high), int(step), bool(log)
        self._frozen = True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "randint", "low": self.low, "high": self.high, "step": self.step, "log": self.log}

    def distribution(self):
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def suggest(self, otrial, name: str) -> int:
        return otrial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: Any) -> bool:
        return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                and self.low <= value <= self.high and (value - self.low) % self.step == 0)

    def grid_values(self, name: str) -> list[Any]:
        return list(range(self.low, self.high + 1, self.step))

    def __repr__(self) -> str:
        extra = (f", step={self.step}" if self.step != 1 else "") + (", log=True" if self.log else "")
        return f"randint({self.low}, {self.high}{extra})"


class Categorical(Domain):
    """One of a list of values. Values that Optuna cannot store (tuples, objects) are proposed by index."""

    kind = "choice"

    def __init__(self, values: list[Any], *, by_index: bool | None = None) -> None:
        values = list(values)
        if not values:
            raise SpaceError("choice: the list of values is empty; give at least one value.")
        self.values = tuple(values)
        self.by_index = not all(isinstance(v, _PRIMITIVES) for v in values) if by_index is None else by_index
        self._frozen = True

    @property
    def categories(self) -> tuple[Any, ...]:
        """The values as the sampler sees them."""
        return tuple(range(len(self.values))) if self.by_index else self.values

    def decode(self, stored: Any) -> Any:
        return self.values[stored] if self.by_index else stored

    def to_dict(self) -> dict[str, Any]:
        if self.by_index:
            return {"kind": "choice", "values": [stable_repr(v) for v in self.values], "by_index": True}
        return {"kind": "choice", "values": list(self.values)}

    def distribution(self):
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.categories)

    def suggest(self, otrial, name: str) -> Any:
        return otrial.suggest_categorical(name, self.categories)

    def contains(self, value: Any) -> bool:
        return value in self.values

    def grid_values(self, name: str) -> list[Any]:
        return list(self.categories)

    def __repr__(self) -> str:
        return f"choice({list(self.values)!r})"


class Fixed(Domain):
    """A constant that appears in ``config`` but is not searched."""

    kind = "fixed"

    def __init__(self, value: Any) -> None:
        self.value = value
        self._frozen = True

    def to_dict(self) -> dict[str, Any]:
        value = self.value if isinstance(self.value, _PRIMITIVES) else stable_repr(self.value)
        return {"kind": "fixed", "value": value}

    def __repr__(self) -> str:
        return f"fixed({self.value!r})"


def uniform(low: float, high: float, *, step: float | None = None) -> Float:
    """A float drawn uniformly from ``[low, high]``; with ``step``, from ``low, low + step, ..., high``."""
    return Float(low, high, step=step)


def loguniform(low: float, high: float) -> Float:
    """A float drawn uniformly on a log scale from ``[low, high]``; needs ``low > 0``."""
    return Float(low, high, log=True)


def randint(low: int, high: int, *, step: int = 1, log: bool = False) -> Int:
    """An integer from ``low`` to ``high``, both included."""
    return Int(low, high, step=step, log=log)


def fixed(value: Any) -> Fixed:
    """A constant passed to the objective unchanged."""
    return Fixed(value)
