"""Samplers and pruners by name, halving, and the views of a study that samplers read (the study engine that
runs them is ``autotune.engine``).

Importing this package imports no Optuna: the names that need it (the study views and the private-API helpers)
load on first use.
"""

from autotune.search._halving import HalvingPruner, check_halving, plan
from autotune.search._plugins import (
    LEARNS_FAILURES,
    PRUNERS,
    SAMPLERS,
    check_pruner,
    check_sampler,
    make_pruner,
    make_sampler,
    quiet_optuna,
    resolve_auto,
)
from autotune.search._replay import replay

__all__ = ["LEARNS_FAILURES", "PRUNERS", "SAMPLERS", "UNCOUNTED_ATTR", "HalvingPruner", "Latest", "LatestOnly",
           "check_halving", "check_pruner", "check_sampler", "frozen_study", "make_pruner", "make_sampler", "n_entries",
           "plan", "quiet_optuna", "read_trials", "replay", "resolve_auto", "set_trial_id", "set_trial_system_attr"]

_LAZY = {"UNCOUNTED_ATTR": "_history", "Latest": "_history", "LatestOnly": "_history", "n_entries": "_optuna_private",
         "frozen_study": "_optuna_private", "read_trials": "_optuna_private", "set_trial_id": "_optuna_private",
         "set_trial_system_attr": "_optuna_private"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"autotune.search.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'autotune.search' has no attribute {name!r}")
