"""One AutoML run: check the inputs, prepare the table, search within the time budget, refit the winner on every row.

Everything that can refuse the input (the target, the task, the metric, the estimators, a study of that name run
on another table, a budget too short for one fit) is checked before the study database is opened, so that a
refused run writes nothing.

The budget covers the whole run: preparing the data, the search, and the final refit. The search runs as a study
with a deadline that leaves room for the refit (estimated from the best trial's measured fit time); trials stop at
that deadline, and the sampler starts none that could not finish by it. After each round the final model that
the trials make so far is chosen and its refit estimated from its members' fit times; when that leaves time (the
first reserve is a cautious guess), another round of the search uses it, up to four rounds.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autotune.automl._data import (
    DataError,
    TablePrep,
    as_frame,
    check_target,
    detect_task,
    encode_labels,
    fingerprint,
)
from autotune.automl._families import (
    ENSEMBLE,
    FAMILIES,
    fit_family,
    predict_matrix,
    resolve_estimators,
    study_space,
)
from autotune.automl._metrics import TASKS, check_metric_name, resolve_metric
from autotune.automl._objective import OOF, AutoMLObjective, Final, caruana_within, load_oof
from autotune.automl._pipeline import PIPELINE, AutoMLPipeline, load_pipeline
from autotune.automl._sampler import AutoMLSampler, StopSearch
from autotune.database import FINISHED, TrialState, resolve_storage
from autotune.errors import AutotuneError, ConfigError, StorageError

FIXED = ("task", "target", "data", "validation")  # the study's fixed facts, in its space
KEEP = 12  # the best trials whose out-of-fold predictions are the ensemble's candidates
MIN_ROWS = 4
SELECTION_SECONDS = 1.0  # at most this long for the greedy ensemble selection
REFIT_SLACK = 1.15  # a refit on every row is planned at this many times its members' fit times, scaled by the rows


@dataclass
class Settings:
    time_budget: float
    metric: str = "auto"
    task: str = "auto"
    estimators: list[str] | None = None
    ensemble: bool = True
    n_trials: int | None = None
    parallelism: int = 1
    backend: str = "local"
    storage: str | None = None
    name: str = "automl"
    seed: int = 0
    progress: bool = False
    ray_address: str | None = None
    n_jobs: int | None = None  # threads per model (None: the cores shared among the trials, fewer for small tables)


@dataclass
class Outcome:
    """What a run did and found."""

    name: str
    storage: str
    shown_url: str
    task: str
    metric: str
    mode: str
    classes: list[Any]
    validation: str
    notes: list[str]
    pipeline: AutoMLPipeline
    final_trial: int
    final_value: float
    refit_seconds: float
    search_seconds: float
    elapsed: float
    budget: float
    leaderboard: Any
    result: Any
    new_trials: int
    families: list[str]
    ensemble_note: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


def check_settings(settings: Settings) -> None:
    """What can be checked before reading any data."""
    from autotune._checks import check_int as _check_int

    check_metric_name(settings.metric)
    if settings.task not in ("auto", "classification", *TASKS):
        raise ConfigError(f"unknown task {settings.task!r}; choose auto, binary, multiclass, classification or "
                          "regression.")
    resolve_estimators(settings.estimators)
    _check_int("parallelism", settings.parallelism, 1)
    if settings.n_trials is not None:
        _check_int("n_trials", settings.n_trials, 1)
    if settings.n_jobs is not None:
        _check_int("n_jobs", settings.n_jobs, 1)
    if settings.backend not in ("local", "ray"):
        raise ConfigError(f"unknown backend {settings.backend!r}; choose local or ray.")
    if not isinstance(settings.name, str) or not settings.name.strip():
        raise ConfigError(f"the study's name must be a non-empty string, but got {settings.name!r}.")


def _threads(parallelism: int, n_rows: int) -> int:
    """Threads per model: the cores shared among the trials at once, and few for small tables (where more threads
    cost more than they save), at most $OMP_NUM_THREADS."""
    cores = os.cpu_count() or 1
    n = max(1, min(cores // parallelism, n_rows // 2000))
    omp = os.environ.get("OMP_NUM_THREADS")
    if omp and omp.isdigit() and int(omp) > 0:
        n = min(n, int(omp))
    return n


def choose_validation(task: str, y: np.ndarray, n_features: int, budget: float, probe: float) -> str:
    """5-fold cross-validation (stratified for classification) under 2,000 rows; up to 20,000 rows and 500,000
    cells when the budget holds 60 five-fold trials of the cheapest configuration (3 folds when it holds 50 of
    those), else a holdout of 20% of the rows (10% past 100,000 rows)."""
    n = len(y)
    if n < 2000:
        return "5-fold"
    if n <= 20_000 and n * n_features <= 500_000:
        if budget >= 300 * probe:
            return "5-fold"
        if budget >= 150 * probe:
            return "3-fold"
    return f"holdout {0.2 if n <= 100_000 else max(0.05, min(0.1, 20_000 / n)):.0%}"


def make_splits(desc: str, task: str, y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (train, validation) row indices a validation description stands for; the same for every trial."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    n = len(y)
    idx = np.arange(n)
    smallest = int(np.bincount(y).min()) if task != "regression" else n
    if desc.endswith("-fold"):
        k = int(desc.split("-")[0])
        stratify = task != "regression" and smallest >= 2
        k = max(2, min(k, smallest) if stratify else min(k, n))
        if stratify:
            folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(idx, y)
        else:
            folds = KFold(n_splits=k, shuffle=True, random_state=seed).split(idx)
        return [(tr, va) for tr, va in folds]
    frac = float(desc.split()[1].rstrip("%")) / 100
    stratify = y if task != "regression" and smallest >= 2 else None
    tr, va = train_test_split(idx, test_size=frac, random_state=seed, stratify=stratify)
    return [(np.sort(tr), np.sort(va))]


def describe_validation(desc: str, n: int) -> str:
    if desc.endswith("-fold"):
        return f"{desc.split('-')[0]}-fold cross-validation on {n:,} rows"
    return f"a holdout of {desc.split()[1]} of the {n:,} rows"


def _fmt_seconds(s: float) -> str:
    return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s" if s >= 1 else f"{s:.2g} s"


def _existing(url: str, name: str):
    """The study's Result if the database holds it, else None -- without creating anything."""
    from sqlalchemy.engine import make_url

    from autotune.database import StudyDatabase
    from autotune.result import Result

    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and not os.path.exists(parsed.database):
            return None
    except Exception:  # noqa: BLE001 - StudyDatabase says what is wrong with the URL
        pass
    try:
        db = StudyDatabase(url, create=False)
    except StorageError as exc:
        if "holds no autotune studies" in str(exc) or "no study database at" in str(exc):
            return None
        raise
    if db.find_study(name) is None:
        db.close()
        return None
    return Result(db, name)


