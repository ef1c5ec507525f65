"""The Gaussian-process half of ``auto``: Optuna's GP sampler that never spends a trial on a point it has seen.

On integer and categorical dimensions a GP's acquisition optimum often rounds to a configuration that was already
evaluated (the model is most sure there), and the study then pays a whole trial to learn nothing: on the decision
tree problem of ``benchmarks/quality.py`` one study in three spent 5 of its 32 trials on a single configuration.
This sampler asks the GP first and, when its proposal repeats a finished, pruned or running trial, asks a TPE
sampler (which draws around the good trials with a wider spread) and then uniform random, until the point is new.
The random start is checked the same way. Continuous proposals practically never repeat, so on float spaces it
behaves as Optuna's GP sampler.
"""

from __future__ import annotations

from typing import Any

from optuna.samplers import BaseSampler, GPSampler, RandomSampler, TPESampler
from optuna.trial import TrialState

_SEEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


class AutoGPSampler(BaseSampler):
    """GP proposals, re-proposed by TPE and then random search where they repeat a known configuration."""

    def __init__(self, *, seed: int | None, n_startup_trials: int, constraints_func=None, retries: int = 8):
        def shifted(k: int) -> int | None:
            return None if seed is None else seed + k

        self._gp = GPSampler(seed=seed, n_startup_trials=n_startup_trials, warn_independent_sampling=False,
                             constraints_func=constraints_func)
        self._tpe = TPESampler(seed=shifted(1), multivariate=True, n_startup_trials=n_startup_trials,
                               warn_independent_sampling=False, constraints_func=constraints_func)
        self._random = RandomSampler(seed=shifted(2))  # the random start, and the last resort against repeats
        self._retries = retries
        # which fallback proposed the latest trial (None: the GP or its random start); the engine appends it to the
        # trial's origin, as in "auto:gp>tpe"
        self.fallback: str | None = None

    def reseed_rng(self) -> None:
        for sampler in (self._gp, self._tpe, self._random):
            sampler.reseed_rng()

    def infer_relative_search_space(self, study, trial) -> dict[str, Any]:
        return self._gp.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        self.fallback = None
        if not search_space:  # the first trial (nothing to intersect yet): sample_independent
            return {}
        params = self._gp.sample_relative(study, trial, search_space)
        random_start = not params
        if random_start:  # drawn here as a whole, rather than param by param, so that repeats are caught too
            params = self._draw(study, trial, search_space)
        names = sorted(search_space)
        seen = {tuple(t.params.get(n) for n in names)
                for t in study.get_trials(deepcopy=False, states=_SEEN)
                if t.number != trial.number}
        for attempt in range(self._retries):
            if tuple(params.get(n) for n in names) not in seen:
                return params
            if attempt == 0 and not random_start:
                self.fallback = "tpe"
                params = self._tpe.sample_relative(study, trial, search_space) or params
            else:
                self.fallback = "random"
                params = self._draw(study, trial, search_space)
        return params  # a space with (almost) every point visited: repeat rather than fail

    def _draw(self, study, trial, search_space) -> dict[str, Any]:
        return {n: self._random.sample_independent(study, trial, n, d) for n, d in search_space.items()}

    def sample_independent(self, study, trial, param_name, param_distribution) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._gp.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._gp.after_trial(study, trial, state, values)
