"""``run_study``: what ``Study.run()`` and ``autotune run`` both do -- resolve settings, open the database, build
the backend, drive the engine, and clean up after a bad objective so that the database is left as it was."""

from __future__ import annotations

import copy

from autotune._checks import NO_LIMIT, check_int, check_seed, check_study_name, parse_duration
from autotune.errors import AutotuneError, ConfigError


def run_study(study, *, storage=None, backend=None, n_trials=None, parallelism=None, timeout=None, seed=None,
              progress=False, ray_address=None):
    from autotune.backends import BACKENDS, make_backend
    from autotune.database import StudyDatabase
    from autotune.engine import Engine
    from autotune.objectives import check_objective_metric
    from autotune.result import Result
    from autotune.search import check_halving, make_pruner

    st = copy.copy(study)
    check_study_name(st.name)  # (the study's attributes may have changed since it was made)
    if seed is not None:
        st.seed = check_seed(seed)
    backend = backend or st.backend
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
    total = check_int("n_trials", n_trials, 1) if n_trials is not None else st.n_trials
    limit = parse_duration(timeout) if timeout is not None else st.timeout
    if total is None and limit is None:
        raise ConfigError(f"study '{st.name}' sets neither n_trials nor timeout, so it would never stop; set "
                          "n_trials= in the study (or --n-trials), or a timeout.")
    pruner = make_pruner(st.pruner)  # built once: checked here, run by the engine
    check_halving(pruner, len(st.metrics), total)
    check_objective_metric(st.objective, st.metrics, st.modes)  # (the study's attributes may have changed since)
    par = check_int("parallelism", parallelism, 1) if parallelism is not None else st.parallelism
    if ray_address and backend != "ray":
        raise ConfigError(f"--ray-address {ray_address!r} needs --backend ray (the study's backend is {backend!r}).")
    runner = make_backend(st, backend, par, ray_address)  # may refuse the resources: before the database
    db = StudyDatabase(st.resolve_storage(storage))
    progress_view = None
    if progress:
        from autotune._progress import Progress

        progress_view = Progress(st.name, total) if progress is True else progress
    engine = Engine(st, db, runner, n_trials=total or NO_LIMIT, timeout=limit, parallelism=par, pruner=pruner,
                    progress=progress_view)
    try:
        report = engine.run()
    except AutotuneError:
        db.remove_if_created_empty()
        raise
    finally:
        if progress_view:
            progress_view.close()
        db.checkpoint()  # the run's writes folded into the SQLite file, its -wal file emptied
    result = Result(db, st.name, space=st.space)
    result.run_report = report
    return result
