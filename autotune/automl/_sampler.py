"""The AutoML sampler: which family to try next, and which configuration of it, within the time left.

Family: by the estimated cost for improvement (as FLAML's search does): for each family, the time it took to improve
last (or has spent since without improving), and for a family behind the leader, the time its recent rate of
improvement would need to close the gap; a family is drawn with probability proportional to the inverse of that
cost. A family not tried yet costs its cheap configuration. Families that cannot fit a trial in the time left are
not drawn.

Configuration: the family's cheap configuration first (enqueued by the driver), then its known-good configurations
in order, then -- two times in three -- a random step around one of its best configurations (the step shrinks as
the family stops improving), else a TPE proposal fitted to that family's trials alone.

Time: every proposal's cost is estimated from the family's measured trials (cost grows with the number of trees or
rounds); one that would not finish before ``deadline``, or whose final refit would not fit in ``refit_cap``, has
its trees or rounds cut to fit. When nothing fits and no other trial runs, the sampler raises :class:`StopSearch`,
which ends the run (its finished trials are kept).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.trial import TrialState

from autotune.automl._families import FAMILIES
from autotune.search import read_trials
from autotune.spaces import Categorical, Conditional, Float, Int

# the order in which the families' first known-good configurations are tried (how they usually rank on tables)
PRIORITY = ["lgbm", "xgboost", "catboost", "hgb", "extra_trees", "rf", "linear", "mlp", "knn"]


class StopSearch(Exception):
    """Raised by the sampler when no trial can finish in the time left: ends the search run."""


class _FamilyView:
    """The study as TPE sees it for one family: only that family's trials."""

    def __init__(self, study, family: str) -> None:
        self._study, self._family = study, family

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _keep(self, trials):
        return [t for t in trials if t.params.get("estimator") == self._family]

    def _get_trials(self, deepcopy: bool = True, states=None, use_cache: bool = False):
        return self._keep(read_trials(self._study, deepcopy=deepcopy, states=states, use_cache=use_cache))

    def get_trials(self, deepcopy: bool = True, states=None):
        return self._keep(self._study.get_trials(deepcopy=deepcopy, states=states))

    @property
    def trials(self):
        return self.get_trials()


