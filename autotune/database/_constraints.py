"""The one rule for a constrained trial's verdict, kept in its metrics under ``FEASIBLE`` beside its constraint
values (``CONSTRAINTS``). Every layer that asks whether a trial met the study's constraints asks ``feasible``."""

from __future__ import annotations

import json
from typing import Any

FEASIBLE = "_feasible"  # a constrained trial's verdict, kept in its metrics (false: it broke a constraint)
CONSTRAINTS = "_constraints"  # a constrained trial's constraint values, kept in its metrics beside FEASIBLE


def feasible(metrics: dict[str, Any] | str | None) -> bool:
    """Whether a trial met the study's constraints, from its metrics as a dict or as stored (JSON text, or None).
    Only a verdict of ``False`` rejects it: trials of unconstrained studies always pass."""
    if isinstance(metrics, str):
        if f'"{FEASIBLE}"' not in metrics:  # (most stored metrics: no verdict to read, nothing to parse)
            return True
        metrics = json.loads(metrics)
    return not isinstance(metrics, dict) or metrics.get(FEASIBLE, True) is not False