def _reopen(result, url: str, name: str):
    """The study read afresh (a run just changed it), the previous view's connections closed."""
    if result is not None:
        result.db.close()
    return _existing(url, name)


def _stored_fixed(result) -> dict[str, Any]:
    space = result.row.space
    return {k: space[k]["value"] for k in FIXED if k in space and space[k].get("kind") == "fixed"}


def run_automl(X, y, settings: Settings, *, target: str = "y", say=None, started: float | None = None,
               reserve_extra: float = 0.0) -> Outcome:
    """Search, refit and return the :class:`Outcome`. ``started``: the ``time.time()`` the budget counts from
    (default: now); ``reserve_extra``: seconds the caller still needs after this returns (e.g. scoring a test
    file); ``say``: a function printing a line (progress notes), or None."""
    import pandas as pd

    t0 = started if started is not None else time.time()
    budget = settings.time_budget
    deadline = t0 + budget - reserve_extra
    say = say or (lambda _line: None)
    check_settings(settings)
    skops = _import_in_background(settings.estimators)  # (it takes seconds: the search goes on meanwhile)
    X = as_frame(X)
    y = pd.Series(np.asarray(y).reshape(-1) if not isinstance(y, pd.Series) else y.to_numpy(), name=target)
    if len(y) != len(X):
        raise DataError(f"X has {len(X)} rows but y has {len(y)}; give one target value per row.")
    notes: list[str] = []
    missing = y.isna().to_numpy()
    if missing.all():
        raise DataError(f"the target {target!r} holds no values (every row is missing); give a column with values "
                        "to predict.")
    if missing.any():
        notes.append(f"{int(missing.sum())} rows without a target value left out")
        X, y = X[~missing].reset_index(drop=True), y[~missing].reset_index(drop=True)
    if len(y) < MIN_ROWS:
        raise DataError(f"the table holds only {len(y)} sample{'s' * (len(y) != 1)} (rows with a target); AutoML "
                        f"needs at least {MIN_ROWS} to fit and validate a model.")
    task = detect_task(y, settings.task)
    check_target(y, task, f"the target {target!r}")
    metric = resolve_metric(settings.metric, task)
    families, family_notes = resolve_estimators(settings.estimators, len(y))
    notes += family_notes
    y_enc, classes = encode_labels(y, task)
    prep = TablePrep().fit(X)
    notes += prep.notes_
    Xm = prep.transform(X)
    fixed = {"task": task, "target": target, "data": fingerprint(X, y)}
    url = resolve_storage(settings.storage)
    existing = _existing(url, settings.name)
    n_jobs = settings.n_jobs or _threads(settings.parallelism, len(y))
    history = _history(existing)
    if existing is not None:
        _check_same_study(existing, settings.name, fixed, metric)
        desc = _stored_fixed(existing)["validation"]  # a study goes on validating as it began
        probe = None
    else:
        probe = _probe(Xm, y_enc, task, len(classes), families, n_jobs, settings.seed)
        desc = choose_validation(task, y_enc, Xm.shape[1], deadline - time.time(), probe)
    fixed["validation"] = desc
    splits = make_splits(desc, task, y_enc, settings.seed)
    objective = AutoMLObjective(Xm, y_enc, task=task, classes=classes, categorical=prep.categorical_,
                                metric=metric.name, splits=splits, prep=prep, target=target, fixed=set(FIXED),
                                n_jobs=n_jobs, seed=settings.seed, families=families)
    if probe is None:
        probe = _known_probe(history) or _probe(Xm, y_enc, task, len(classes), families, n_jobs, settings.seed)
    setup = time.time() - t0
    k = len(splits)
    n_train = len(splits[0][0])
    data_scale = len(y) / max(1, n_train)  # a refit fits this many times the rows of a validation fit
    refit_scale = data_scale * 1.2
    needed = probe * (k + refit_scale) + 0.3
    if time.time() + needed > deadline:
        cheapest = min(families, key=lambda f: FAMILIES[f].cost_factor)
        raise ConfigError(
            f"a time budget of {_fmt_seconds(budget)} is too short for this table: one fit of the cheapest model "
            f"({cheapest}, its smallest configuration) took {probe:.2f} s on {n_train:,} rows, so one validated trial "
            f"({describe_validation(desc, len(y))}) and the final refit need about {needed:.1f} s, and "
            f"{setup:.1f} s went on reading and preparing the data; give it "
            f"{max(2 * budget, math.ceil(setup + 3 * needed)):.0f} s or more (--time, time_budget=).")
    space = study_space(task, fixed)
    from autotune.spaces import Space

    space_obj = Space(space)
    sampler = AutoMLSampler(space_obj, families, task, metric.mode, seed=settings.seed,
                            costs=history["costs"], base_cost=probe * k)
    sampler.refit_ratio = refit_scale / k if k > 1 else refit_scale
    sampler.warmup = settings.parallelism if settings.parallelism > 1 or settings.backend == "ray" else 0
    enqueue = [{"estimator": f, **FAMILIES[f].cheap(task)} for f in families]
    tried = {t.params.get("estimator") for t in existing.trials} if existing is not None else set()
    enqueue = [c for c in enqueue if c["estimator"] not in tried][:settings.n_trials or None]
    import optuna

    from autotune.study import Study

    pruner = optuna.pruners.MedianPruner(n_startup_trials=10, n_warmup_steps=0) if k > 1 else "none"
    study = Study(name=settings.name, space=space_obj, objective=objective, metric=metric.name, mode=metric.mode,
                  sampler=sampler, pruner=pruner, enqueue=enqueue, keep_artifacts=0, backend=settings.backend,
                  storage=url, seed=settings.seed)
    say(f"validation: {describe_validation(desc, len(y))}; metric: {metric.name} ({metric.mode}); estimators: "
        f"{', '.join(families)}")
    before = history["finished"]
    target_total = before + settings.n_trials if settings.n_trials else None
    search_started = time.time()
    rounds, created = 0, existing is None
    result = existing
    refit_cap = max(0.08 * budget, probe * refit_scale * 3)
    planned = None
    while True:
        reserve = _reserve(result, objective, refit_cap, refit_scale, rounds, settings, planned)
        search_end = deadline - reserve
        left = search_end - time.time()
        if left < max(0.2, probe * k) or (target_total is not None and _finished(result) >= target_total):
            break
        objective.deadline = sampler.deadline = search_end
        objective.top = sorted(metric.sign() * t.value for t in _best_search_trials(result, KEEP)) if result else []
        sampler.refit_cap = refit_cap
        try:
            study.run(storage=url, n_trials=target_total, timeout=max(left, 0.1), parallelism=settings.parallelism,
                      backend=settings.backend, progress=settings.progress, ray_address=settings.ray_address)
        except StopSearch:
            pass
        rounds += 1
        result = _reopen(result, url, settings.name)
        if result is None:
            break
        planned = _planned_refit(result, objective, settings, data_scale, y_enc, metric, families)
        spare = deadline - _reserve(result, objective, refit_cap, refit_scale, rounds, settings, planned) - time.time()
        restart = 0.3 if settings.parallelism == 1 and settings.backend == "local" else 5.0
        if rounds >= 4 or spare < max(0.02 * budget, 2 * restart, 1.0) or settings.backend == "ray":
            break
    search_seconds = time.time() - search_started
    objective.deadline = sampler.deadline = None
    if result is None or not any(t.state == TrialState.COMPLETE for t in result.trials):
        if result is not None and created:
            result.db.delete_study(result.row.id)
        raise ConfigError(f"a time budget of {_fmt_seconds(budget)} is too short: no model finished its validation "
                          f"in the time left after preparing the data ({setup:.1f} s) and keeping room for the final "
                          "fit; "
                          f"give it {max(2 * budget, 10):.0f} s or more (--time, time_budget=).")
    skops.join()
    left_at_choice = deadline - time.time()
    final, ensemble_note = _choose_final(result, objective, settings, deadline, data_scale * REFIT_SLACK, y_enc,
                                         metric, families)
    final_trial, pipeline = _refit(result, study, sampler, objective, final, url, settings)
    refit_seconds = time.time() - search_started - search_seconds
    result = _reopen(result, url, settings.name)
    new_trials = _finished(result) - before
    board = leaderboard(result)
    return Outcome(name=settings.name, storage=url, shown_url=result.db.shown_url, task=task, metric=metric.name,
                   mode=metric.mode, classes=classes, validation=describe_validation(desc, len(y)), notes=notes,
                   pipeline=pipeline, final_trial=final_trial, final_value=final.value, refit_seconds=refit_seconds,
                   search_seconds=search_seconds, elapsed=time.time() - t0, budget=budget, leaderboard=board,
                   result=result, new_trials=new_trials, families=families, ensemble_note=ensemble_note,
                   timings={"setup": setup, "probe": probe, "rounds": rounds, "members": len(final.members),
                            "planned_refit": None if planned is None else planned[0] * REFIT_SLACK,
                            "left_at_choice": left_at_choice})


