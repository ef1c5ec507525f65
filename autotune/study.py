"""``Study``: a search space, an objective and how to search it. ``Study(...)`` validates and stores; ``run()`` works.

>>> import autotune as at
>>> study = at.Study(name="demo", space={"x": at.uniform(-1, 1)}, objective=lambda c, t: c["x"] ** 2,
...                  n_trials=5, sampler="random", seed=0)
>>> study.name, study.metrics, study.modes
('demo', ['loss'], ['min'])
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

from autotune._checks import (
    MAX_SEED,
    check_int,
    check_seed,
    check_signature,
    check_study_name,
    is_optuna,
    parse_duration,
)
from autotune.errors import ConfigError
from autotune.spaces import Space

__all__ = ["MAX_SEED", "Study", "check_seed", "check_study_name", "parse_duration"]


class Study:
    """A study: what to search (``space``), how to score a configuration (``objective``) and how to search.

    ``Study(...)`` checks every argument and touches no database; :meth:`run` creates or continues the study.

    Args:
        name: the study's name, unique in its database; running a study of that name again continues it. 1 to
            200 characters, without '/', '\\' or control characters, and not '.' or '..'.
        space: ``{name: domain}`` with ``at.uniform``, ``at.loguniform``, ``at.randint``, ``at.choice`` (a list of
            values, or a dict of sub-spaces: a conditional space) and ``at.fixed``; or an ``at.Space``.
        objective: ``objective(config, trial)``, called with a flat dict of the sampled values; returns a float,
            or a dict of metrics holding ``metric``. ``trial.report(value, step)`` feeds the pruner,
            ``trial.save_artifact(name, data)`` keeps files for the best trials.
        metric: the name of the value to optimise (default ``"loss"``), or a list of names for a multi-objective
            study, which searches for the Pareto front.
        mode: ``"min"`` or ``"max"``, or a list with one per metric.
        sampler: ``"auto"`` (default; picks ``gp`` or ``tpe`` by the study's shape), ``"tpe"``, ``"gp"``,
            ``"cmaes"``, ``"random"``, ``"grid"``, ``"qmc"``, ``"nsga2"``, ``"skopt-gp"``, ``"skopt-rf"``,
            ``"skopt-et"``, ``"skopt-gbrt"``, or an Optuna sampler instance.
        pruner: ``"none"`` (default), ``"median"``, ``"asha"``, ``"hyperband"``, ``"halving"`` (pause and
            promote), an ``autotune.search.HalvingPruner`` or an Optuna pruner instance; a multi-objective study
            takes ``"none"``.
        n_trials: the study's total of counted finished trials: a resumed run adds only what is missing.
        timeout: stop starting trials after this long: seconds, or a string such as ``"90s"``, ``"30m"``,
            ``"1h30m"``. A study needs ``n_trials`` or ``timeout``.
        parallelism: trials at once (worker processes, or Ray actors, when > 1); default 1.
        backend: ``"local"`` (default) or ``"ray"``.
        resources: per trial, e.g. ``{"cpu": 2, "gpu": 0.5}``: GPUs (fractions share one) and the CPU threads
            each worker computes with (by default the machine's cores divided by ``parallelism``, at least 1).
        seed: the sampler's seed, 0 to 2**32 - 1; with parallelism 1 a seeded run is reproducible.
        trial_timeout: kill a trial that runs longer than this (same forms as ``timeout``); it fails with
            "timed out after N s".
        max_retries: how many times a failed configuration is run again (default 0).
        keep_artifacts: how many of the best trials keep their artifacts (default 1; 0 keeps every trial's).
        stale_after: seconds without a heartbeat from a trial's driver before another driver fails the trial as
            stale and queues its configuration again (default 60; at once when the driver's process on the same
            host is gone).
        enqueue: configurations (dicts of parameter values) to run first; on an existing study, those no trial
            has yet, as far as its budget holds.
        storage: the study database URL (``sqlite:///FILE`` or ``postgresql://user:password@host/db``), used
            when neither ``run(storage=)``, ``--storage`` nor ``$AUTOTUNE_STORAGE`` gives one; default
            ``sqlite:///autotune.db``.
        artifact_store: an fsspec URL (``file:///shared/autotune``, ``s3://bucket/prefix``) to keep artifact
            bytes in instead of the database; names, sizes and checksums stay in the database.
        warm_start_from: another study in the same database whose best configurations (those that fit this
            space) a new study runs first.
        warm_start_top: how many of them (default 5).
        constraints: ``constraints(metrics)`` giving a number or a list of numbers, each ``<= 0`` when the trial
            is feasible (write ``latency < 20`` as ``metrics["latency"] - 20``); infeasible trials are never the
            best, and ``auto``, ``tpe``, ``gp`` and ``nsga2`` steer away from them.
        callbacks: ``autotune.callbacks.Callback`` instances the driver calls as the run starts, after each
            trial it finished, and as the run ends, e.g. ``[at.callbacks.MLflow("sqlite:///mlflow.db")]``.
    """

    def __init__(
        self,
        name: str,
        space: dict[str, Any] | Space,
        objective: Callable[[dict[str, Any], Any], Any],
        *,
        metric: str | list[str] = "loss",
        mode: str | list[str] = "min",
        sampler: Any = "auto",
        pruner: Any = "none",
        n_trials: int | None = None,
        timeout: Any = None,
        parallelism: int = 1,
        backend: str = "local",
        resources: dict[str, float] | None = None,
        seed: int | None = None,
        trial_timeout: Any = None,
        max_retries: int = 0,
        keep_artifacts: int = 1,
        stale_after: float = 60.0,
        enqueue: list[dict[str, Any]] | None = None,
        storage: str | None = None,
        artifact_store: str | None = None,
        warm_start_from: str | None = None,
        warm_start_top: int = 5,
        constraints: Callable[[dict[str, Any]], Any] | None = None,
        callbacks: list[Any] | None = None,
    ) -> None:
        from autotune.backends import BACKENDS
        from autotune.objectives import check_objective_metric
        from autotune.search import check_halving, check_pruner, check_sampler

        check_study_name(name)
        if not callable(objective):
            raise ConfigError(f"`objective` must be a function objective(config, trial), but got {objective!r}.")
        check_signature(objective)
        if not isinstance(metric, (str, list, tuple)):
            raise ConfigError(f"`metric` must be a name or a list of distinct names, but got {metric!r}.")
        if not isinstance(mode, (str, list, tuple)):
            raise ConfigError(f"`mode` must be 'min' or 'max', or a list of them (one per metric), but got {mode!r}.")
        metrics = [metric] if isinstance(metric, str) else list(metric)
        modes = [mode] if isinstance(mode, str) else list(mode)
        if not metrics or not all(isinstance(m, str) and m for m in metrics) or len(set(metrics)) != len(metrics):
            raise ConfigError(f"`metric` must be a name or a list of distinct names, but got {metric!r}.")
        if len(modes) != len(metrics) or any(m not in ("min", "max") for m in modes):
            raise ConfigError(f"`mode` must be 'min' or 'max' for each metric {metrics}, but got {mode!r}.")
        check_sampler(sampler)
        check_pruner(pruner)
        check_objective_metric(objective, metrics, modes)  # a ready objective reports the study's metric
        if len(metrics) > 1 and (sampler == "cmaes" or is_optuna(sampler, "samplers", "CmaEsSampler")):
            raise ConfigError(f"the cmaes sampler optimises one metric, but this study has {len(metrics)} "
                              f"({', '.join(metrics)}); use auto, tpe, nsga2 or random.")
        if backend not in BACKENDS:
            raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
        if seed is not None:
            check_seed(seed)
        if resources is not None and (not isinstance(resources, dict) or any(
                k not in ("cpu", "gpu") or not isinstance(v, numbers.Real) or v < 0 for k, v in resources.items())):
            raise ConfigError(f"`resources` must be a dict like {{'cpu': 1, 'gpu': 0}} with non-negative numbers, "
                              f"but got {resources!r}.")
        if not isinstance(stale_after, numbers.Real) or stale_after <= 0:
            raise ConfigError(f"`stale_after` must be a positive number of seconds, but got {stale_after!r}.")
        self.name = name
        self.space = space if isinstance(space, Space) else Space(space)
        self.objective = objective
        self.metrics, self.modes = metrics, modes
        self.sampler, self.pruner = sampler, pruner
        self.n_trials = check_int("n_trials", n_trials, 1, allow_none=True)
        check_halving(pruner, len(metrics), at_run=False)
        if len(metrics) > 1 and pruner not in ("none", None) and not is_optuna(pruner, "pruners", "NopPruner"):
            raise ConfigError(f"pruners compare one metric's reports, but this study has {len(metrics)} "
                              f"({', '.join(metrics)}); use pruner='none' for a multi-objective study.")
        self.timeout = parse_duration(timeout)
        self.parallelism = check_int("parallelism", parallelism, 1)
        self.backend = backend
        # without "cpu", each worker gets the machine's cores shared among the parallel trials (worker_threads)
        self.resources = dict(resources or {"gpu": 0})
        self.seed = seed
        self.trial_timeout = parse_duration(trial_timeout, "trial_timeout")
        self.max_retries = check_int("max_retries", max_retries, 0)
        self.keep_artifacts = check_int("keep_artifacts", keep_artifacts, 0)
        self.stale_after = float(stale_after)
        self.enqueue = list(enqueue or [])
        for i, config in enumerate(self.enqueue):
            self.space.check_config(config, f"enqueue[{i}]")
        self.storage = storage
        if artifact_store is not None and (not isinstance(artifact_store, str) or "://" not in artifact_store):
            raise ConfigError(f"`artifact_store` must be an fsspec URL such as 'file:///shared/autotune' or "
                              f"'s3://bucket/prefix', but got {artifact_store!r}.")
        self.artifact_store = artifact_store  # None: artifacts go into the study database
        if warm_start_from is not None and (not isinstance(warm_start_from, str) or warm_start_from == name):
            raise ConfigError(f"`warm_start_from` must name another study in the same database, but got "
                              f"{warm_start_from!r}.")
        if constraints is not None:
            if not callable(constraints):
                raise ConfigError(f"`constraints` must be a function of the returned metrics giving a number or a "
                                  f"list of numbers (<= 0 means feasible), but got {constraints!r}.")
            if isinstance(sampler, str) and (sampler == "cmaes" or sampler.startswith("skopt-")):
                raise ConfigError(f"the {sampler} sampler cannot take constraints into account; use auto, tpe, gp "
                                  "or nsga2 with `constraints`.")
        self.constraints = constraints
        from autotune.callbacks import check_callbacks

        self.callbacks = check_callbacks(callbacks)
        self.warm_start_from = warm_start_from
        self.warm_start_top = check_int("warm_start_top", warm_start_top, 1)
        self._source: tuple[str, str] | None = None  # (study file, module attribute), set by the loader

    def run(self, storage: str | None = None, backend: str | None = None, n_trials: int | None = None, *,
            parallelism: int | None = None, timeout: Any = None, seed: int | None = None,
            progress: Any = False, ray_address: str | None = None):
        """Create or continue the study until it holds ``n_trials`` finished trials; returns a :class:`Result`.

        ``storage`` follows the resolution order ``storage`` > ``$AUTOTUNE_STORAGE`` > the study's ``storage=``
        > ``sqlite:///autotune.db``.
        """
        from autotune._run import run_study

        return run_study(self, storage=storage, backend=backend, n_trials=n_trials, parallelism=parallelism,
                         timeout=timeout, seed=seed, progress=progress, ray_address=ray_address)

    def resolve_storage(self, storage: str | None = None) -> str:
        from autotune.database import resolve_storage

        return resolve_storage(storage, self.storage)

    def __repr__(self) -> str:
        return f"Study(name={self.name!r}, metric={self.metrics}, mode={self.modes}, n_trials={self.n_trials})"

