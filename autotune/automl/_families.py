"""The model families AutoML searches: each one's space (from ``at.spaces``), its cheap starting configuration, a
few known-good configurations to try next, how its cost grows with its configuration, and how to fit it on the
prepared matrix within a deadline.

Every family fits on the matrix ``TablePrep`` makes (numbers, category codes, NaN for missing values) and is told
which columns are categorical and how many codes each has:

* ``lgbm`` -- LightGBM with native categorical splits and missing values;
* ``xgboost`` -- XGBoost (when installed), codes as ordered values;
* ``catboost`` -- CatBoost (when installed) with native categorical columns, kept in its own binary format;
* ``rf``, ``extra_trees`` -- scikit-learn's forests, missing values set below each column's range;
* ``hgb`` -- scikit-learn's histogram gradient boosting, native categories and missing values;
* ``linear`` -- logistic regression (classification) or ridge (regression) on scaled numbers, missing-value
  indicators and one-hot categories;
* ``knn`` -- k nearest neighbours on the same encoding;
* ``mlp`` -- a multi-layer perceptron trained with PyTorch (when installed) on the same encoding, kept as arrays.

Tree ensembles grow in chunks and check the deadline between chunks (LightGBM, XGBoost and CatBoost every round),
so that a trial never runs far past the time it was given: it raises :class:`OutOfTime` instead.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autotune import spaces as S
from autotune.spaces import choice, fixed, loguniform, randint, uniform


class OutOfTime(Exception):
    """A fit (or a prediction) reached its deadline."""


def _check(deadline: float | None) -> None:
    if deadline is not None and time.time() > deadline:
        raise OutOfTime


# -- encoders (part of the saved pipelines: plain attributes only, so that skops loads them) ----------------------
try:
    from sklearn.base import BaseEstimator, TransformerMixin
except ImportError:  # pragma: no cover - AutoML needs scikit-learn; the error is raised where it is used
    BaseEstimator = TransformerMixin = object


class OutOfRangeImputer(TransformerMixin, BaseEstimator):
    """Missing values set one below each column's smallest value, so that trees can split them off."""

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low = np.nanmin(X, axis=0) if len(X) else np.zeros(X.shape[1])
        self.fill_ = np.where(np.isfinite(low), low - 1.0, -1.0)
        return self

    def transform(self, X):
        X = np.array(X, dtype=np.float64, copy=True)
        rows, cols = np.nonzero(~np.isfinite(X))
        X[rows, cols] = self.fill_[cols]
        return X


class LinearEncoder(TransformerMixin, BaseEstimator):
    """For linear models and k-NN: numbers imputed with the median and standardised, an indicator for each numeric
    column that had missing values, categories one-hot (the ``max_onehot`` most frequent codes; the rest share a
    column; a missing value has none)."""

    def __init__(self, categorical=(), max_onehot: int = 30):
        self.categorical = categorical
        self.max_onehot = max_onehot

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        cat = list(self.categorical) or [0] * X.shape[1]
        self.numeric_ = [j for j, k in enumerate(cat) if k == 0]
        self.cats_ = [[j, min(int(k), self.max_onehot), int(k) > self.max_onehot] for j, k in enumerate(cat) if k]
        num = X[:, self.numeric_]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(num, axis=0) if num.shape[1] else np.zeros(0)
        self.median_ = np.where(np.isfinite(med), med, 0.0)
        filled = np.where(np.isfinite(num), num, self.median_)
        self.mean_ = filled.mean(axis=0) if len(filled) else np.zeros(num.shape[1])
        std = filled.std(axis=0) if len(filled) else np.ones(num.shape[1])
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        self.indicate_ = [i for i in range(num.shape[1]) if not np.all(np.isfinite(num[:, i]))]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=np.float64)
        num = X[:, self.numeric_]
        missing = ~np.isfinite(num)
        parts = [(np.where(missing, self.median_, num) - self.mean_) / self.scale_]
        if self.indicate_:
            parts.append(missing[:, self.indicate_].astype(np.float64))
        for j, width, other in self.cats_:
            codes = X[:, j]
            block = np.zeros((len(X), width + other))
            ok = np.isfinite(codes)
            idx = np.where(ok, codes, -1).astype(np.int64)
            idx = np.where(idx >= width, width if other else -1, idx)
            keep = idx >= 0
            block[np.nonzero(keep)[0], idx[keep]] = 1.0
            parts.append(block)
        return np.hstack(parts) if parts else np.zeros((len(X), 0))


