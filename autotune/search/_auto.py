"""The Gaussian-process half of ``auto``: Optuna's GP sampler on warped values, never spending a trial on a repeat.

How it proposes a trial:

* After a random start, the GP is fitted to the finished values standardised and passed through a Yeo-Johnson
  transform (exponent fitted by maximum likelihood, kept within [-2, 2]), so that a few very bad trials do not
  flatten the model over the good region; the transform keeps the order, so the best trial stays the best.
* When the GP proposes a finished configuration again, it is shown that trial once more, as if rerun with the same
  result (an *echo*, kept for the rest of the run), and asked again, up to three times. A repeat that remains, or
  one of a pruned, running or failed configuration, goes to TPE and then to uniform random search until the point
  is new; the random start is checked the same way.
* Once the best value has stalled (moved by at most 1% of its lead over a random configuration in the last eight
  finished trials, with at least 16 finished), every third trial comes from a second GP fitted to the unwarped
  values (``auto:gp>plain-gp``), which explores where the warped GP is sure.

Why each rule is there, and what was measured: ``benchmarks/NOTES.md``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from optuna.samplers import BaseSampler, GPSampler, RandomSampler, TPESampler
from optuna.study import StudyDirection
from optuna.trial import TrialState

from autotune.search._optuna_private import read_trials

# the configurations a proposal must not repeat; a failed one too (before the first finished trial, when the engine
# cannot yet show failures to the sampler as worst-valued, they are still FAIL)
_SEEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING, TrialState.FAIL)


_MAX_EXPONENT = 2.0


def warp(values: np.ndarray) -> np.ndarray:
    """Standardise ``values`` (lower is better) and Yeo-Johnson-transform them; order-preserving.

    Values that cannot be warped (fewer than three, all equal, or not all finite) come back standardised or as given.
    """
    from scipy import stats

    values = np.asarray(values, dtype=float)
    if len(values) < 3 or not np.all(np.isfinite(values)):
        return values
    spread = values.std()
    if spread <= 0:
        return values
    z = (values - values.mean()) / spread
    try:
        # the maximum-likelihood exponent, kept within [-2, 2]: fitted to a few trials with one far outlier it can
        # run to -10 and beyond (elastic net in benchmarks/quality.py: the 32-trial score fell from 93 to 71, and
        # came back to 99 with the bound)
        exponent = float(np.clip(stats.yeojohnson_normmax(z), -_MAX_EXPONENT, _MAX_EXPONENT))
        warped = stats.yeojohnson(z, lmbda=exponent)
    except (ValueError, FloatingPointError, OverflowError):
        return z
    return warped if np.all(np.isfinite(warped)) and np.ptp(warped) > 0 else z


class _GPView:
    """The study as auto's GP sees it: finished values warped, and finished trials the GP asked for again echoed.

    Optuna's GP sampler reads the trials through ``study._get_trials``/``get_trials``; everything else (directions,
    the storage it writes its proposal to) is the study's own. ``echoes`` maps a finished trial's number to how many
    extra copies of it the GP sees (see ``AutoGPSampler``). Several objectives are passed through unwarped.
    """

    def __init__(self, study, echoes: dict[int, int] | None = None, warped: bool = True):
        self._study = study
        self._echoes = echoes or {}
        self._warped = warped
        self._done: list | None = None

    def __getattr__(self, name):
        return getattr(self._study, name)

    def _finished(self) -> list:
        """The COMPLETE trials as the GP sees them, the echoes appended (numbered after the study's trials)."""
        if self._done is None:
            trials = read_trials(self._study)
            done = [t for t in trials if t.state == TrialState.COMPLETE]
            extra = [t for t in done for _ in range(self._echoes.get(t.number, 0))]
            number = len(trials)
            echoes = []
            for t in extra:
                t = copy.copy(t)
                t.number, number = number, number + 1
                echoes.append(t)
            done = done + echoes
            if self._warped and len(self._study.directions) == 1 and done:
                sign = 1.0 if self._study.direction == StudyDirection.MINIMIZE else -1.0
                warped = warp(np.array([sign * t.value for t in done]))
                if np.all(np.isfinite(warped)):
                    done = [copy.copy(t) for t in done]
                    for t, w in zip(done, warped, strict=True):
                        t.values = [float(sign * w)]
            self._done = done
        return self._done

    def _view(self, trials, states):
        if states is not None and TrialState.COMPLETE not in states:
            return trials
        done = self._finished()
        return [t for t in trials if t.state != TrialState.COMPLETE] + done

    def _get_trials(self, deepcopy=False, states=None, use_cache=False):
        return self._view(read_trials(self._study, deepcopy=deepcopy, states=states, use_cache=use_cache), states)

    def get_trials(self, deepcopy=True, states=None):
        return self._view(self._study.get_trials(deepcopy=deepcopy, states=states), states)


class AutoGPSampler(BaseSampler):
    """GP proposals on warped values; a proposal that repeats a known configuration is asked again (see the module)."""

    def __init__(self, *, seed: int | None, n_startup_trials: int, constraints_func=None, retries: int = 64,
                 echoes: int = 3, stall_window: int = 8, stall_tolerance: float = 0.01, every: int = 3):
        def shifted(k: int) -> int | None:
            return None if seed is None else (seed + k) % 2**32  # a seed of 2**32 - 1 is allowed

        # constraint values reach these samplers on the trials themselves (``_plugins.constrained`` computes them
        # with ``constraints_func``); here it only says whether the study has constraints
        self._gp = GPSampler(seed=seed, n_startup_trials=n_startup_trials, warn_independent_sampling=False)
        self._tpe = TPESampler(seed=shifted(1), multivariate=True, n_startup_trials=n_startup_trials)
        self._random = RandomSampler(seed=shifted(2))  # the random start, and the last resort against repeats
        # the same GP on the values as they are: the second opinion asked when the warped GP has stalled
        self._plain_gp = GPSampler(seed=shifted(3), n_startup_trials=n_startup_trials,
                                   warn_independent_sampling=False)
        self._stall_window, self._stall_tolerance, self._second_opinion_every = stall_window, stall_tolerance, every
        self._constrained = constraints_func is not None
        self._retries = retries
        self._max_echoes = echoes  # GP re-asks per trial before TPE and random search take over
        self._echoes: dict[int, int] = {}  # finished trial number -> copies of it the GP has been shown so far
        # which fallback proposed the latest trial (None: the GP or its random start); the engine appends it to the
        # trial's origin, as in "auto:gp>tpe"
        self.fallback: str | None = None

    def reseed_rng(self) -> None:
        for sampler in (self._gp, self._plain_gp, self._tpe, self._random):
            sampler.reseed_rng()

    def infer_relative_search_space(self, study, trial) -> dict[str, Any]:
        return self._gp.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space) -> dict[str, Any]:
        self.fallback = None
        if not search_space:  # the first trial (nothing to intersect yet): sample_independent
            return {}
        params = self._gp.sample_relative(_GPView(study, self._echoes), trial, search_space)
        random_start = not params
        # a second opinion, from the GP on the unwarped values. The warped GP was asked all the same: it starts each
        # fit from its previous kernel parameters and draws from its own generator, so skipping it here would
        # change its later proposals from those the quality benchmark measured
        if params and self._stalled(study, trial):
            self.fallback = "plain-gp"
            params = self._plain_gp.sample_relative(_GPView(study, self._echoes, warped=False), trial,
                                                    search_space) or params
        if random_start:  # drawn here as a whole, rather than param by param, so that repeats are caught too
            params = self._draw(study, trial, search_space)
        names = sorted(search_space)
        seen = {tuple(t.params.get(n) for n in names): t
                for t in study.get_trials(deepcopy=False, states=_SEEN)
                if t.number != trial.number}
        echoed, tried_tpe = 0, False
        for _ in range(self._max_echoes + self._retries):
            twin = seen.get(tuple(params.get(n) for n in names))
            if twin is None:
                return params
            if not random_start and echoed < self._max_echoes and twin.state == TrialState.COMPLETE:
                # show the GP the repeated trial once more, as if it had been run again with the same result, and
                # ask again: its uncertainty there shrinks, so its next proposal moves on
                echoed += 1
                self.fallback = None  # the warped GP proposes again, whichever GP was asked first
                self._echoes[twin.number] = self._echoes.get(twin.number, 0) + 1
                params = self._gp.sample_relative(_GPView(study, self._echoes), trial, search_space) or params
            elif not random_start and not tried_tpe:
                tried_tpe, self.fallback = True, "tpe"
                params = self._tpe.sample_relative(study, trial, search_space) or params
            else:
                self.fallback = "random"
                params = self._draw(study, trial, search_space)
        return params  # a space with (almost) every point visited: repeat rather than fail

    def _stalled(self, study, trial) -> bool:
        """Whether this trial is due a second opinion: the best value has not moved by 1% of its lead for a while.

        The lead is how far the best value lies below the median of the study's first ten finished trials (mostly
        its random start: what a random configuration scores). Stalled means the last ``stall_window`` finished
        trials improved the best by at most ``stall_tolerance`` of it; then every ``every``-th trial (by its number
        in the sampler's study) is proposed by the unwarped GP. It needs ``2 * stall_window`` finished trials, 16 by
        default, so studies of 16 trials or fewer never use it. Trials that break the study's constraints do not
        count, as they do not for the best value.
        """
        if len(study.directions) != 1 or trial.number % self._second_opinion_every:
            return False
        done = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)
        if self._constrained:
            done = [t for t in done if all(c <= 0 for c in t.system_attrs.get("constraints") or ())]
        window = self._stall_window
        if len(done) < 2 * window:
            return False
        sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
        values = np.array([sign * t.value for t in done])
        best, before = values.min(), values[:-window].min()
        lead = np.median(values[:10]) - best
        return bool(lead > 0 and before - best <= self._stall_tolerance * lead)

    def _draw(self, study, trial, search_space) -> dict[str, Any]:
        return {n: self._random.sample_independent(study, trial, n, d) for n, d in search_space.items()}

    def sample_independent(self, study, trial, param_name, param_distribution) -> Any:
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._gp.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._gp.after_trial(study, trial, state, values)
