"""Samplers and pruners by name, halving, and the views of a study that samplers read (the study engine that
runs them is ``autotune.engine``)."""

from autotune.search._halving import HalvingPruner, check_halving, plan
from autotune.search._history import UNCOUNTED as UNCOUNTED_ATTR
from autotune.search._history import Latest, LatestOnly
from autotune.search._optuna_private import n_entries, read_trials, set_trial_id, set_trial_system_attr
from autotune.search._plugins import (
    LEARNS_FAILURES,
    PRUNERS,
    SAMPLERS,
    check_pruner,
    check_sampler,
    make_pruner,
    make_sampler,
    resolve_auto,
)
from autotune.search._replay import replay

__all__ = ["LEARNS_FAILURES", "PRUNERS", "SAMPLERS", "UNCOUNTED_ATTR", "HalvingPruner", "Latest", "LatestOnly",
           "check_halving", "check_pruner", "check_sampler", "make_pruner", "make_sampler", "n_entries", "plan",
           "read_trials", "replay", "resolve_auto", "set_trial_id", "set_trial_system_attr"]