# -- the families ------------------------------------------------------------------------------------------------
@dataclass
class Family:
    name: str
    label: str
    size_param: str | None  # the parameter the cost grows with (trees, rounds); None: a fixed cost
    tasks: tuple[str, ...] = ("binary", "multiclass", "regression")
    requires: str | None = None  # a package that must be importable
    cost_factor: float = 1.0  # rough cost of its cheap configuration relative to LightGBM's
    space_fn: Any = None
    cheap_fn: Any = None
    portfolio_fn: Any = None
    build_fn: Any = None
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def available(self) -> bool:
        if self.requires is None:
            return True
        import importlib.util

        return importlib.util.find_spec(self.requires) is not None

    def space(self, task: str) -> dict[str, Any]:
        space = self.space_fn(task)
        if task != "regression" and self.name != "knn":
            space["class_weight"] = choice([None, "balanced"])
        return space

    def cheap(self, task: str) -> dict[str, Any]:
        config = self.cheap_fn(task)
        if task != "regression" and self.name != "knn":
            config["class_weight"] = None
        return config

    def portfolio(self, task: str) -> list[dict[str, Any]]:
        out = []
        for config in self.portfolio_fn(task):
            if task != "regression" and self.name != "knn":
                config = {"class_weight": None, **config}
            out.append(config)
        return out

    def size(self, config: dict[str, Any]) -> float:
        """How the cost of fitting ``config`` grows (in units of its cheap configuration's)."""
        if self.name in ("lgbm",):
            return config["n_estimators"] * math.sqrt(config["num_leaves"]) / 8.0
        if self.name == "xgboost":
            return config["n_estimators"] * 2 ** (min(config["max_depth"], 12) / 2) / 32.0
        if self.name == "catboost":  # symmetric trees: the work per tree grows with its depth, not its leaves
            return config["n_estimators"] * config["depth"] / 32.0
        if self.name in ("rf", "extra_trees"):
            return config["n_estimators"] * (0.2 + config["max_features"]) / 2.8
        if self.name == "hgb":
            return config["max_iter"] * math.sqrt(config["max_leaf_nodes"]) / 45.0
        if self.name == "mlp":  # epochs x work per epoch (width, depth, and the per-batch overhead)
            width = config["hidden"] * config["layers"]
            return config["epochs"] * (1.0 + width / 64.0) * (1.0 + 32.0 / config["batch_size"]) / 12.0
        return 1.0


def _lgbm_space(task):
    return S.lightgbm(n_estimators=randint(4, 4000, log=True), num_leaves=randint(4, 1024, log=True),
                      learning_rate=loguniform(0.005, 1.0), min_child_samples=randint(2, 128, log=True),
                      feature_fraction=uniform(0.2, 1.0), bagging_fraction=uniform(0.5, 1.0),
                      lambda_l1=loguniform(1e-3, 100.0), lambda_l2=loguniform(1e-3, 100.0))


def _lgbm_cheap(task):
    return {"n_estimators": 4, "num_leaves": 4, "learning_rate": 0.1, "min_child_samples": 20,
            "feature_fraction": 1.0, "bagging_fraction": 1.0, "lambda_l1": 1e-3, "lambda_l2": 1.0}