def _import_in_background(estimators):
    """Import the model libraries, and start importing skops (which imports every scikit-learn estimator: seconds)
    in a thread; refuse at once when skops is not installed."""
    import importlib.util
    import threading

    from autotune.automl._objective import warm_imports
    from autotune.automl._pipeline import _require_skops

    if importlib.util.find_spec("skops") is None:
        _require_skops()

    warm_imports(resolve_estimators(estimators)[0])  # here: a trial would wait for them behind skops' import

    def load():
        importlib.import_module("skops.io")

    thread = threading.Thread(target=load, name="autotune-import", daemon=True)
    thread.start()
    return thread


def _check_same_study(existing, name: str, fixed: dict[str, Any], metric) -> None:
    stored = _stored_fixed(existing)
    if not stored or "data" not in stored:
        raise ConfigError(f"a study named {name!r} already exists in {existing.db.shown_url} and is not an AutoML "
                          "study; give another name (--name).")
    if stored.get("data") != fixed["data"] or stored.get("target") != fixed["target"]:
        raise ConfigError(f"study {name!r} in {existing.db.shown_url} was run on another table (or another target: "
                          f"{stored.get('target')!r}); a study continues only on the data it started with. Give "
                          f"another --name, or delete it first (autotune delete {name}).")
    if existing.metrics != [metric.name]:
        raise ConfigError(f"study {name!r} optimises {existing.metrics[0]!r}, not {metric.name!r}; continue it with "
                          f"--metric {existing.metrics[0]}, or give another --name.")
    if stored.get("task") != fixed["task"]:
        raise ConfigError(f"study {name!r} treats the target as {stored.get('task')}, not {fixed['task']}; continue "
                          f"it with --task {stored.get('task')}, or give another --name.")
    if not stored.get("validation"):
        raise ConfigError(f"study {name!r} holds no validation scheme; give another --name.")


