"""A ready LightGBM objective: train on a validation split or k-fold CV, report the validation metric every
``report_every`` boosting rounds (so the pruner can stop a weak trial early), let LightGBM's own early stopping
pick the number of rounds, and keep the best booster as the trial's ``model.txt`` (LightGBM's text format).

    objective = lightgbm_objective(X, y, task="binary", metric="binary_logloss")
    study = at.Study(name="lgbm", space=at.spaces.lightgbm(), objective=objective, metric="binary_logloss",
                     mode=lightgbm_mode("binary_logloss"), pruner="median", n_trials=30)
"""

from __future__ import annotations

from typing import Any

from autotune.errors import ConfigError

_HIGHER_IS_BETTER = {"auc", "average_precision", "ndcg", "map", "auc_mu"}
_TASKS = {"binary": "binary_logloss", "multiclass": "multi_logloss", "regression": "l2"}


def lightgbm_mode(metric: str) -> str:
    """'max' for metrics where higher is better (auc, average_precision, ndcg, map), else 'min'."""
    return "max" if metric in _HIGHER_IS_BETTER else "min"


def _require():
    try:
        import lightgbm
    except ImportError:
        raise ConfigError("objectives.lightgbm needs LightGBM: pip install lightgbm.") from None
    return lightgbm


def lightgbm_objective(X, y, *, task: str = "binary", metric: str | None = None, valid: Any = 0.2,
                       folds: int | None = None, num_boost_round: int = 1000, early_stopping_rounds: int = 30,
                       report_every: int = 10, seed: int = 0, params: dict[str, Any] | None = None):
    """Build ``objective(config, trial)`` for LightGBM; it returns ``{metric: best score, "best_iteration": n,
    "rounds_trained": rounds}``.

    ``valid`` is a fraction held out (stratified for classification) or an ``(X_valid, y_valid)`` pair;
    ``folds=k`` uses k-fold cross-validation instead (the mean over folds is reported and returned, and the saved
    booster is retrained on all the data for the best number of rounds).
    """
    lgb = _require()
    if task not in _TASKS:
        raise ConfigError(f"task must be one of {', '.join(_TASKS)}, but got {task!r}.")
    metric = metric or _TASKS[task]
    if report_every < 1:
        raise ConfigError(f"report_every must be >= 1, but got {report_every!r}.")
    base = {"objective": task, "metric": metric, "verbosity": -1, "seed": seed, "deterministic": True,
            "num_threads": 1, **(params or {})}
    if task == "multiclass":
        import numpy as np

        base.setdefault("num_class", int(len(np.unique(y))))
    split = None
    if folds is None:
        if isinstance(valid, tuple):
            split = (X, y, valid[0], valid[1])
        else:
            from sklearn.model_selection import train_test_split

            strat = y if task != "regression" else None
            X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=valid, random_state=seed, stratify=strat)
            split = (X_tr, y_tr, X_va, y_va)

    def objective(config, trial):
        p = {**base, **config}
        reporter = _Reporter(trial, metric, report_every)
        stop = lgb.early_stopping(early_stopping_rounds, verbose=False)
        if split is not None:
            X_tr, y_tr, X_va, y_va = split
            dtrain = lgb.Dataset(X_tr, y_tr)
            booster = lgb.train(p, dtrain, num_boost_round, valid_sets=[lgb.Dataset(X_va, y_va, reference=dtrain)],
                                valid_names=["valid"], callbacks=[stop, reporter])
            best_it = booster.best_iteration or booster.current_iteration()
            score = booster.best_score["valid"][metric]
        else:
            result = lgb.cv(p, lgb.Dataset(X, y), num_boost_round, nfold=folds, seed=seed,
                            stratified=task != "regression", callbacks=[stop, reporter])
            series = result[f"valid {metric}-mean"]
            best_it = len(series)
            score = series[-1]
            booster = lgb.train(p, lgb.Dataset(X, y), best_it)
        trial.save_artifact("model.txt", booster.model_to_string(num_iteration=best_it))
        return {metric: float(score), "best_iteration": best_it, "rounds_trained": reporter.last_round}

    return objective


class _Reporter:
    """A LightGBM callback: report the validation metric every n rounds; raises TrialPruned to stop training."""

    order = 40  # after LightGBM's own evaluation

    def __init__(self, trial, metric: str, every: int) -> None:
        self.trial, self.metric, self.every = trial, metric, every
        self.last_round = 0

    def __call__(self, env) -> None:
        round_ = env.iteration + 1
        self.last_round = round_
        if round_ % self.every:
            return
        for item in env.evaluation_result_list:
            name = item[1]
            if name == self.metric or name == f"{self.metric}-mean" or name.endswith(f" {self.metric}"):
                if item[0] in ("valid", "cv_agg") or len(env.evaluation_result_list) == 1:
                    self.trial.report(float(item[2]), step=round_)
                    return
