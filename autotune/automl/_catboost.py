"""The CatBoost family: trained with CatBoost, kept as CatBoost's own binary model.

:class:`CatBoostModel` is a scikit-learn estimator around ``CatBoostClassifier`` / ``CatBoostRegressor``. It fits on
the prepared matrix (numbers with NaN for missing values, category codes as floats): the categorical columns go to
CatBoost as integer codes, a missing value as the code -1, the same way when fitting and when predicting. What it
keeps is plain data: the trained model's bytes in CatBoost's ``cbm`` format, the classes and the categorical
columns. A saved pipeline therefore loads with skops' list of trusted types; the CatBoost model is rebuilt from the
bytes on the first prediction and cached in an attribute that is never saved.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

try:
    from sklearn.base import BaseEstimator
except ImportError:  # pragma: no cover - AutoML needs scikit-learn; the error is raised where it is used
    BaseEstimator = object

MISSING_CODE = -1  # the code a missing categorical value gets (CatBoost takes no NaN in a categorical column)


class _Deadline:
    """A CatBoost callback that stops training once ``time.time()`` passes the deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.stopped = False

    def after_iteration(self, info) -> bool:
        if time.time() > self.deadline:
            self.stopped = True
            return False
        return True


class CatBoostModel(BaseEstimator):
    """CatBoost on the prepared matrix. ``task``: binary, multiclass or regression; ``categorical``: the indices of
    the categorical columns; ``class_weight``: None or ``"balanced"``; ``threads``: CatBoost's threads.
    ``fit(X, y, deadline=)`` stops training at the deadline (a ``time.time()``) and then raises ``OutOfTime``."""

    def __init__(self, task: str = "binary", categorical=(), n_estimators: int = 100, depth: int = 6,
                 learning_rate: float = 0.1, l2_leaf_reg: float = 3.0, random_strength: float = 1.0,
                 bootstrap_type: str = "Bernoulli", subsample: float = 1.0, class_weight=None, threads: int = 1,
                 seed: int = 0):
        self.task, self.categorical, self.n_estimators, self.depth = task, categorical, n_estimators, depth
        self.learning_rate, self.l2_leaf_reg, self.random_strength = learning_rate, l2_leaf_reg, random_strength
        self.bootstrap_type, self.subsample, self.class_weight = bootstrap_type, subsample, class_weight
        self.threads, self.seed = threads, seed

    def fit(self, X, y, deadline: float | None = None):
        import catboost

        from autotune.automl._families import OutOfTime

        if deadline is not None and time.time() > deadline:
            raise OutOfTime
        X = np.asarray(X, dtype=np.float64)
        self.cat_columns_ = sorted(int(j) for j in self.categorical)
        self.n_features_in_ = X.shape[1]
        regression = self.task == "regression"
        if not regression:
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:  # CatBoost refuses a single class: every row gets it
                self.model_ = b""
                return self
        params = dict(iterations=int(self.n_estimators), depth=int(self.depth),
                      learning_rate=float(self.learning_rate), l2_leaf_reg=float(self.l2_leaf_reg),
                      random_strength=float(self.random_strength), bootstrap_type=str(self.bootstrap_type),
                      thread_count=max(1, int(self.threads)), random_seed=int(self.seed), verbose=False,
                      allow_writing_files=False)
        if self.bootstrap_type in ("Bernoulli", "MVS", "Poisson"):
            params["subsample"] = float(self.subsample)
        if regression:
            model = catboost.CatBoostRegressor(**params)
        else:
            if self.class_weight == "balanced":
                params["auto_class_weights"] = "Balanced"
            model = catboost.CatBoostClassifier(**params)
        stop = _Deadline(deadline) if deadline is not None else None
        model.fit(self._frame(X), np.asarray(y), cat_features=self.cat_columns_ or None,
                  callbacks=[stop] if stop is not None else None)
        if stop is not None and stop.stopped:
            raise OutOfTime
        if not regression:  # the columns of predict_proba, in CatBoost's order
            self.classes_ = np.asarray(model.classes_).astype(self.classes_.dtype)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.cbm")
            model.save_model(path, format="cbm")
            with open(path, "rb") as f:
                self.model_ = f.read()
        return self

    def _frame(self, X: np.ndarray):
        """The matrix as CatBoost takes it: categorical columns as integer codes, -1 for a missing value."""
        import pandas as pd

        frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
        for j in self.cat_columns_:
            codes = X[:, j]
            frame[f"f{j}"] = np.where(np.isfinite(codes), codes, MISSING_CODE).astype(np.int64)
        return frame

    def _model(self):
        booster = self.__dict__.get("_booster")
        if booster is None:
            import catboost

            cls = catboost.CatBoostRegressor if self.task == "regression" else catboost.CatBoostClassifier
            booster = cls().load_model(blob=self.model_)
            self._booster = booster
        return booster

    def __getstate__(self):
        state = dict(super().__getstate__())  # (a copy: the instance keeps its cache)
        state.pop("_booster", None)  # (rebuilt from model_ on first use)
        return state

    def predict_proba(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if not self.model_:
            return np.ones((len(X), 1))
        return np.asarray(self._model().predict_proba(self._frame(X), thread_count=max(1, int(self.threads))),
                          dtype=np.float64)

    def predict(self, X) -> np.ndarray:
        if self.task != "regression":
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        X = np.asarray(X, dtype=np.float64)
        return np.asarray(self._model().predict(self._frame(X), thread_count=max(1, int(self.threads))),
                          dtype=np.float64).reshape(-1)