def _finished(result) -> int:
    if result is None:
        return 0
    return sum(1 for t in result.trials if t.state in FINISHED and t.counted)


def _history(existing) -> dict[str, Any]:
    """What the study holds already: finished count, and per family the measured (size, seconds) of its trials."""
    costs: dict[str, list[tuple[float, float]]] = {f: [] for f in FAMILIES}
    if existing is None:
        return {"finished": 0, "costs": costs, "fit": {}}
    fit: dict[str, list[float]] = {}
    for t in existing.trials:
        family = t.params.get("estimator")
        if family not in FAMILIES or t.duration is None or t.metrics.get("final"):
            continue
        config = existing.config(t.params)
        try:
            costs[family].append((FAMILIES[family].size(config), max(1e-4, t.duration)))
        except KeyError:
            continue
        if "fit_time" in t.metrics:
            fit.setdefault(family, []).append(float(t.metrics["fit_time"]))
    return {"finished": _finished(existing), "costs": costs, "fit": fit}


def _known_probe(history: dict[str, Any]) -> float | None:
    """The fastest fit the study's earlier trials measured."""
    known = [min(v) for v in history["fit"].values() if v]
    return max(1e-3, min(known)) if known else None


def _probe(Xm: np.ndarray, y: np.ndarray, task: str, n_classes: int, families: list[str], n_jobs: int,
           seed: int) -> float:
    """Seconds of one fit (and prediction) of the cheapest family's cheap configuration on 80% of the rows."""
    from autotune.automl._families import FitContext

    rng = np.random.default_rng(seed)
    rows = rng.permutation(len(y))
    cut = max(2, int(0.8 * len(y)))
    tr, va = rows[:cut], rows[cut:]
    family = min(families, key=lambda f: FAMILIES[f].cost_factor)
    ctx = FitContext(task=task, n_classes=n_classes, categorical=[], n_jobs=n_jobs, seed=seed)
    started = time.time()
    try:
        model = fit_family(family, FAMILIES[family].cheap(task), Xm[tr], y[tr], ctx)
        predict_matrix(model, Xm[va], task, n_classes)
    except Exception:  # noqa: BLE001 - (e.g. a class missing from the sample) the time is what is wanted
        pass
    return max(1e-3, time.time() - started)