class AutoMLSampler(BaseSampler):
    """See the module doc. ``space``: the study's :class:`~autotune.spaces.Space`; ``families``: those to search;
    ``mode``: the metric's direction; ``costs``: ``{family: [(size, seconds), ...]}`` measured before this run;
    ``base_cost``: the seconds of one trial of LightGBM's cheap configuration (a probe's estimate)."""

    def __init__(self, space, families: list[str], task: str, mode: str, *, seed: int = 0,
                 costs: dict[str, list[tuple[float, float]]] | None = None, base_cost: float = 0.1) -> None:
        self.space, self.families, self.task, self.mode = space, list(families), task, mode
        self.sign = 1.0 if mode == "min" else -1.0
        self.rng = np.random.default_rng(seed)
        self.tpe = TPESampler(seed=seed, multivariate=True, n_startup_trials=5)
        self.random = RandomSampler(seed=seed)
        self.costs: dict[str, list[tuple[float, float]]] = {f: list((costs or {}).get(f, [])) for f in FAMILIES}
        self.base_cost = max(1e-3, base_cost)
        self.deadline: float | None = None  # a time.time() by which trials must end
        self.refit_cap: float | None = None  # seconds a final refit of the proposal may take at most
        self.refit_ratio = 1.0  # a refit's cost per second of trial
        self.force: dict[str, Any] | None = None  # params to propose (the final trial)
        # the first trials of a run with workers wait for them to start: their times say nothing of their cost
        self.warmup = 0
        self._pending: dict[int, dict[str, Any]] = {}
        self.params_of = {f: self._family_params(f) for f in FAMILIES}

    # -- the space, per family ----------------------------------------------------------------------------------
    def _family_params(self, family: str) -> dict[str, Any]:
        """The family's parameters as the samplers name them (``n_estimators[estimator=rf]``), with domains."""
        out = {}
        for (path, name), key in self.space._keys.items():
            if path == (("estimator", family),) and key in self.space._flat:
                out[key] = (name, self.space._flat[key])
        return out

    def to_params(self, family: str, config: dict[str, Any]) -> dict[str, Any]:
        """A family configuration (declared names) as params under the samplers' names."""
        params = {"estimator": family}
        for key, (name, _) in self.params_of[family].items():
            params[key] = config[name]
        return params

    def from_params(self, family: str, params: dict[str, Any]) -> dict[str, Any]:
        return {name: params[key] for key, (name, _) in self.params_of[family].items() if key in params}

    # -- Optuna's sampler interface ------------------------------------------------------------------------------
    def infer_relative_search_space(self, study, trial):
        if trial.system_attrs.get("fixed_params"):  # an enqueued configuration: runs as given
            return {}
        if self.force is not None:
            params = dict(self.force)
        else:
            params = self._propose(study, trial)
        self._pending[trial.number] = params
        return self.space.distributions_for(params)

    def sample_relative(self, study, trial, search_space):
        if not search_space:
            return {}
        return self._pending.pop(trial.number, {})

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        family = trial.params.get("estimator")
        if self.warmup > 0:
            self.warmup -= 1
            return
        if family in FAMILIES and trial.datetime_start is not None:
            seconds = max(1e-4, time.time() - trial.datetime_start.timestamp())
            self.costs[family].append((FAMILIES[family].size(self.from_params(family, trial.params)), seconds))

    def reseed_rng(self) -> None:
        self.rng = np.random.default_rng()
        self.tpe.reseed_rng()
        self.random.reseed_rng()

    # -- costs -------------------------------------------------------------------------------------------------
    def estimate(self, family: str, config: dict[str, Any]) -> float:
        """Seconds a trial of ``config`` is expected to take."""
        fam = FAMILIES[family]
        size = fam.size(config)
        seen = self.costs.get(family) or []
        if not seen:
            cheap = fam.cheap(self.task)
            return self.base_cost * fam.cost_factor * max(1.0, size / max(fam.size(cheap), 1e-9))
        per_unit = float(np.median([s / max(z, 1e-9) for z, s in seen]))
        floor = min(s for _, s in seen)
        return max(floor, per_unit * size)

    def _fit_in(self, family: str, config: dict[str, Any], limit: float) -> dict[str, Any] | None:
        """``config`` with its trees or rounds cut so that a trial takes at most ``limit`` seconds (None: even the
        fewest would not)."""
        est = self.estimate(family, config)
        if est <= limit:
            return config
        fam = FAMILIES[family]
        if fam.size_param is None:
            return None
        key = next(k for k, (name, _) in self.params_of[family].items() if name == fam.size_param)
        low = self.params_of[family][key][1].low
        cut = dict(config)
        cut[fam.size_param] = int(max(low, math.floor(config[fam.size_param] * limit / est)))
        return cut if self.estimate(family, cut) <= limit else None

    def _limit(self) -> float:
        limit = math.inf
        if self.deadline is not None:
            limit = (self.deadline - time.time()) * 0.9
        if self.refit_cap is not None:
            limit = min(limit, self.refit_cap / max(self.refit_ratio, 1e-9))
        return limit

    # -- proposing -----------------------------------------------------------------------------------------------
    def _propose(self, study, trial) -> dict[str, Any]:
        if self.deadline is not None and time.time() >= self.deadline:
            raise StopSearch("the search's time is up")
        trials = [t for t in study.get_trials(deepcopy=False) if t.number != trial.number]
        limit = self._limit()
        first = self._defaults_round(trials, limit)
        if first is not None:
            return first
        candidates = list(self.families)
        while candidates:
            family = self._choose_family(trials, candidates)
            config = self._propose_in(family, trials, study, trial)
            fitted = self._fit_in(family, config, limit)
            if fitted is not None:
                return self.to_params(family, fitted)
            candidates.remove(family)
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if not running:
            raise StopSearch("no configuration can finish in the time left")
        # other trials still run: the cheapest configuration, cut to the fewest trees (it may be stopped at the
        # deadline; raising here would stop the trials that run)
        family = min(self.families, key=lambda f: self.estimate(f, FAMILIES[f].cheap(self.task)))
        return self.to_params(family, FAMILIES[family].cheap(self.task))

    def _defaults_round(self, trials, limit: float) -> dict[str, Any] | None:
        """After the cheap configurations, each family's first known-good configuration (its library's defaults,
        more or less) in the order the families usually rank, when it fits in a quarter of the time left: a cheap
        configuration's score (4 trees) says little of what its family can do."""
        left = (self.deadline - time.time()) if self.deadline is not None else math.inf
        counts = {f: 0 for f in self.families}
        for t in trials:
            if t.params.get("estimator") in counts:
                counts[t.params["estimator"]] += 1
        for family in sorted(self.families, key=PRIORITY.index):
            if counts[family] != 1:
                continue
            config = FAMILIES[family].portfolio(self.task)[0]
            if self.estimate(family, config) <= min(limit, left / 4):
                return self.to_params(family, config)
        return None

    def _stats(self, trials) -> dict[str, dict[str, Any]]:
        """Per family: the losses of its complete trials in order, and how many trials it has in any state."""
        stats = {f: {"losses": [], "n": 0, "failed": 0} for f in FAMILIES}
        for t in trials:
            family = t.params.get("estimator")
            if family not in stats:
                continue
            stats[family]["n"] += 1
            if t.state == TrialState.COMPLETE and t.values:
                stats[family]["losses"].append(self.sign * t.values[0])
            elif t.state == TrialState.FAIL:
                stats[family]["failed"] += 1
        return stats

    def _choose_family(self, trials, candidates: list[str]) -> str:
        stats = self._stats(trials)
        done = [loss for f in candidates for loss in stats[f]["losses"]]
        global_best = min(done) if done else None
        weights = []
        for family in candidates:
            s = stats[family]
            cheap_cost = self.estimate(family, FAMILIES[family].cheap(self.task))
            if not s["losses"]:
                if s["failed"] >= 3:
                    weights.append(0.0)  # fails: left alone
                    continue
                weights.append(1.0 / max(cheap_cost, 1e-6) * (4.0 if s["n"] == 0 else 1.0))
                continue
            costs = [c for _, c in self.costs.get(family, [])] or [cheap_cost] * len(s["losses"])
            # cumulative time at each complete trial (complete trials are in order; costs may hold more entries)
            times = np.cumsum(costs[:len(s["losses"])] if len(costs) >= len(s["losses"])
                              else costs + [costs[-1]] * (len(s["losses"]) - len(costs)))
            total = float(sum(costs))
            best_i = int(np.argmin(s["losses"]))
            best = s["losses"][best_i]
            before = [loss for loss in s["losses"][:best_i]]
            t_best = float(times[best_i])
            prior = [i for i in range(best_i) if s["losses"][i] == min(before)] if before else []
            t_prior = float(times[prior[0]]) if prior else 0.0
            eci = max(t_best - t_prior, total - t_best, cheap_cost)
            if global_best is not None and best > global_best and before:
                gain = min(before) - best
                if gain > 0:
                    speed = gain / max(total - t_prior, 1e-6)
                    eci = max(eci, 2 * (best - global_best) / speed)
                else:
                    eci *= 4
            elif global_best is not None and best > global_best:
                eci *= 2  # behind, with one result: no rate to judge by yet
            weights.append(1.0 / max(eci, 1e-6))
        weights = np.asarray(weights)
        if weights.sum() <= 0:
            return candidates[int(self.rng.integers(len(candidates)))]
        return candidates[int(self.rng.choice(len(candidates), p=weights / weights.sum()))]

    def _propose_in(self, family: str, trials, study, trial) -> dict[str, Any]:
        fam = FAMILIES[family]
        mine = [t for t in trials if t.params.get("estimator") == family]
        tried = {_key(self.from_params(family, t.params)) for t in mine}
        cheap = fam.cheap(self.task)
        if _key(cheap) not in tried:
            return cheap
        for config in fam.portfolio(self.task):
            if _key(config) not in tried:
                return config
        complete = sorted((t for t in mine if t.state == TrialState.COMPLETE and t.values),
                          key=lambda t: self.sign * t.values[0])
        if complete and self.rng.random() < 2 / 3:
            return self._step(family, complete, mine)
        return self._tpe(family, study, trial)

    def _step(self, family: str, complete, mine) -> dict[str, Any]:
        """A random step around one of the family's three best configurations, in the unit cube of its space."""
        pick = complete[int(self.rng.integers(min(3, len(complete))))]
        best_number = complete[0].number
        stale = sum(1 for t in mine if t.number > best_number)
        sigma = max(0.03, 0.25 * 0.85 ** stale)
        config = self.from_params(family, pick.params)
        for name, dom in self.params_of[family].values():
            if isinstance(dom, (Float, Int)):
                config[name] = _move(dom, config[name], sigma, self.rng)
            elif isinstance(dom, Categorical) and not isinstance(dom, Conditional) and self.rng.random() < 0.15:
                options = list(dom.categories)
                config[name] = dom.decode(options[int(self.rng.integers(len(options)))])
        return config

    def _tpe(self, family: str, study, trial) -> dict[str, Any]:
        view = _FamilyView(study, family)
        space = {key: dom.distribution() for key, (_, dom) in self.params_of[family].items()}
        params = self.tpe.sample_relative(view, trial, space) if space else {}
        config = {}
        for key, (name, dom) in self.params_of[family].items():
            if key in params:
                value = params[key]
            else:
                value = self.random.sample_independent(view, trial, key, dom.distribution())
            config[name] = dom.decode(value) if isinstance(dom, Categorical) else value
        return config


def _key(config: dict[str, Any]) -> tuple:
    return tuple(sorted((k, round(v, 10) if isinstance(v, float) else v) for k, v in config.items()))


def _move(dom, value, sigma: float, rng) -> Any:
    """``value`` moved by a normal step of ``sigma`` in ``dom``'s unit interval (log-scaled where ``dom`` is)."""
    low, high = float(dom.low), float(dom.high)
    log = dom.log
    if log:
        low, high, v = math.log(low), math.log(high), math.log(max(float(value), 1e-300))
    else:
        v = float(value)
    span = high - low
    if span <= 0:
        return value
    u = min(1.0, max(0.0, (v - low) / span + rng.normal(0.0, sigma)))
    out = low + u * span
    if log:
        out = math.exp(out)
    if isinstance(dom, Int):
        step = dom.step
        out = int(round((out - dom.low) / step)) * step + dom.low
        return int(min(dom.high, max(dom.low, out)))
    if dom.step is not None:
        out = round((out - dom.low) / dom.step) * dom.step + dom.low
    return float(min(dom.high, max(dom.low, out)))
