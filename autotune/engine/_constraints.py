"""A constrained study's verdict on each finished trial: the constraint values, and whether it is feasible."""

from __future__ import annotations

import math
from typing import Any

from autotune.database import CONSTRAINTS, FEASIBLE
from autotune.errors import ObjectiveContractError
from autotune.objectives import as_real


def constraint_values(raw: Any) -> list[float] | None:
    """A constraints function's result as a list of floats, or None where it is not one or more real numbers
    (a bool is refused: True would read as 1.0, infeasible, the opposite of what a condition means)."""
    if getattr(raw, "ndim", 0) == 1 and callable(getattr(raw, "tolist", None)):  # a numpy array or torch tensor
        raw = raw.tolist()
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    values = [as_real(v) for v in items]  # numpy and torch scalars too; never a bool
    return values if values and all(v is not None and math.isfinite(v) for v in values) else None


class Constraints:
    """The study's ``constraints(metrics)`` function, evaluated on each trial that completes."""

    def __init__(self, func) -> None:
        self.func = func
        self.n = 1  # how many values it gives (known once it ran)

    def of(self, ftrial) -> list[float]:
        """What the samplers read: the values computed for a trial (pruned trials count as feasible)."""
        return ftrial.user_attrs.get(CONSTRAINTS, [0.0] * self.n)

    def evaluate(self, number: int, metrics: dict[str, Any]) -> list[float]:
        """The values for a trial's ``metrics``, recorded in them with the verdict. ObjectiveContractError: the
        function failed or gave something other than numbers (a bug in the study file: the run stops)."""
        try:
            raw = self.func(dict(metrics))
        except Exception as exc:  # noqa: BLE001 - a bug in the study file: stop, as for a bad return value
            raise ObjectiveContractError(f"trial {number}: the constraints function failed on "
                                         f"{metrics}: {type(exc).__name__}: {exc}") from None
        values = constraint_values(raw)
        if values is None:
            raise ObjectiveContractError(
                f"trial {number}: the constraints function returned {raw!r} for {metrics}; return a "
                "number or a list of numbers, each <= 0 when the trial is feasible (a condition such as "
                "latency < 20 is written latency - 20).")
        self.n = len(values)
        metrics[CONSTRAINTS] = values
        metrics[FEASIBLE] = all(v <= 0 for v in values)
        return values