def _fit_time(t) -> float | None:
    value = t.metrics.get("fit_time")
    return float(value) if value is not None else None


def _refit_estimate(t, refit_scale: float) -> float:
    fit = _fit_time(t)
    if fit is None:
        fit = (t.duration or 1.0)
    return fit * refit_scale


def _reserve(result, objective, refit_cap: float, refit_scale: float, rounds: int, settings,
             planned: tuple[float, float] | None = None) -> float:
    """Seconds to keep for the final refit (and for reading the study back). Before the first round: the refit cap
    the sampler holds every proposal to (a few members' worth with --ensemble), or more when the study's best
    trial so far needs more; later rounds: the refit of the final model that the study's trials make now and the
    time its choice took (``planned``, from :func:`_planned_refit`), else the refit of its best trials."""
    if rounds > 0 and planned is not None:
        refit, choosing = planned
        # REFIT_SLACK over the members' fit times; 1 s for the rest (the search's end, the study read back, the
        # refit's own run, the pipeline written to the database)
        return refit * REFIT_SLACK + 1.0 + 1.5 * choosing
    overhead = 0.3 + 0.002 * len(objective.y) / 1000 + (SELECTION_SECONDS + 0.2 if settings.ensemble else 0.0)
    members = 4 if settings.ensemble else 1
    best = _best_search_trials(result, members) if result is not None else []
    estimate = sum(_refit_estimate(t, refit_scale) for t in best) * 1.3
    if rounds == 0:
        estimate = max(estimate, refit_cap * (2.5 if settings.ensemble else 1.0))
    return estimate + overhead


