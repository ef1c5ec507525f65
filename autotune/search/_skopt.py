"""scikit-optimize's Bayesian optimisers behind Optuna's sampler interface: ``skopt-gp``, ``skopt-rf``, ``skopt-et``,
``skopt-gbrt``.

The sampler knows the whole autotune space, so it proposes every parameter of every branch at once (a relative
sample); parameters of branches that were not chosen are told to skopt at a fixed default, so conditional spaces
work. Its state is rebuilt from the study's finished trials on each ask -- which is what makes resume and several
drivers work unchanged -- and running trials (this driver's or another's) are told at the best value so far (a
constant liar), so that parallel asks spread out.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from autotune.errors import ConfigError
from autotune.search._optuna_private import read_trials
from autotune.spaces import Categorical, Conditional, Fixed, Float, Int, Space

ESTIMATORS = {"skopt-gp": "GP", "skopt-rf": "RF", "skopt-et": "ET", "skopt-gbrt": "GBRT"}


def _dimension(dom):
    from skopt.space import Categorical as SC
    from skopt.space import Integer, Real

    if isinstance(dom, Float):
        if dom.step is not None:
            return SC([v for v in dom.grid_values("")], transform="onehot")
        return Real(dom.low, dom.high, prior="log-uniform" if dom.log else "uniform")
    if isinstance(dom, Int):
        if dom.step != 1:
            return SC(dom.grid_values(""))
        return Integer(dom.low, dom.high, prior="log-uniform" if dom.log else "uniform")
    if isinstance(dom, Conditional):
        return SC(list(dom.branches))
    if isinstance(dom, Categorical):
        return SC(list(dom.categories))
    raise ConfigError(f"scikit-optimize cannot search {dom!r}")  # pragma: no cover


def _default(dom) -> Any:
    """The value told to skopt for a parameter of a branch that was not chosen."""
    if isinstance(dom, (Float, Int)):
        return dom.grid_values("")[0] if getattr(dom, "step", None) not in (None, 1) else dom.low
    if isinstance(dom, Conditional):
        return next(iter(dom.branches))
    return dom.categories[0]


def make_skopt_sampler(name: str, space: Space, seed: int | None, n_objectives: int):
    try:
        import skopt  # noqa: F401
    except ImportError:
        raise ConfigError(f"the {name} sampler needs scikit-optimize: pip install scikit-optimize.") from None
    if n_objectives > 1:
        raise ConfigError(f"the {name} sampler optimises one metric; use tpe or nsga2 for several.")
    return SkoptSampler(space, ESTIMATORS[name], seed)


class SkoptSampler(optuna.samplers.BaseSampler):
    """One of scikit-optimize's optimisers (``estimator``: GP, RF, ET or GBRT) as a relative sampler over the whole
    space; see the module docstring."""

    def __init__(self, space: Space, estimator: str, seed: int | None, n_initial_points: int = 8) -> None:
        self.names = [n for n, d in space._flat.items() if not isinstance(d, Fixed)]
        self.domains = [space._flat[n] for n in self.names]
        self.estimator, self.seed, self.n_initial = estimator, seed, n_initial_points
        self.rng = np.random.RandomState(seed)
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self.distributions = {n: d.distribution() for n, d in zip(self.names, self.domains, strict=True)}

    def reseed_rng(self) -> None:
        self.rng.seed()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study, trial):
        return dict(self.distributions)

    def _point(self, params: dict[str, Any]) -> list[Any]:
        return [params.get(n, _default(d)) for n, d in zip(self.names, self.domains, strict=True)]

    def sample_relative(self, study, trial, search_space):
        from sklearn.exceptions import ConvergenceWarning
        from skopt import Optimizer

        trials = read_trials(study, use_cache=True)
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        if len(done) < self.n_initial:
            return {}  # independent (random) sampling until skopt has enough points
        sign = 1.0 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1.0
        xs = [self._point(t.params) for t in done]
        ys = [sign * t.value for t in done]
        running = [t for t in trials if t.state == TrialState.RUNNING and t.number != trial.number and t.params]
        xs += [self._point(t.params) for t in running]
        ys += [min(ys)] * len(running)  # constant liar
        state = int(self.rng.randint(2**31 - 1))
        estimator = _gbrt(state) if self.estimator == "GBRT" else self.estimator
        opt = Optimizer([_dimension(d) for d in self.domains], base_estimator=estimator,
                        n_initial_points=0, random_state=state,
                        acq_optimizer="sampling" if self.estimator != "GP" else "auto")
        with warnings.catch_warnings():
            # skopt swaps a repeated proposal for a random point and warns; the swap is what we want (a study
            # may hold the same point twice, e.g. from two drivers), and neither that warning nor a GP fit's
            # convergence warning is something a user can act on.
            warnings.filterwarnings("ignore", message="The objective has been evaluated", category=UserWarning)
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            opt.tell(xs, ys)
            x = opt.ask()
        return {n: _native(v) for n, v in zip(self.names, x, strict=True)}

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._random.sample_independent(study, trial, param_name, param_distribution)


def _gbrt(random_state: int):
    """skopt's GBRT regressor, tagged as a regressor the way scikit-learn >= 1.6 reads it (skopt 0.10 lists its
    mixin after BaseEstimator, so scikit-learn no longer sees it as one)."""
    from skopt.learning import GradientBoostingQuantileRegressor

    class GBRT(GradientBoostingQuantileRegressor):
        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.estimator_type = "regressor"
            return tags

        def predict(self, X, return_std=False, return_quantiles=False):
            # skopt 0.10's version calls np.in1d, which NumPy 2.4 removed; same result from the fitted quantiles
            by_q = {q: r.predict(X) for q, r in zip(self.quantiles, self.regressors_, strict=True)}
            if return_quantiles:
                return np.asarray([by_q[q] for q in self.quantiles]).T
            if return_std:
                return by_q[0.5], (by_q[0.84] - by_q[0.16]) / 2.0
            return by_q[0.5]

    return GBRT(random_state=random_state)


def _native(v: Any) -> Any:
    """numpy scalars as plain Python values (they are stored as JSON)."""
    item = getattr(v, "item", None)
    return item() if callable(item) else v
