"""The samplers the conformance suites run: each name in ``autotune.search.SAMPLERS`` and, as ``NAME+constraints``,
each that ``make_sampler`` wraps when the study has constraints, listed from the registry without building any
(building some imports PyTorch: collection stays cheap)."""

from autotune.search import SAMPLERS
from autotune.search._plugins import STEERS_BY_CONSTRAINTS

# ``auto`` stands for gp or tpe, both of which steer by constraints
ALL = [*SAMPLERS, *(f"{name}+constraints" for name in SAMPLERS if name in STEERS_BY_CONSTRAINTS or name == "auto")]

# samplers that fit a model for every proposal take seconds per study: the slow lane runs them
COSTLY = ("auto", "gp", "skopt-")


def constraints(trial):  # Optuna's FrozenTrial in, constraint values out (feasible: <= 0)
    return (0.0,)