def _lgbm_portfolio(task):
    base = {"min_child_samples": 20, "feature_fraction": 1.0, "bagging_fraction": 1.0, "lambda_l1": 1e-3,
            "lambda_l2": 1.0}
    return [
        {**base, "n_estimators": 100, "num_leaves": 31, "learning_rate": 0.1},
        {**base, "n_estimators": 40, "num_leaves": 8, "learning_rate": 0.2, "min_child_samples": 10},
        {**base, "n_estimators": 300, "num_leaves": 16, "learning_rate": 0.05, "feature_fraction": 0.7,
         "bagging_fraction": 0.9},
        {**base, "n_estimators": 500, "num_leaves": 64, "learning_rate": 0.03, "feature_fraction": 0.5,
         "bagging_fraction": 0.8, "min_child_samples": 30, "lambda_l2": 5.0},
        {**base, "n_estimators": 1000, "num_leaves": 24, "learning_rate": 0.02, "feature_fraction": 0.4,
         "bagging_fraction": 0.8, "min_child_samples": 10, "lambda_l2": 10.0},
    ]


def _xgb_space(task):
    return S.xgboost(n_estimators=randint(4, 4000, log=True))


def _xgb_cheap(task):
    return {"n_estimators": 4, "max_depth": 6, "learning_rate": 0.1, "subsample": 1.0, "colsample_bytree": 1.0,
            "min_child_weight": 1.0, "reg_alpha": 1e-3, "reg_lambda": 1.0}


def _xgb_portfolio(task):
    base = _xgb_cheap(task)
    return [
        {**base, "n_estimators": 100, "max_depth": 6, "learning_rate": 0.1},
        {**base, "n_estimators": 300, "max_depth": 4, "learning_rate": 0.05, "subsample": 0.8,
         "colsample_bytree": 0.8},
        {**base, "n_estimators": 600, "max_depth": 8, "learning_rate": 0.02, "subsample": 0.8,
         "colsample_bytree": 0.6, "min_child_weight": 3.0},
    ]


def _catboost_space(task):
    return S.catboost(n_estimators=randint(8, 4000, log=True))


def _catboost_cheap(task):
    return {"n_estimators": 8, "depth": 4, "learning_rate": 0.1, "l2_leaf_reg": 3.0, "random_strength": 1.0,
            "subsample": 1.0}


def _catboost_portfolio(task):
    base = _catboost_cheap(task)
    return [
        {**base, "n_estimators": 200, "depth": 6, "learning_rate": 0.1, "subsample": 0.8},
        {**base, "n_estimators": 500, "depth": 6, "learning_rate": 0.05, "l2_leaf_reg": 5.0, "subsample": 0.8},
        {**base, "n_estimators": 800, "depth": 8, "learning_rate": 0.03, "l2_leaf_reg": 10.0, "subsample": 0.7},
    ]


def _forest_space(task):
    return S.random_forest(n_estimators=randint(4, 1000, log=True), max_depth=None,
                           min_samples_leaf=randint(1, 32, log=True), max_features=uniform(0.05, 1.0))


def _forest_cheap(task):
    return {"n_estimators": 4, "min_samples_leaf": 1, "max_features": 0.3 if task != "regression" else 0.6}


def _forest_portfolio(task):
    mf = 0.3 if task != "regression" else 0.6
    return [
        {"n_estimators": 100, "min_samples_leaf": 1, "max_features": mf},
        {"n_estimators": 300, "min_samples_leaf": 2, "max_features": 0.15},
        {"n_estimators": 200, "min_samples_leaf": 4, "max_features": 0.8},
    ]


def _hgb_space(task):
    return S.hist_gradient_boosting(max_iter=randint(8, 2000, log=True))


def _hgb_cheap(task):
    return {"max_iter": 8, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20,
            "l2_regularization": 1e-3}


def _hgb_portfolio(task):
    return [
        {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20,
         "l2_regularization": 1e-3},
        {"max_iter": 300, "learning_rate": 0.05, "max_leaf_nodes": 15, "min_samples_leaf": 10,
         "l2_regularization": 0.1},
        {"max_iter": 500, "learning_rate": 0.03, "max_leaf_nodes": 63, "min_samples_leaf": 40,
         "l2_regularization": 1.0},
    ]


def _linear_space(task):
    return S.logistic_regression(C=loguniform(1e-4, 1e4))


