"""Samplers and pruners by name.

A sampler is anything implementing Optuna's ``BaseSampler`` (three methods); a pruner, Optuna's ``BasePruner``
(one method). Names map to ready implementations; instances are used as given.

``auto`` picks by what the study declares (rules, also in the README), from measurements in
``benchmarks/quality.py`` (see ``benchmarks/RESULTS.md``):
  * a space without conditional branches, at most 12 parameters (floats, integers or categories), a budget of at
    most 100 trials, one objective and parallelism 1: Gaussian-process BO (``gp``), which needs far fewer trials
    there (also on the mixed and categorical problems measured), fitted to power-transformed (Yeo-Johnson) values,
    with a random start of a quarter of the budget
    (4 to 10 trials) so that small budgets keep most of their trials for the model, and a proposal that repeats a
    known configuration asked again, of the GP and then of TPE and random search (``_auto.AutoGPSampler``): on
    integer and categorical spaces the GP's optimum often rounds to a point already evaluated; and once the best
    value has stalled (moved by at most 1% of its lead over a random configuration in eight finished trials, with
    at least 16 finished), every third trial from a second GP fitted to the unwarped values, which explores where
    the warped one is sure;
  * everything else (conditional spaces, larger budgets or spaces, several objectives, parallel trials): TPE,
    cheap per trial, native to conditional spaces, and with a constant liar for parallel asks.
"""

from __future__ import annotations

from typing import Any

from autotune._checks import NO_LIMIT
from autotune.errors import ConfigError
from autotune.spaces import Space

SAMPLERS = ("auto", "tpe", "gp", "cmaes", "random", "grid", "qmc", "nsga2", "skopt-gp", "skopt-rf", "skopt-et",
            "skopt-gbrt")
PRUNERS = ("none", "median", "asha", "successive_halving", "hyperband", "halving")
# the samplers that model the finished values, and are shown each failed trial as the worst finished one (so that
# they leave a region where the objective fails instead of proposing it again)
LEARNS_FAILURES = ("tpe", "gp", "skopt-gp", "skopt-rf", "skopt-et", "skopt-gbrt")
# the samplers that steer by a study's constraints (``make_sampler`` wraps them in ``constrained``); ``auto`` stands
# for one of them
STEERS_BY_CONSTRAINTS = ("tpe", "gp", "nsga2")


def check_sampler(spec: Any) -> None:
    if isinstance(spec, str):
        if spec not in SAMPLERS:
            raise ConfigError(f"unknown sampler {spec!r}; choose one of {', '.join(SAMPLERS)}, or pass an Optuna "
                              "sampler instance.")
        return
    import optuna

    if not isinstance(spec, optuna.samplers.BaseSampler):
        raise ConfigError(f"sampler must be a name ({', '.join(SAMPLERS)}) or an optuna.samplers.BaseSampler, but "
                          f"got {spec!r}.")
    if isinstance(spec, optuna.samplers.GridSampler):  # its own grid could leave the space, or run out mid-study
        raise ConfigError("pass sampler='grid' rather than an optuna GridSampler: autotune builds the grid from the "
                          "space (every choice, and every step of a stepped range) and stops when it is covered; "
                          "to search a few values of a parameter, declare it as at.choice([...]).")


def check_pruner(spec: Any) -> None:
    if spec is None or isinstance(spec, str):
        if spec is not None and spec not in PRUNERS:
            raise ConfigError(f"unknown pruner {spec!r}; choose one of {', '.join(PRUNERS)}, or pass an Optuna "
                              "pruner instance.")
        return
    import optuna

    from autotune.search._halving import HalvingPruner

    if not isinstance(spec, (optuna.pruners.BasePruner, HalvingPruner)):
        raise ConfigError(f"pruner must be a name ({', '.join(PRUNERS)}), an autotune.search.HalvingPruner or an "
                          f"optuna.pruners.BasePruner, but got {spec!r}.")


def resolve_auto(space: Space, n_trials: int | None, parallelism: int, n_objectives: int) -> str:
    """The sampler ``auto`` stands for, by the rules in this module's docstring."""
    flat = not space.is_conditional
    small = len(space.param_names()) <= 12 and (n_trials or NO_LIMIT) <= 100
    if flat and small and n_objectives == 1 and parallelism == 1:
        try:
            import torch  # noqa: F401  (Optuna's GP sampler is written in PyTorch)
        except ImportError:
            return "tpe"
        return "gp"
    return "tpe"


def quiet_optuna() -> None:
    """Optuna's own log lines and its warnings (experimental features autotune chooses for the user, such as TPE's
    ``group``) say nothing a user of autotune can act on: silenced before any sampler is built."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", module="optuna")


def make_sampler(spec: Any, space: Space, *, seed: int | None, n_trials: int | None, parallelism: int,
                 n_objectives: int, constraints_func=None):
    """Build ``(sampler, name)``; ``name`` is recorded on each trial it proposes."""
    import optuna.samplers as S

    quiet_optuna()
    if not isinstance(spec, str):
        return spec, type(spec).__name__
    name = resolve_auto(space, n_trials, parallelism, n_objectives) if spec == "auto" else spec
    if name == "tpe":
        sampler = S.TPESampler(seed=seed, multivariate=True, group=space.is_conditional)
    elif name == "gp":
        if spec == "auto":  # GP that re-proposes repeated points, with a random start of 4 of 16, 8 of 32, ≤ 10
            from autotune.search._auto import AutoGPSampler

            sampler = AutoGPSampler(seed=seed, n_startup_trials=max(4, min(10, (n_trials or 40) // 4)),
                                    constraints_func=constraints_func)
        else:
            sampler = S.GPSampler(seed=seed, n_startup_trials=10, warn_independent_sampling=False)
    elif name == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError("the cmaes sampler needs the cmaes package: pip install cmaes.") from None
        sampler = S.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    elif name == "random":
        sampler = S.RandomSampler(seed=seed)
    elif name == "grid":
        from autotune.search._wrappers import Grid

        sampler = Grid(space.grid(), seed=seed)
    elif name == "qmc":
        from autotune.search._optuna_private import ContinuedQMCSampler

        sampler = ContinuedQMCSampler(seed=seed, scramble=seed is not None, warn_independent_sampling=False)
    elif name == "nsga2":
        sampler = S.NSGAIISampler(seed=seed)
    elif name.startswith("skopt-"):
        from autotune.search._skopt import make_skopt_sampler

        sampler = make_skopt_sampler(name, space, seed, n_objectives)
    else:  # pragma: no cover - check_sampler ran in Study()
        raise ConfigError(f"unknown sampler {spec!r}")
    if constraints_func is not None and name in STEERS_BY_CONSTRAINTS:
        sampler = constrained(sampler, constraints_func)
    return sampler, (f"auto:{name}" if spec == "auto" else name)


def constrained(sampler, constraints_func):
    """``sampler``, told each finished trial's constraint values (see ``_wrappers.ConstrainedSampler``)."""
    from autotune.search._wrappers import ConstrainedSampler

    return ConstrainedSampler(sampler, constraints_func)


def make_pruner(spec: Any):
    import optuna.pruners as P

    if spec is None or spec == "none":
        return P.NopPruner()
    if not isinstance(spec, str):
        return spec
    if spec == "median":
        return P.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if spec in ("asha", "successive_halving"):
        return P.SuccessiveHalvingPruner()
    if spec == "hyperband":
        return P.HyperbandPruner()
    if spec == "halving":
        from autotune.search._halving import HalvingPruner

        return HalvingPruner()
    raise ConfigError(f"unknown pruner {spec!r}")  # pragma: no cover - check_pruner ran in Study()