def _planned_refit(result, objective, settings, data_scale: float, y_enc, metric,
                   families) -> tuple[float, float] | None:
    """The final refit if the search ended now: the seconds its model (the one :func:`_choose_final` picks from the
    study's trials) takes to fit on every row (its members' fit times scaled by the rows), and the seconds the
    choice took (None: it cannot tell)."""
    t0 = time.time()
    try:
        final, _ = _choose_final(result, objective, settings, math.inf, data_scale, y_enc, metric, families)
    except (AutotuneError, ValueError, IndexError):
        return None
    if "reuse" in final.config:
        return 0.0, time.time() - t0
    numbers = {m[3] for m in final.members}
    refit = sum(_refit_estimate(t, data_scale) for t in result.trials if t.number in numbers)
    return refit, time.time() - t0


def _best_search_trials(result, n: int) -> list:
    done = [t for t in result.trials if t.state == TrialState.COMPLETE and t.value is not None
            and not t.metrics.get("final") and t.params.get("estimator") in FAMILIES]
    sign = 1.0 if result.modes[0] == "min" else -1.0
    done.sort(key=lambda t: (sign * t.value, t.number))
    return done[:n]


def _choose_final(result, objective: AutoMLObjective, settings: Settings, deadline: float, refit_scale: float,
                  y_enc: np.ndarray, metric, families: list[str]) -> tuple[Final, str | None]:
    """The final model: the best configuration (or, with --ensemble, a greedy ensemble of the best trials'
    out-of-fold predictions when it scores better), cut to what can be refitted in the time left."""
    candidates = _best_search_trials(result, KEEP)
    best = candidates[0]
    left = deadline - time.time() - 0.3
    note = None

    def member(t, weight):
        config = result.config(t.params)
        family = config["estimator"]
        params = {k: v for k, v in config.items() if k not in FIXED and k != "estimator"}
        return (family, params, weight, t.number)

    def single(t) -> Final:
        return Final([member(t, 1.0)], float(t.value), config=result.config(t.params))

    if settings.ensemble and len(candidates) > 1:
        preds, kept = [], []
        for t in candidates:
            try:
                preds.append(load_oof(result.db.load_artifact(result.row.id, t.number, OOF)))
                kept.append(t)
            except AutotuneError:
                continue
        if len(kept) > 1:
            rows = objective.valid_rows
            costs = [_refit_estimate(t, refit_scale) for t in kept]
            weights, score = caruana_within(preds, y_enc[rows], metric, costs, left,
                                            deadline=time.time() + SELECTION_SECONDS)
            chosen = [(t, w) for t, w in zip(kept, weights, strict=True) if w > 0]
            chosen.sort(key=lambda p: -p[1])
            # (past the selection's time) members dropped, lowest weight first, until their refits fit
            while len(chosen) > 1 and sum(_refit_estimate(t, refit_scale) for t, _ in chosen) > left:
                chosen.pop()
            if len(chosen) > 1:
                total = sum(w for _, w in chosen)
                members = [member(t, w / total) for t, w in chosen]
                if len(chosen) != sum(w > 0 for w in weights):
                    score = metric.score(y_enc[rows], sum(p * w for (t, w), p in
                                                          zip(chosen, [preds[kept.index(t)] for t, _ in chosen],
                                                              strict=True)) / total)
                if metric.better(score, float(best.value)):
                    fixed_values = {k: v for k, v in result.config(best.params).items() if k in FIXED}
                    note = (f"ensemble of {len(members)} trials ({', '.join(str(m[3]) for m in members)}) scores "
                            f"{score:.6g} out of fold, the best single trial {best.value:.6g}")
                    return Final(members, float(score), config={"estimator": ENSEMBLE, **fixed_values}), note
                note = (f"no ensemble: the greedy selection scored {score:.6g}, not better than the best single "
                        f"trial's {best.value:.6g}")
    # a previous run's final model that is still the best (an ensemble, or a refit of the best trial) is reused
    for t in result.trials:
        if t.state == TrialState.COMPLETE and t.metrics.get("final") and t.value is not None:
            ens = t.params.get("estimator") == ENSEMBLE
            if (ens and metric.better(float(t.value), float(best.value)) and not settings.ensemble) or \
                    (not ens and t.metrics.get("refit_of") == best.number):
                if PIPELINE in result.db.artifact_names(result.row.id, t.number):
                    return Final([], float(t.value), config={"reuse": t.number}), note
    fits = [t for t in candidates if _refit_estimate(t, refit_scale) <= left]
    chosen = fits[0] if fits else best
    if chosen is not best:
        note = (f"the best trial {best.number} would take about {_refit_estimate(best, refit_scale):.1f} s to "
                f"refit, more than the {max(left, 0):.1f} s left; refitted trial {chosen.number} instead")
    return single(chosen), note


