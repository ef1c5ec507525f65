"""Samplers and pruners by name, halving, and the views of a study that samplers read (the study engine that
runs them is ``autotune.engine``)."""

from autotune.search._halving import HalvingPruner, check_halving
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

__all__ = ["PRUNERS", "SAMPLERS", "HalvingPruner", "check_halving", "check_pruner", "check_sampler", "make_pruner",
           "make_sampler", "replay", "resolve_auto"]
