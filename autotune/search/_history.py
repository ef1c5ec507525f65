"""The trials a sampler learns from: each trial once, as it stands now.

The engine mirrors the study into an in-memory Optuna study for the sampler. Optuna's finished trials cannot be
changed, so a trial the halving pruner paused (told to the sampler as pruned at its rung) and later continued is
told again when it finishes: a second entry. Without care the sampler would count that trial twice (TPE's random
start-up would end early, and the continued trials, the good ones, would weigh double in its model). ``Latest``
keeps, per trial number, which entry is the current one and hides the others from the sampler.
"""

from __future__ import annotations

from typing import Any

from optuna.samplers import BaseSampler


class Latest:
    """Which in-memory entry stands for each of the study's trials; the superseded ones are hidden."""

    def __init__(self) -> None:
        self.entry: dict[int, int] = {}  # the study's trial number -> the number of its current in-memory entry
        self.hidden: set[int] = set()

    def point(self, number: int, entry: int) -> None:
        old = self.entry.get(number)
        if old is not None and old != entry:
            self.hidden.add(old)
        self.entry[number] = entry


class _View:
    """The in-memory study without the hidden entries, as the wrapped sampler reads it."""

    def __init__(self, study, hidden: set[int]) -> None:
        self._study, self._hidden = study, hidden

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = True, states=None, use_cache: bool = False) -> list:
        trials = self._study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)
        return [t for t in trials if t.number not in self._hidden] if self._hidden else trials

    def get_trials(self, deepcopy: bool = True, states=None) -> list:
        trials = self._study.get_trials(deepcopy=deepcopy, states=states)
        return [t for t in trials if t.number not in self._hidden] if self._hidden else trials

    @property
    def trials(self) -> list:
        return self.get_trials()


class LatestOnly(BaseSampler):
    """Runs ``inner`` on a view of the study that shows each trial's current entry only."""

    def __init__(self, inner: BaseSampler, latest: Latest) -> None:
        self.inner, self._latest = inner, latest

    def _view(self, study):
        return _View(study, self._latest.hidden) if self._latest.hidden else study

    def infer_relative_search_space(self, study, trial):
        return self.inner.infer_relative_search_space(self._view(study), trial)

    def sample_relative(self, study, trial, search_space):
        return self.inner.sample_relative(self._view(study), trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.inner.sample_independent(self._view(study), trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self.inner.before_trial(self._view(study), trial)

    def after_trial(self, study, trial, state, values) -> None:
        self.inner.after_trial(self._view(study), trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()
