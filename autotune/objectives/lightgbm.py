"""A ready LightGBM objective: train on a validation split or k-fold CV, report the validation metric every
``report_every`` boosting rounds (so the pruner can stop a weak trial early), stop early by LightGBM's rule (no
better mean validation score in ``early_stopping_rounds`` rounds), and keep the best booster as the trial's
``model.txt`` (LightGBM's text format). The folds are lgb.cv's, trained round for round as lgb.cv trains them.
The metric is the study's (one of LightGBM's metrics for the task), unless ``metric=`` names it.

    objective = lightgbm_objective(X, y, task="binary")
    study = at.Study(name="lgbm", space=at.spaces.lightgbm(), objective=objective, metric="binary_logloss",
                     mode=lightgbm_mode("binary_logloss"), pruner="median", n_trials=30)
"""

from __future__ import annotations

import json
import os
from typing import Any

from autotune.errors import ConfigError, TrialPaused
from autotune.objectives import _checkpoints
from autotune.objectives._base import ready
from autotune.objectives._metric import MetricRule

_HIGHER_IS_BETTER = {"auc", "average_precision", "ndcg", "map", "auc_mu"}
_TASKS = {"binary": "binary_logloss", "multiclass": "multi_logloss", "regression": "l2"}
# LightGBM's metrics (by the name its evaluation gives them) that a model of each task can be scored by
_REGRESSION = ("l2", "l1", "rmse", "quantile", "mape", "huber", "fair", "poisson", "gamma", "gamma_deviance",
               "tweedie")
_TASK_METRICS = {
    "binary": ("binary_logloss", "binary_error", "auc", "average_precision", "cross_entropy", "cross_entropy_lambda",
               "kullback_leibler", "l2", "l1", "rmse"),
    "multiclass": ("multi_logloss", "multi_error", "auc_mu"),
    "regression": _REGRESSION,
}
# LightGBM's other names for its metrics
_ALIASES = {
    "mean_squared_error": "l2", "mse": "l2", "regression_l2": "l2", "regression": "l2",
    "mean_absolute_error": "l1", "mae": "l1", "regression_l1": "l1",
    "root_mean_squared_error": "rmse", "l2_root": "rmse", "mean_absolute_percentage_error": "mape",
    "binary": "binary_logloss", "xentropy": "cross_entropy", "xentlambda": "cross_entropy_lambda",
    "kldiv": "kullback_leibler", "multiclass": "multi_logloss", "softmax": "multi_logloss",
    "multiclassova": "multi_logloss", "multiclass_ova": "multi_logloss", "ova": "multi_logloss",
    "ovr": "multi_logloss", "mean_average_precision": "map", "lambdarank": "ndcg", "rank_xendcg": "ndcg",
    "xendcg": "ndcg", "xe_ndcg": "ndcg", "xe_ndcg_mart": "ndcg", "xendcg_mart": "ndcg",
}
# LightGBM's names for the number of rounds and for early stopping's patience: in a configuration (or ``params``)
# they set this trial's cap and patience here, rather than reach lgb.train, where they would override the rounds
# it is asked for (one, when a paused trial continues) and the refit's best round
_ROUNDS = ("num_iterations", "num_iteration", "n_iter", "num_tree", "num_trees", "num_round", "num_rounds",
           "nrounds", "num_boost_round", "n_estimators", "max_iter")
_PATIENCE = ("early_stopping_round", "early_stopping_rounds", "early_stopping", "n_iter_no_change")


def lightgbm_mode(metric: str) -> str:
    """'max' for metrics where higher is better (auc, average_precision, auc_mu, ndcg, map), else 'min'."""
    return "max" if _canonical(metric).split("@")[0] in _HIGHER_IS_BETTER else "min"


def _canonical(metric: str) -> str:
    """LightGBM's own name for a metric (``mse`` -> ``l2``): the name its evaluation results carry."""
    return _ALIASES.get(metric, metric)


def _require():
    try:
        import lightgbm
    except ImportError:
        raise ConfigError("objectives.lightgbm needs LightGBM: pip install lightgbm.") from None
    return lightgbm


