"""Optuna samplers as autotune runs them: the grid sampler without its stop, and a sampler told each finished
trial's constraint values. Imported when a sampler is built (importing ``autotune.search`` imports no Optuna)."""

from __future__ import annotations

from optuna.samplers import BaseSampler, GridSampler
from optuna.trial import TrialState

from autotune.search._optuna_private import set_trial_system_attr


class Grid(GridSampler):
    """Optuna's grid sampler, minus its ``study.stop()`` call: the engine caps the budget at the grid size."""

    def after_trial(self, study, trial, state, values) -> None:
        return None


class ConstrainedSampler(BaseSampler):
    """A sampler whose finished trials carry their constraint values, where Optuna's samplers read them.

    Optuna's samplers read a trial's constraints from the trial itself (what ``Trial.set_constraint`` records, or
    the list Optuna's own after-trial step stores); the ``constraints_func`` argument that made them compute the
    values is deprecated (a FutureWarning on every run). Here the values are computed once per finished trial, as
    that step did (complete and pruned trials), stored in the same place, and the wrapped sampler is told the trial.
    """

    def __init__(self, inner, constraints_func) -> None:
        self.inner, self._constraints_func = inner, constraints_func

    def __getattr__(self, name: str):  # what the engine reads of a sampler (e.g. ``fallback``) is the inner one's
        if name in ("inner", "_constraints_func"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def infer_relative_search_space(self, study, trial):
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        if state in (TrialState.COMPLETE, TrialState.PRUNED):
            constraints = tuple(float(v) for v in self._constraints_func(trial))
            set_trial_system_attr(study, trial, "constraints", constraints)
            trial.system_attrs["constraints"] = constraints
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