def _refit(result, study, sampler: AutoMLSampler, objective: AutoMLObjective, final: Final, url: str,
           settings: Settings) -> tuple[int, AutoMLPipeline]:
    """Run the final trial (the refit) and return its number and pipeline."""
    from autotune.study import Study

    if "reuse" in final.config:
        number = final.config["reuse"]
        data = result.db.load_artifact(result.row.id, number, PIPELINE)
        return number, load_pipeline(data, where=f"study {settings.name!r}")
    objective.final = final
    sampler.force = _force_params(sampler, final.config)
    refit = Study(name=study.name, space=study.space, objective=objective, metric=study.metrics[0],
                  mode=study.modes[0], sampler=sampler, pruner="none", keep_artifacts=0, storage=url)
    try:
        for _ in range(3):  # (a configuration left queued by a killed run would be claimed first)
            now = _existing(url, settings.name)
            current = _finished(now)
            if now is not None:
                now.db.close()
            refit.run(storage=url, n_trials=current + 1, parallelism=1, backend="local")
            if final.done:
                break
    finally:
        objective.final = None
        sampler.force = None
    if not final.done:
        raise AutotuneError(f"study {settings.name!r}: the final refit did not run (another driver took its place "
                            "in the budget); run again.")
    after = _existing(url, settings.name)
    try:
        number = max(t.number for t in after.trials if t.metrics.get("final"))
        data = after.db.load_artifact(after.row.id, number, PIPELINE)
    finally:
        after.db.close()
    return number, load_pipeline(data, where=f"study {settings.name!r}")


