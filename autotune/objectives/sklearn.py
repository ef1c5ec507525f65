"""A ready scikit-learn objective: any estimator, a scoring name, k-fold cross-validation; the running mean score
is reported after each fold (so a pruner can stop a hopeless configuration after one or two folds; a trial the
halving pruner paused continues with the next fold, its earlier fold scores recovered from its reports), and the
estimator refitted on all the data is kept as the trial's ``model.pkl`` (``Result.load_object("model.pkl",
trust=True)`` loads it back; unpickling needs that trust). The scoring is the study's metric, unless
``scoring=`` names it.

    objective = sklearn_objective(SVC(), X, y, cv=5)
    study = at.Study(name="svm", space=at.spaces.svm(), objective=objective, metric="accuracy", mode="max")
"""

from __future__ import annotations

from typing import Any

from autotune.errors import ConfigError
from autotune.objectives._base import ready
from autotune.objectives._metric import MetricRule


def sklearn_objective(estimator: Any, X, y, *, scoring: str | None = None, cv: int = 5, seed: int = 0,
                      save_model: bool = True):
    """Build ``objective(config, trial)``: ``config`` sets the estimator's parameters (``set_params``); it returns
    ``{scoring: mean cross-validated score}``. ``scoring`` is a scikit-learn scoring name; left out, it is the
    study's metric (``accuracy``, ``roc_auc``, ``neg_log_loss``, ``r2``, ...). scikit-learn scores are higher is
    better (errors are negated: ``neg_mean_squared_error``), so the study has ``mode="max"``; a study whose metric
    or mode the objective cannot report is refused before its first trial."""
    try:
        from sklearn.base import clone, is_classifier
        from sklearn.metrics import check_scoring, get_scorer_names
        from sklearn.model_selection import KFold, StratifiedKFold
    except ImportError:
        raise ConfigError("objectives.sklearn needs scikit-learn: pip install scikit-learn.") from None
    if cv < 2:
        raise ConfigError(f"cv must be at least 2 folds, but got {cv!r}.")
    names = set(get_scorer_names())
    if scoring is not None and scoring not in names:
        raise ConfigError(f"scoring {scoring!r} is not a scikit-learn scoring name (sklearn.metrics."
                          "get_scorer_names() lists them); choose one, or leave scoring= out (the study's metric).")
    scorers: dict[str, Any] = {}

    def scorer_for(name: str):
        if name not in scorers:
            try:
                scorers[name] = check_scoring(estimator, scoring=name)
            except ValueError as exc:
                raise ConfigError(f"scoring {name!r} cannot score {type(estimator).__name__}: {exc}") from None
        return scorers[name]

    if scoring is not None:
        scorer_for(scoring)
    rule = MetricRule("sklearn_objective", "scoring", scoring, lambda name: "max" if name in names else None,
                      "scikit-learn's scoring names (accuracy, balanced_accuracy, f1, roc_auc, neg_log_loss, r2, "
                      "neg_mean_squared_error, ...; sklearn.metrics.get_scorer_names() lists them), all with "
                      "mode='max'", "accuracy",
                      note=" (scikit-learn scores are higher is better: errors are scored negated, as "
                           "neg_log_loss or neg_mean_squared_error)")
    splitter = (StratifiedKFold if is_classifier(estimator) else KFold)(cv, shuffle=True, random_state=seed)
    folds = list(splitter.split(X, y))

    def _take(data, idx):
        return data.iloc[idx] if hasattr(data, "iloc") else data[idx]

    def objective(config, trial):
        name = rule.for_trial(trial)
        scorer = scorer_for(name)
        model = clone(estimator).set_params(**config)
        scores = _fold_scores(getattr(trial, "reports", None))  # a paused trial, continued: its folds so far
        if len(scores) > len(folds):  # reported under a study file with more folds: those are not these folds
            scores = []
        for k, (train, test) in enumerate(folds):
            if k < len(scores):
                continue
            fitted = clone(model).fit(_take(X, train), _take(y, train))
            scores.append(float(scorer(fitted, _take(X, test), _take(y, test))))
            trial.report(sum(scores) / len(scores), step=k)
        if save_model:
            trial.save_object("model.pkl", clone(model).fit(X, y))
        return {name: sum(scores) / len(scores)}

    return ready(objective, metric_rule=rule, artifact="model.pkl" if save_model else None)


def _fold_scores(reports) -> list[float]:
    """The fold scores behind the running means a trial reported after folds 0..k-1 (empty unless continued)."""
    if not reports or [int(step) for step, _ in reports] != list(range(len(reports))):
        return []
    means = [float(v) for _, v in reports]
    return [(k + 1) * m - k * (means[k - 1] if k else 0.0) for k, m in enumerate(means)]
