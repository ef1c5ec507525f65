"""The trials a sampler learns from: each trial once, as it stands now.

The engine mirrors the study into an in-memory Optuna study for the sampler. Optuna's finished trials cannot be
changed, so a trial the halving pruner paused (told to the sampler as pruned at its rung) and later continued is
told again when it finishes: a second entry. Without care the sampler would count that trial twice (TPE's random
start-up would end early, and the continued trials, the good ones, would weigh double in its model). ``Latest``
keeps, per trial number, which entry is the current one and hides the others from the sampler.

Failed trials. Optuna's model-based samplers learn from finished values only, so a region where the objective fails
looks unexplored to them, and their optimum can sit right in it: on a square whose right half raised, auto's GP
proposed nearly the same failing point for ten trials in a row, and Optuna's GP the very same one nine times. The
samplers that model the values see each failed trial as one that finished with the worst value finished so far (a
crash cost, as SMAC charges), breaking every constraint in a constrained study, so that they learn the region
fails and leave it.
"""

from __future__ import annotations

import copy
from typing import Any

from optuna.samplers import BaseSampler
from optuna.study import StudyDirection
from optuna.trial import TrialState

from autotune.search._optuna_private import read_trials


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
    """The in-memory study as the wrapped sampler reads it: without the hidden entries, and (``failures``) with each
    failed trial shown as a COMPLETE one holding the worst finished value (see ``failed_as_worst``)."""

    def __init__(self, study, hidden: set[int], failures: bool) -> None:
        self._study, self._hidden, self._failures = study, hidden, failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _shown(self, read, deepcopy: bool, states) -> list:
        wanted = None if states is None else tuple(states)
        if self._failures and wanted is not None and TrialState.COMPLETE in wanted:
            wanted += (TrialState.FAIL,)
        trials = read(deepcopy, wanted)
        if self._hidden:
            trials = [t for t in trials if t.number not in self._hidden]
        if self._failures and any(t.state == TrialState.FAIL for t in trials):
            done = [t for t in trials if t.state == TrialState.COMPLETE]
            worst = {t.number: t for t in failed_as_worst(trials, done, self._study.directions)}
            trials = [worst.get(t.number, t) for t in trials]
        if wanted != (None if states is None else tuple(states)):
            trials = [t for t in trials if t.state in states]  # the failed trials read for it and not shown
        return trials

    def _get_trials(self, deepcopy: bool = True, states=None, use_cache: bool = False) -> list:
        return self._shown(lambda d, s: read_trials(self._study, deepcopy=d, states=s, use_cache=use_cache),
                           deepcopy, states)

    def get_trials(self, deepcopy: bool = True, states=None) -> list:
        return self._shown(lambda d, s: self._study.get_trials(deepcopy=d, states=s), deepcopy, states)

    @property
    def trials(self) -> list:
        return self.get_trials()


class LatestOnly(BaseSampler):
    """Runs ``inner`` on a view of the study that shows each trial's current entry only, and with
    ``learn_failures`` each failed trial as the worst finished one (for the samplers that model the values)."""

    def __init__(self, inner: BaseSampler, latest: Latest, learn_failures: bool = False) -> None:
        self.inner, self._latest, self._learn = inner, latest, learn_failures
        self.failed = False  # set by the engine once the study holds a failed trial: until then nothing to show

    def _view(self, study):
        failures = self._learn and self.failed
        return _View(study, self._latest.hidden, failures) if self._latest.hidden or failures else study

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


# set on a failed trial's entry that does not count toward n_trials: its configuration runs again (max_retries,
# a stale trial queued again), or it failed in a study none of whose trials ran then (a broken study file). Either
# way its failure says nothing of its region, and the models do not learn it as the region's
UNCOUNTED_ATTR = "autotune:uncounted"


def failed_as_worst(trials: list, done: list, directions) -> list:
    """Copies of the failed trials among ``trials`` as COMPLETE ones holding the worst value of ``done`` (and, in a
    constrained study, breaking every constraint). Failed trials marked ``UNCOUNTED_ATTR`` are left
    out. With nothing finished there is no value to use.
    """
    failed = [t for t in trials if t.state == TrialState.FAIL and t.params and not t.system_attrs.get(UNCOUNTED_ATTR)]
    if not failed or not done:
        return []
    worst = [max(v) if d == StudyDirection.MINIMIZE else min(v)
             for d, v in zip(directions, zip(*(t.values for t in done), strict=True), strict=True)]
    keys = next((list(t.constraints) for t in done if t.constraints), [])
    out = []
    for t in failed:
        t = copy.copy(t)
        t.state, t.values = TrialState.COMPLETE, list(worst)
        if keys:
            t.system_attrs = {k: v for k, v in t.system_attrs.items() if not k.startswith("constraints")}
            t.system_attrs.update({f"constraints:{k}": 1.0 for k in keys})
        out.append(t)
    return out
