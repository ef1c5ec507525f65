"""What a ready objective is (``torch_objective``, ``lightgbm_objective``, ``sklearn_objective``): an objective
function that also carries

* ``metric_rule``: the metrics it computes and their directions (:class:`~autotune.objectives._metric.MetricRule`),
  so a study whose metric it cannot report is refused before its first trial, and each trial reports the
  study's metric;
* ``forget(study_name, config)``: drop what it kept to continue that trial (its checkpoint), called when the
  halving pruner prunes a paused trial;
* ``artifact``: the name of the trained model it saves with each finished trial (None when told not to).

Each factory returns its objective through :func:`ready`, which declares it; a trial it pauses goes on from where
it stopped when continued. ``tests/test_conformance_objectives.py`` holds each one to this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from autotune.objectives import _checkpoints
from autotune.objectives._metric import MetricRule


@runtime_checkable
class ReadyObjective(Protocol):
    metric_rule: MetricRule
    artifact: str | None

    def __call__(self, config: dict[str, Any], trial: Any) -> dict[str, Any]: ...

    def forget(self, study_name: str, config: dict[str, Any]) -> None: ...


def ready(objective: Callable[[dict[str, Any], Any], dict[str, Any]], *, metric_rule: MetricRule,
          artifact: str | None, forget: Callable[[str, dict[str, Any]], None] | None = None) -> ReadyObjective:
    """Declare ``objective`` a ready objective. ``forget`` is given by an objective that keeps checkpoints (it is
    registered, so that the engine finds it even when a study file wraps the objective in a function of its own);
    one that keeps none forgets nothing."""
    if forget is None:
        def forget(study_name: str, config: dict[str, Any]) -> None:
            """This objective keeps no checkpoint: nothing to forget."""
    else:
        _checkpoints.register(forget)
    objective.forget = forget
    objective.metric_rule = metric_rule
    objective.artifact = artifact
    return objective