def lightgbm_objective(X, y, *, task: str = "binary", metric: str | None = None, valid: Any = 0.2,
                       folds: int | None = None, num_boost_round: int = 1000, early_stopping_rounds: int = 30,
                       report_every: int = 10, seed: int = 0, params: dict[str, Any] | None = None,
                       checkpoint_dir: str | None = None):
    """Build ``objective(config, trial)`` for LightGBM; it returns ``{metric: best score, "best_iteration": n,
    "rounds_trained": rounds, "resumed_from": rounds}``.

    ``metric`` is a LightGBM metric for the task (``binary_logloss``, ``auc``, ``binary_error``, ... for
    ``task="binary"``; ``multi_logloss``, ``multi_error``, ``auc_mu`` for ``"multiclass"``; ``l2``, ``l1``,
    ``rmse``, ... for ``"regression"``). Left out, it is the study's metric; given, it must be the study's metric,
    and the study's mode its direction (``lightgbm_mode(metric)``): a study that breaks this is refused before its
    first trial.

    ``valid`` is a fraction held out (stratified for classification) or an ``(X_valid, y_valid)`` pair;
    ``folds=k`` uses k-fold cross-validation instead (the mean over folds is reported and returned, and the saved
    booster is retrained on all the data for the best number of rounds).

    A trial paused by the halving pruner keeps its boosters (``checkpoint_dir``, default
    ``.autotune/checkpoints``) and continues from them if it is promoted; the random draws of bagging and feature
    fraction after the pause differ from an uninterrupted run's, the trees before it are the same.
    """
    lgb = _require()
    if task not in _TASKS:
        raise ConfigError(f"task must be one of {', '.join(_TASKS)}, but got {task!r}.")
    computes = f"LightGBM's metrics for task={task!r}: {', '.join(_TASK_METRICS[task])} (or their aliases)"

    def direction(name: str) -> str | None:
        return lightgbm_mode(name) if _canonical(name) in _TASK_METRICS[task] else None

    if metric is not None and direction(metric) is None:
        raise ConfigError(f"metric {metric!r} is not one of {computes}; choose one of these, or leave metric= out "
                          "(the study's metric).")
    set_metric = [k for k in (params or {}) if k in ("metric", "metrics", "metric_types")]
    if set_metric:
        raise ConfigError(f"params sets {set_metric[0]!r}: the metric is the study's, or metric= (one metric); "
                          f"take {set_metric[0]!r} out of params.")
    rule = MetricRule("lightgbm_objective", "metric", metric, direction, computes, _TASKS[task],
                      returns=lambda name: ("best_iteration", "rounds_trained", "resumed_from"))
    if report_every < 1:
        raise ConfigError(f"report_every must be >= 1, but got {report_every!r}.")
    base = {"objective": task, "verbosity": -1, "seed": seed, "deterministic": True, "num_threads": 1,
            **(params or {})}
    if task == "multiclass":
        import numpy as np

        base.setdefault("num_class", int(len(np.unique(y))))
    if folds is None:
        if isinstance(valid, tuple):
            split = (X, y, valid[0], valid[1])
        else:
            from sklearn.model_selection import train_test_split

            strat = y if task != "regression" else None
            X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=valid, random_state=seed, stratify=strat)
            split = (X_tr, y_tr, X_va, y_va)
    else:  # the folds lgb.cv makes for this seed (stratified for classification): the same boosters, round for round
        import numpy as np
        from sklearn.model_selection import StratifiedKFold

        if task != "regression":
            split_at = StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.empty(len(y)), y)
        else:
            tests = np.array_split(np.random.RandomState(seed).permutation(len(y)), folds)
            split_at = [(np.concatenate([t for j, t in enumerate(tests) if j != k]), tests[k]) for k in range(folds)]
        cv_folds = [(sorted(a), sorted(b)) for a, b in split_at]

    def data_sets(p):
        """(train, valid) per fold, not yet constructed (a continued booster sets their initial scores)."""
        if folds is None:
            X_tr, y_tr, X_va, y_va = split
            dtrain = lgb.Dataset(X_tr, y_tr, free_raw_data=False)
            return [(dtrain, lgb.Dataset(X_va, y_va, reference=dtrain, free_raw_data=False))]
        full = lgb.Dataset(X, y, params=p, free_raw_data=False).construct()
        return [(full.subset(a), full.subset(b)) for a, b in cv_folds]

    def checkpoint_path(study_name: str, config: dict[str, Any]) -> str:
        return _checkpoints.checkpoint_path(checkpoint_dir, study_name, config, ".lgb.json")

    def forget(study_name: str, config: dict[str, Any]) -> None:
        """The halving pruner pruned a paused trial: its boosters will not be continued."""
        _checkpoints.remove(checkpoint_path(study_name, config))

    def _train(p, state, trial, path, max_rounds, patience, metric):
        """Train the folds round for round until early stopping or ``max_rounds``, reporting every
        ``report_every`` rounds; on a pause the boosters are written to ``path``."""
        boosters = []
        for k, (dtrain, dvalid) in enumerate(data_sets(p)):
            if state is None:
                b = lgb.Booster(p, dtrain)
                b.add_valid(dvalid, "valid")
                b.update()
            else:  # continue from the stored trees (one round is trained here)
                b = lgb.train(p, dtrain, 1, init_model=lgb.Booster(model_str=state["models"][k]),
                              valid_sets=[dvalid], valid_names=["valid"], keep_training_booster=True)
            boosters.append(b)
        history = list(state["history"]) if state else []
        higher = lightgbm_mode(metric) == "max"  # LightGBM's direction for the metric
        sign = 1.0 if higher else -1.0
        best_round = 1 + max(range(len(history)), key=lambda i: (sign * history[i], -i)) if history else 0
        _checkpoints.report_unreported(trial, [(r, history[r - 1]) for r in range(report_every, len(history) + 1,
                                                                             report_every)])
        while True:
            history.append(sum(_score(b, metric) for b in boosters) / len(boosters))
            rounds = len(history)
            if best_round == 0 or sign * history[-1] > sign * history[best_round - 1]:
                best_round = rounds
            if rounds - best_round >= patience or rounds >= max_rounds:
                return boosters, history, best_round, rounds  # lgb.cv's early stopping, on the mean over folds
            if rounds % report_every == 0:
                try:
                    trial.report(history[-1], step=rounds)
                except TrialPaused:  # keep the boosters, to continue them if the trial is promoted
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    tmp = _checkpoints.scratch(path)
                    with open(tmp, "w") as fh:
                        json.dump({"history": history, "models": [b.model_to_string() for b in boosters]}, fh)
                    os.replace(tmp, path)
                    raise
            for b in boosters:
                b.update()

    def objective(config, trial):
        metric = rule.for_trial(trial)
        p = {**base, **config, "metric": metric}
        max_rounds, patience = num_boost_round, early_stopping_rounds
        for name in _ROUNDS:
            if name in p:
                max_rounds = int(p.pop(name))
        for name in _PATIENCE:
            if name in p:
                patience = int(p.pop(name))
        path = checkpoint_path(trial.study_name, config)
        _checkpoints.warn_missing(trial, path)
        state = None
        if getattr(trial, "reports", None) and os.path.exists(path):  # a paused trial, continued
            with open(path) as fh:
                state = json.load(fh)
        try:
            boosters, history, best_round, rounds = _train(p, state, trial, path, max_rounds, patience, metric)
        except TrialPaused:
            raise  # the boosters are kept: the trial continues from them if it is promoted
        except Exception:  # pruned, or failed: nothing will continue from the boosters
            _checkpoints.remove(path)
            raise
        resumed_from = len(state["history"]) if state else 0
        _checkpoints.remove(path)
        score = history[best_round - 1]
        if folds is None:
            model = boosters[0].model_to_string(num_iteration=best_round)
        else:
            model = lgb.train(p, lgb.Dataset(X, y), best_round).model_to_string()
        trial.save_artifact("model.txt", model)
        return {metric: float(score), "best_iteration": best_round, "rounds_trained": rounds,
                "resumed_from": resumed_from}

    return ready(objective, metric_rule=rule, artifact="model.txt", forget=forget)


def _score(booster, metric: str) -> float:
    results = booster.eval_valid()
    for item in results:
        if item[1] == _canonical(metric):
            return float(item[2])
    raise RuntimeError(f"LightGBM evaluated {[item[1] for item in results]}, not the metric {metric!r}.")