def _force_params(sampler: AutoMLSampler, config: dict[str, Any]) -> dict[str, Any]:
    family = config["estimator"]
    if family == ENSEMBLE:
        return {"estimator": ENSEMBLE}
    return sampler.to_params(family, {k: v for k, v in config.items() if k not in FIXED})


def leaderboard(result):
    """Per family: the best validation score, its trial, the trials run (complete / pruned / failed), the best
    trial's fit time per fold and the time spent on the family."""
    import pandas as pd

    metric = result.metrics[0]
    sign = 1.0 if result.modes[0] == "min" else -1.0
    rows: dict[str, dict[str, Any]] = {}
    for t in result.trials:
        family = t.params.get("estimator")
        if family not in FAMILIES or t.metrics.get("final") or t.state not in FINISHED:
            continue
        row = rows.setdefault(family, {"estimator": family, metric: None, "best_trial": None, "fit_s": None,
                                       "trials": 0, "pruned": 0, "failed": 0, "total_s": 0.0})
        row["trials"] += 1
        row["total_s"] += t.duration or 0.0
        if t.state == TrialState.PRUNED:
            row["pruned"] += 1
        elif t.state == TrialState.FAIL:
            row["failed"] += 1
        elif t.value is not None and (row[metric] is None or sign * t.value < sign * row[metric]):
            row[metric], row["best_trial"], row["fit_s"] = t.value, t.number, _fit_time(t)
    frame = pd.DataFrame(list(rows.values()), columns=["estimator", metric, "best_trial", "fit_s", "trials",
                                                       "pruned", "failed", "total_s"])
    if len(frame):
        frame["_key"] = frame[metric].map(lambda v: sign * v if v is not None and not pd.isna(v) else math.inf)
        frame = frame.sort_values(["_key", "estimator"]).drop(columns="_key").reset_index(drop=True)
    return frame


def load_final(name: str, storage: str | None = None, *, trust: bool = False):
    """``(result, trial number, pipeline)`` of a study's final model: the best of its final trials whose pipeline
    is kept."""
    from autotune.result import load_study

    result = load_study(name, storage)
    finals = [t for t in result.trials
              if t.state == TrialState.COMPLETE and t.metrics.get("final") and t.value is not None]
    if not finals:
        stored = _stored_fixed(result)
        if "data" not in stored:
            raise StorageError(f"study {name!r} in {result.db.shown_url} is not an AutoML study (it has no final "
                               "pipeline); autotune predict reads the studies that autotune automl made.")
        raise StorageError(f"study {name!r} in {result.db.shown_url} has no final pipeline yet (its run was stopped "
                           "before the refit); run autotune automl on it again to finish it.")
    sign = 1.0 if result.modes[0] == "min" else -1.0
    finals.sort(key=lambda t: (sign * t.value, -t.number))
    for t in finals:
        if PIPELINE in result.db.artifact_names(result.row.id, t.number):
            data = result.db.load_artifact(result.row.id, t.number, PIPELINE)
            return result, t.number, load_pipeline(data, trust=trust, where=f"study {name!r}")
    raise StorageError(f"study {name!r}: the pipelines of its final trials were dropped (keep_artifacts); run "
                       "autotune automl on it again to refit the best model.")