def _linear_cheap(task):
    return {"C": 1.0}


def _linear_portfolio(task):
    return [{"C": 0.1}, {"C": 10.0}, {"C": 100.0}, {"C": 0.01}]


def _knn_space(task):
    return S.knn(n_neighbors=randint(1, 100, log=True))


def _knn_cheap(task):
    return {"n_neighbors": 5, "weights": "uniform", "p": 2}


def _knn_portfolio(task):
    return [{"n_neighbors": 15, "weights": "distance", "p": 2}, {"n_neighbors": 30, "weights": "distance", "p": 1},
            {"n_neighbors": 3, "weights": "uniform", "p": 2}]


def _mlp_space(task):
    return S.mlp(epochs=randint(4, 300, log=True), batch_size=choice([32, 64, 128, 256]))


def _mlp_cheap(task):
    return {"hidden": 32, "layers": 1, "dropout": 0.0, "lr": 3e-3, "weight_decay": 1e-6, "batch_size": 64,
            "epochs": 4}


def _mlp_portfolio(task):
    return [
        {"hidden": 128, "layers": 2, "dropout": 0.1, "lr": 1e-3, "weight_decay": 1e-5, "batch_size": 64,
         "epochs": 40},
        {"hidden": 256, "layers": 1, "dropout": 0.2, "lr": 3e-3, "weight_decay": 1e-4, "batch_size": 128,
         "epochs": 30},
        {"hidden": 64, "layers": 3, "dropout": 0.0, "lr": 1e-3, "weight_decay": 1e-6, "batch_size": 32,
         "epochs": 80},
    ]


# -- building and fitting -------------------------------------------------------------------------------------------
@dataclass
class FitContext:
    """What a fit needs besides the configuration."""

    task: str
    n_classes: int
    categorical: list[int]  # per column of the matrix: its number of codes, 0 for a numeric column
    n_jobs: int = 1
    seed: int = 0


def _class_weight(config) -> Any:
    return config.get("class_weight")


def _sample_weight(y: np.ndarray, config) -> np.ndarray | None:
    if config.get("class_weight") != "balanced":
        return None
    counts = np.bincount(y)
    weights = len(y) / (len(counts) * np.maximum(counts, 1))
    return weights[y]


def _fit_lgbm(config, X, y, ctx: FitContext, deadline):
    import lightgbm as lgb

    cls = lgb.LGBMRegressor if ctx.task == "regression" else lgb.LGBMClassifier
    kw = {} if ctx.task == "regression" else {"class_weight": _class_weight(config)}
    model = cls(n_estimators=int(config["n_estimators"]), num_leaves=int(config["num_leaves"]),
                learning_rate=config["learning_rate"], min_child_samples=int(config["min_child_samples"]),
                colsample_bytree=config["feature_fraction"], subsample=config["bagging_fraction"],
                subsample_freq=int(config.get("bagging_freq", 1)), reg_alpha=config["lambda_l1"],
                reg_lambda=config["lambda_l2"], n_jobs=ctx.n_jobs, random_state=ctx.seed, verbose=-1,
                max_cat_to_onehot=8, **kw)

    def stop_at_deadline(env):
        _check(deadline)

    cat = [j for j, k in enumerate(ctx.categorical) if k]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, categorical_feature=cat or "auto", callbacks=[stop_at_deadline])
    return model


