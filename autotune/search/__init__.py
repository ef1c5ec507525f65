"""Samplers, pruners and the study engine (ask -> run -> tell -> persist)."""

from autotune.search._halving import HalvingPruner
from autotune.search._plugins import (
    PRUNERS,
    SAMPLERS,
    check_pruner,
    check_sampler,
    make_pruner,
    make_sampler,
    resolve_auto,
)
from autotune.search._replay import replay

__all__ = ["PRUNERS", "SAMPLERS", "HalvingPruner", "check_pruner", "check_sampler", "make_pruner", "make_sampler",
           "replay", "resolve_auto"]
