"""``at.AutoML``: AutoML as a scikit-learn estimator, and ``at.automl(X, y)``, the one-call form::

    model = at.AutoML(time_budget="1m", storage="sqlite:///automl.db", name="churn").fit(X, y)
    model.predict(X_new), model.leaderboard, model.study.best_value
    model = at.AutoML.load("churn", storage="sqlite:///automl.db")      # the saved pipeline
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import numpy as np

from autotune.errors import ConfigError

try:
    from sklearn.base import BaseEstimator
    from sklearn.utils.metaestimators import available_if
except ImportError:  # pragma: no cover - AutoML needs scikit-learn
    BaseEstimator = object

    def available_if(check):
        return lambda fn: fn


def _require_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ConfigError("AutoML needs scikit-learn (and LightGBM, skops): pip install scikit-learn lightgbm skops "
                          "(or, in the autotune checkout, pip install -e '.[automl]').") from None


class AutoML(BaseEstimator):
    """A table and a time budget in, the best fitted pipeline out: a scikit-learn estimator.

    ``fit(X, y)`` searches model families (LightGBM, XGBoost when installed, random forest, extra trees,
    histogram gradient boosting, logistic/ridge regression, k-NN, a PyTorch MLP when installed) and their settings
    within ``time_budget``, validating each configuration by k-fold cross-validation or a holdout, then refits on
    all rows a greedy ensemble of the best trials when it validates better than the best one, else the best. The
    search is a study like any other: every trial persists in ``storage`` and a second ``fit`` on the same data and
    ``name`` continues it.

    Args:
        time_budget: the whole fit's time, refit included: seconds or e.g. ``"90s"``, ``"5m"``.
        metric: ``"auto"`` (binary: roc_auc, multiclass: log_loss, regression: r2) or a name from
            ``autotune.automl.METRICS``.
        task: ``"auto"``, ``"binary"``, ``"multiclass"``, ``"classification"`` or ``"regression"``.
        estimators: family names to search (default: all available), e.g. ``["lgbm", "rf"]``.
        ensemble: build a greedy ensemble of the best trials when it validates better than the best one
            (default); ``False``: always refit the best single configuration.
        n_trials: stop after this many search trials (besides the time budget).
        parallelism: trials at once; ``backend``: ``"local"`` or ``"ray"``.
        storage: the study database URL. ``None``: a temporary SQLite file, removed with the estimator (a fit
            then always starts afresh, as scikit-learn expects).
        name: the study's name (default ``"automl"``).
        seed: seeds the validation split, the models and the sampler.
        n_jobs: threads per model (default: the cores shared among the trials at once, fewer for small tables).
        verbose: print each trial as it ends (stderr).

    After ``fit``: ``best_estimator_`` (the pipeline: raw rows in), ``classes_`` (classification),
    ``leaderboard`` (a DataFrame: best score per family), ``study`` (the :class:`~autotune.Result`),
    ``best_score_`` (the final model's validation score on ``metric_``), ``task_``, ``metric_``, ``elapsed_``
    (seconds the fit took) and ``timings_`` (where they went: ``setup``, ``search``, ``refit``, the number of search
    ``rounds``, the final model's ``members``, the refit the search planned for, ``planned_refit``, and the seconds
    left when the final model was chosen, ``left_at_choice``).
    ``score(X, y)`` is accuracy for classification and R^2 for regression, as for scikit-learn's estimators.
    """

    def __init__(self, time_budget: Any = "5m", metric: str = "auto", task: str = "auto", estimators=None,
                 ensemble: bool = True, n_trials: int | None = None, parallelism: int = 1, backend: str = "local",
                 storage: str | None = None, name: str | None = None, seed: int = 0, n_jobs: int | None = None,
                 verbose: bool = False):
        self.time_budget = time_budget
        self.metric = metric
        self.task = task
        self.estimators = estimators
        self.ensemble = ensemble
        self.n_trials = n_trials
        self.parallelism = parallelism
        self.backend = backend
        self.storage = storage
        self.name = name
        self.seed = seed
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- scikit-learn's conventions ------------------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        # the search steers by measured times (which family to try next, how many trees fit the time left): two
        # fits on the same data may end on different models
        tags.non_deterministic = True
        if self.task in ("binary", "multiclass", "classification"):
            tags.estimator_type = "classifier"
            from sklearn.utils import ClassifierTags

            tags.classifier_tags = ClassifierTags(multi_class=self.task != "binary")
        elif self.task == "regression":
            from sklearn.utils import RegressorTags

            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        return tags

    def _check_X(self, X, reset: bool):
        import scipy.sparse as sp
        from sklearn.utils.validation import validate_data

        from autotune.automl._data import as_frame

        if X is None:
            raise ValueError("AutoML needs X, a DataFrame or a 2-dimensional array of rows, but got None.")
        if sp.issparse(X):
            raise TypeError("AutoML does not take sparse input: pass a dense array or a DataFrame "
                            "(X.toarray()).")
        if not hasattr(X, "dtypes"):
            X = np.asarray(X)
        if np.iscomplexobj(X) if not hasattr(X, "dtypes") else any(getattr(d, "kind", "") == "c" for d in X.dtypes):
            raise ValueError("Complex data not supported: AutoML takes real numbers, categories and dates.")
        frame = as_frame(X, None if reset or not hasattr(self, "columns_") else self.columns_)
        validate_data(self, X, reset=reset, skip_check_array=True)
        if frame.shape[1] == 0:
            raise ValueError(f"Found array with 0 feature(s) (shape={frame.shape}) while a minimum of 1 is "
                             "required.")
        if not reset and not hasattr(X, "columns"):
            frame.columns = self.columns_
        return frame

    def fit(self, X, y):
        """Search within ``time_budget`` and keep the best pipeline (see the class doc); returns ``self``."""
        import warnings

        from sklearn.exceptions import DataConversionWarning

        from autotune._checks import parse_duration
        from autotune.automl._run import Settings, run_automl
        from autotune.database import resolve_storage

        _require_sklearn()
        if y is None:
            raise ValueError("AutoML requires y to be passed, but the target y is None.")
        frame = self._check_X(X, reset=True)
        target = str(getattr(y, "name", None) or "y")
        y_arr = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
        if y_arr.ndim == 2 and y_arr.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of y "
                          "to (n_samples, ), for example using ravel().", DataConversionWarning, stacklevel=2)
            if hasattr(y, "columns"):
                target = str(y.columns[0])
            y_arr = y_arr[:, 0]
        elif y_arr.ndim != 1:
            raise ValueError(f"y must be one column of targets, but got shape {y_arr.shape}; AutoML predicts one "
                             "target at a time.")
        self.__dict__.pop("_study", None)
        if self.storage is None:
            self._release_tmp()
            self._tmp = tempfile.mkdtemp(prefix="autotune-automl-")
            storage = f"sqlite:///{os.path.join(self._tmp, 'automl.db')}"
        else:
            storage = resolve_storage(self.storage)
        settings = Settings(time_budget=parse_duration(self.time_budget, "time_budget"), metric=self.metric,
                            task=self.task, estimators=_names(self.estimators), ensemble=bool(self.ensemble),
                            n_trials=self.n_trials, parallelism=self.parallelism, backend=self.backend,
                            storage=storage, name=self.name or "automl", seed=self.seed, progress=bool(self.verbose),
                            n_jobs=self.n_jobs)
        outcome = run_automl(frame, y_arr, settings, target=target)
        self._set_fitted(outcome.pipeline, storage, settings.name)
        self.leaderboard_ = outcome.leaderboard
        self.best_score_ = outcome.final_value
        self.final_trial_ = outcome.final_trial
        self.notes_ = list(outcome.notes)
        self.elapsed_ = outcome.elapsed
        self.timings_ = dict(outcome.timings, search=outcome.search_seconds, refit=outcome.refit_seconds)
        self.validation_ = outcome.validation
        return self

    def _set_fitted(self, pipeline, storage: str, name: str) -> None:
        self.best_estimator_ = pipeline
        self.task_ = pipeline.task
        self.metric_ = pipeline.metric
        self.columns_ = list(pipeline.prep.columns_)
        self.n_features_in_ = len(self.columns_)
        if pipeline.task != "regression":
            self.classes_ = np.asarray(pipeline.classes)
        self.storage_ = storage
        self.study_name_ = name

    def _release_tmp(self) -> None:
        tmp = self.__dict__.pop("_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    def __del__(self):
        try:
            self._release_tmp()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_tmp", None)  # (a copy does not own the temporary database)
        state.pop("_study", None)  # (a database connection)
        return state

    def _fitted(self) -> None:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "best_estimator_")

    def predict(self, X) -> np.ndarray:
        """Labels (classification) or values (regression) for raw rows."""
        self._fitted()
        return self.best_estimator_.predict(self._check_X(X, reset=False))

    def _has_proba(self) -> bool:
        return getattr(self, "task_", self.task) != "regression"

    @available_if(_has_proba)
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_`` (classification only)."""
        self._fitted()
        if self.task_ == "regression":
            raise AttributeError("predict_proba is for classification; this AutoML model predicts a quantity "
                                 "(regression).")
        return self.best_estimator_.predict_proba(self._check_X(X, reset=False))

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy (classification) or R^2 (regression) on ``X, y``, as scikit-learn's estimators score."""
        from sklearn.metrics import accuracy_score, r2_score

        pred = self.predict(X)
        if self.task_ == "regression":
            return float(r2_score(y, pred, sample_weight=sample_weight))
        return float(accuracy_score(y, pred, sample_weight=sample_weight))

    @property
    def leaderboard(self):
        """Best validation score per model family, its trial, fit time per fold and trials run (a DataFrame)."""
        self._fitted()
        if getattr(self, "leaderboard_", None) is None:
            from autotune.automl._run import leaderboard

            self.leaderboard_ = leaderboard(self.study)
        return self.leaderboard_

    @property
    def study(self):
        """The study's :class:`~autotune.Result`: every trial, read from its database."""
        self._fitted()
        from autotune.result import load_study

        cached = self.__dict__.get("_study")
        if cached is None or cached[0] != (self.study_name_, self.storage_):
            cached = ((self.study_name_, self.storage_), load_study(self.study_name_, self.storage_))
            self._study = cached
        return cached[1]

    @classmethod
    def load(cls, name: str, storage: str | None = None, *, trust: bool = False) -> AutoML:
        """The fitted AutoML of study ``name`` (its final pipeline), from the study database alone.

        The pipeline is read with skops, trusting only the types AutoML writes; ``trust=True`` accepts any (only
        for a database you trust: loading other types can run code)."""
        from autotune.automl._run import load_final
        from autotune.database import resolve_storage

        _require_sklearn()
        url = resolve_storage(storage)
        result, number, pipeline = load_final(name, url, trust=trust)
        model = cls(storage=url, name=name, task=pipeline.task, metric=pipeline.metric)
        model._set_fitted(pipeline, url, name)
        if model.columns_ != [f"x{i}" for i in range(len(model.columns_))]:  # (fitted on named columns)
            model.feature_names_in_ = np.asarray(model.columns_, dtype=object)
        model.leaderboard_ = None
        model.final_trial_ = number
        model.best_score_ = next(t.value for t in result.trials if t.number == number)
        return model


def _names(estimators) -> list[str] | None:
    if estimators is None:
        return None
    if isinstance(estimators, str):
        return [e for e in estimators.split(",") if e.strip()]
    return list(estimators)


def automl(X, y, **kwargs) -> AutoML:
    """``AutoML(**kwargs).fit(X, y)``: the one-call form."""
    return AutoML(**kwargs).fit(X, y)