def _fit_xgb(config, X, y, ctx: FitContext, deadline):
    import xgboost as xgb

    class Deadline(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            _check(deadline)
            return False

    cls = xgb.XGBRegressor if ctx.task == "regression" else xgb.XGBClassifier
    model = cls(n_estimators=int(config["n_estimators"]), max_depth=int(config["max_depth"]),
                learning_rate=config["learning_rate"], subsample=config["subsample"],
                colsample_bytree=config["colsample_bytree"], min_child_weight=config["min_child_weight"],
                reg_alpha=config["reg_alpha"], reg_lambda=config["reg_lambda"], tree_method="hist",
                n_jobs=ctx.n_jobs, random_state=ctx.seed, callbacks=[Deadline()], verbosity=0)
    weight, present = None, None
    if ctx.task != "regression":
        weight = _sample_weight(y, config)
        present = np.unique(y)
        if not np.array_equal(present, np.arange(len(present))):  # XGBoost wants the labels 0..k-1
            y = np.searchsorted(present, y)
    model.fit(X, y, sample_weight=weight, verbose=False)
    model.set_params(callbacks=None)  # (not part of the saved model)
    if present is not None and not np.array_equal(present, np.arange(len(present))):
        model.classes_ = present  # the probabilities' columns are these classes (predict_matrix places them)
    return model


def _fit_catboost(config, X, y, ctx: FitContext, deadline):
    from autotune.automl._catboost import CatBoostModel

    _check(deadline)
    model = CatBoostModel(task=ctx.task, categorical=[j for j, k in enumerate(ctx.categorical) if k],
                          n_estimators=int(config["n_estimators"]), depth=int(config["depth"]),
                          learning_rate=float(config["learning_rate"]), l2_leaf_reg=float(config["l2_leaf_reg"]),
                          random_strength=float(config["random_strength"]),
                          bootstrap_type=config.get("bootstrap_type", "Bernoulli"),
                          subsample=float(config["subsample"]), class_weight=_class_weight(config),
                          threads=ctx.n_jobs, seed=ctx.seed)
    return model.fit(X, y, deadline=deadline)


def _fit_forest(config, X, y, ctx: FitContext, deadline, extra: bool):
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.pipeline import Pipeline

    if ctx.task == "regression":
        cls = ExtraTreesRegressor if extra else RandomForestRegressor
        kw = {}
    else:
        cls = ExtraTreesClassifier if extra else RandomForestClassifier
        kw = {"class_weight": _class_weight(config)}
    imputer = OutOfRangeImputer().fit(X)
    Xi = imputer.transform(X)
    total = int(config["n_estimators"])
    model = cls(n_estimators=0, max_features=float(config["max_features"]),
                min_samples_leaf=int(config["min_samples_leaf"]), n_jobs=ctx.n_jobs, random_state=ctx.seed,
                warm_start=True, **kw)
    _grow(model, "n_estimators", total, max(4, ctx.n_jobs * 2), 64, Xi, y, deadline)
    return Pipeline([("impute", imputer), ("model", model)])


def _fit_hgb(config, X, y, ctx: FitContext, deadline):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    mask = np.array([k > 0 for k in ctx.categorical])
    kw = {} if ctx.task == "regression" else {"class_weight": _class_weight(config)}
    cls = HistGradientBoostingRegressor if ctx.task == "regression" else HistGradientBoostingClassifier
    model = cls(max_iter=1, learning_rate=config["learning_rate"], max_leaf_nodes=int(config["max_leaf_nodes"]),
                min_samples_leaf=int(config["min_samples_leaf"]), l2_regularization=config["l2_regularization"],
                categorical_features=mask if mask.any() else None, early_stopping=False, warm_start=True,
                random_state=ctx.seed, **kw)
    _grow(model, "max_iter", int(config["max_iter"]), 8, 128, X, y, deadline)
    return model


def _grow(model, size: str, total: int, chunk: int, most: int, X, y, deadline) -> None:
    """Fit a warm-started ensemble to ``total`` members (trees, iterations) in doubling chunks of at most ``most``,
    checking the trial's deadline before each."""
    grown = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while grown < total:
            _check(deadline)
            grown = min(total, grown + chunk)
            model.set_params(**{size: grown})
            model.fit(X, y)
            chunk = min(chunk * 2, most)
    model.set_params(warm_start=False)


def _fit_linear(config, X, y, ctx: FitContext, deadline):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline

    _check(deadline)
    if ctx.task == "regression":
        model = Ridge(alpha=1.0 / config["C"])
    else:
        model = LogisticRegression(C=config["C"], class_weight=_class_weight(config), max_iter=300)
    pipe = Pipeline([("encode", LinearEncoder(categorical=list(ctx.categorical))), ("model", model)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    return pipe


def _fit_knn(config, X, y, ctx: FitContext, deadline):
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import Pipeline

    _check(deadline)
    cls = KNeighborsRegressor if ctx.task == "regression" else KNeighborsClassifier
    k = max(1, min(int(config["n_neighbors"]), len(X) - 1 if len(X) > 1 else 1))
    model = cls(n_neighbors=k, weights=config["weights"], p=int(config["p"]), n_jobs=ctx.n_jobs)
    pipe = Pipeline([("encode", LinearEncoder(categorical=list(ctx.categorical))), ("model", model)])
    pipe.fit(X, y)
    return pipe


def _fit_mlp(config, X, y, ctx: FitContext, deadline):
    from sklearn.pipeline import Pipeline

    from autotune.automl._mlp import TorchMLP

    _check(deadline)
    model = TorchMLP(task=ctx.task, hidden=int(config["hidden"]), layers=int(config["layers"]),
                     dropout=float(config["dropout"]), lr=float(config["lr"]),
                     weight_decay=float(config["weight_decay"]), batch_size=int(config["batch_size"]),
                     epochs=int(config["epochs"]), class_weight=_class_weight(config), threads=ctx.n_jobs,
                     seed=ctx.seed)
    pipe = Pipeline([("encode", LinearEncoder(categorical=list(ctx.categorical))), ("model", model)])
    pipe.fit(X, y, model__deadline=deadline)
    return pipe


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("lgbm", "LightGBM", "n_estimators", space_fn=_lgbm_space, cheap_fn=_lgbm_cheap,
           portfolio_fn=_lgbm_portfolio, build_fn=_fit_lgbm, requires="lightgbm", aliases=("lightgbm",)),
    Family("linear", "logistic / ridge regression", None, cost_factor=1.0, space_fn=_linear_space,
           cheap_fn=_linear_cheap, portfolio_fn=_linear_portfolio, build_fn=_fit_linear,
           aliases=("lr", "logistic", "lrl2", "ridge")),
    Family("hgb", "histogram gradient boosting", "max_iter", cost_factor=2.0, space_fn=_hgb_space,
           cheap_fn=_hgb_cheap, portfolio_fn=_hgb_portfolio, build_fn=_fit_hgb,
           aliases=("histgb", "hist_gradient_boosting")),
    Family("rf", "random forest", "n_estimators", cost_factor=2.0, space_fn=_forest_space, cheap_fn=_forest_cheap,
           portfolio_fn=_forest_portfolio, build_fn=lambda *a: _fit_forest(*a, extra=False),
           aliases=("random_forest",)),
    Family("extra_trees", "extra trees", "n_estimators", cost_factor=1.5, space_fn=_forest_space,
           cheap_fn=_forest_cheap, portfolio_fn=_forest_portfolio, build_fn=lambda *a: _fit_forest(*a, extra=True),
           aliases=("extra_tree", "et")),
    Family("xgboost", "XGBoost", "n_estimators", cost_factor=2.0, requires="xgboost", space_fn=_xgb_space,
           cheap_fn=_xgb_cheap, portfolio_fn=_xgb_portfolio, build_fn=_fit_xgb, aliases=("xgb",)),
    Family("catboost", "CatBoost", "n_estimators", cost_factor=2.0, requires="catboost", space_fn=_catboost_space,
           cheap_fn=_catboost_cheap, portfolio_fn=_catboost_portfolio, build_fn=_fit_catboost, aliases=("cb",)),
    Family("knn", "k nearest neighbours", None, cost_factor=2.0, space_fn=_knn_space, cheap_fn=_knn_cheap,
           portfolio_fn=_knn_portfolio, build_fn=_fit_knn, aliases=("kneighbor", "kneighbors")),
    Family("mlp", "PyTorch MLP", "epochs", cost_factor=3.0, requires="torch", space_fn=_mlp_space,
           cheap_fn=_mlp_cheap, portfolio_fn=_mlp_portfolio, build_fn=_fit_mlp, aliases=("torch", "nn", "mlp_torch")),
]}
ENSEMBLE = "ensemble"  # the branch of the study's space that the final ensemble's trial takes
KNN_MAX_ROWS = 50_000  # past this, k-NN is left out of the default families (its predictions cost too much)


def resolve_estimators(names: list[str] | None, n_rows: int | None = None) -> tuple[list[str], list[str]]:
    """The families to search, and notes on the ones left out. ``None``: every available family (k-NN only up to
    ``KNN_MAX_ROWS`` rows). Unknown names and families whose package is missing are refused, listing the valid
    ones."""
    from autotune.errors import ConfigError

    notes = []
    if names is None:
        chosen = [f.name for f in FAMILIES.values() if f.available()]
        if n_rows is not None and n_rows > KNN_MAX_ROWS and "knn" in chosen:
            chosen.remove("knn")
            notes.append(f"knn left out: {n_rows:,} rows make its predictions slow (name it in --estimators to "
                         "include it)")
        missing = [f.name for f in FAMILIES.values() if not f.available()]
        if missing:
            notes.append(f"{', '.join(missing)} left out: not installed (pip install "
                         f"{' '.join(FAMILIES[m].requires for m in missing)})")
        return chosen, notes
    by_alias = {a: f.name for f in FAMILIES.values() for a in (f.name, *f.aliases)}
    chosen = []
    for name in names:
        key = name.strip().lower()
        if key not in by_alias:
            raise ConfigError(f"unknown estimator {name!r}; choose from: {', '.join(FAMILIES)}.")
        fam = FAMILIES[by_alias[key]]
        if not fam.available():
            raise ConfigError(f"estimator {fam.name!r} needs the {fam.requires} package, which is not installed: "
                              f"pip install {fam.requires}.")
        if fam.name not in chosen:
            chosen.append(fam.name)
    if not chosen:
        raise ConfigError(f"--estimators names no estimator; choose from: {', '.join(FAMILIES)}.")
    return chosen, notes


def study_space(task: str, fixed_values: dict[str, Any]) -> dict[str, Any]:
    """The study's space: a choice over every family (those not installed too, so that the space does not change
    when one is installed later) and the ensemble, plus the study's fixed facts (task, target, data...)."""
    branches = {name: fam.space(task) for name, fam in FAMILIES.items()}
    branches[ENSEMBLE] = {}
    return {"estimator": choice(branches), **{k: fixed(v) for k, v in fixed_values.items()}}


def fit_family(name: str, config: dict[str, Any], X: np.ndarray, y: np.ndarray, ctx: FitContext,
               deadline: float | None = None):
    """A fitted model of family ``name``; raises OutOfTime past ``deadline`` (a ``time.time()``)."""
    return FAMILIES[name].build_fn(config, X, y, ctx, deadline)


def predict_matrix(model, X: np.ndarray, task: str, n_classes: int, deadline: float | None = None,
                   chunk: int = 20_000) -> np.ndarray:
    """Predictions in the task's form: class probabilities ``(n, n_classes)`` (columns for every class, also those
    the model never saw), or values ``(n,)``; in chunks, checking the deadline between them."""
    outs = []
    for start in range(0, max(len(X), 1), chunk):
        _check(deadline)
        part = X[start:start + chunk]
        if task == "regression":
            outs.append(np.asarray(model.predict(part), dtype=np.float64).reshape(-1))
        else:
            proba = np.asarray(model.predict_proba(part), dtype=np.float64)
            seen = np.asarray(_classes_of(model)).astype(np.int64)
            if proba.shape[1] != n_classes or not np.array_equal(seen, np.arange(n_classes)):
                full = np.zeros((len(part), n_classes))
                full[:, seen] = proba
                proba = full
            outs.append(proba)
    return np.concatenate(outs) if outs else np.zeros((0,) if task == "regression" else (0, n_classes))


def _classes_of(model):
    return model.classes_ if hasattr(model, "classes_") else model[-1].classes_
