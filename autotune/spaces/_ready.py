"""Ready search spaces for the models users tune most, to be overridden key by key:

>>> space = lightgbm(num_leaves=randint(4, 64), bagging_freq=None)   # None drops a key
>>> "bagging_freq" in space, space["num_leaves"]
(False, randint(4, 64))
"""

from __future__ import annotations

from typing import Any

from autotune.spaces._domains import Domain, fixed, loguniform, randint, uniform
from autotune.spaces._space import choice


def _merge(base: dict[str, Domain], overrides: dict[str, Any]) -> dict[str, Domain]:
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value if isinstance(value, Domain) else fixed(value)
    return out


def lightgbm(**overrides: Any) -> dict[str, Domain]:
    """LightGBM's usual knobs (the number of rounds is left to early stopping)."""
    return _merge({
        "learning_rate": loguniform(0.01, 0.3),
        "num_leaves": randint(8, 256, log=True),
        "min_child_samples": randint(5, 100, log=True),
        "feature_fraction": uniform(0.4, 1.0),
        "bagging_fraction": uniform(0.4, 1.0),
        "bagging_freq": fixed(1),
        "lambda_l1": loguniform(1e-8, 10.0),
        "lambda_l2": loguniform(1e-8, 10.0),
    }, overrides)


def xgboost(**overrides: Any) -> dict[str, Domain]:
    """XGBoost's usual knobs, depth-wise trees (the number of rounds is left to the caller)."""
    return _merge({
        "max_depth": randint(2, 12),
        "learning_rate": loguniform(0.005, 0.5),
        "subsample": uniform(0.5, 1.0),
        "colsample_bytree": uniform(0.3, 1.0),
        "min_child_weight": loguniform(0.1, 100.0),
        "reg_alpha": loguniform(1e-3, 100.0),
        "reg_lambda": loguniform(1e-3, 100.0),
    }, overrides)


def catboost(**overrides: Any) -> dict[str, Domain]:
    """CatBoost's usual knobs (the number of iterations is left to the caller): the depth of its symmetric trees
    (4 to 10), the learning rate, the L2 penalty on leaf values, ``random_strength`` (the noise added to split
    scores, against overfitting) and ``subsample``, the share of rows each tree sees under the Bernoulli bootstrap
    (``bootstrap_type`` is fixed to it: ``bagging_temperature`` only applies to the Bayesian one)."""
    return _merge({
        "depth": randint(4, 10),
        "learning_rate": loguniform(0.01, 0.3),
        "l2_leaf_reg": loguniform(1.0, 30.0),
        "random_strength": loguniform(0.01, 10.0),
        "bootstrap_type": fixed("Bernoulli"),
        "subsample": uniform(0.5, 1.0),
    }, overrides)


def hist_gradient_boosting(**overrides: Any) -> dict[str, Domain]:
    """scikit-learn's HistGradientBoostingClassifier / Regressor."""
    return _merge({
        "learning_rate": loguniform(0.01, 0.5),
        "max_leaf_nodes": randint(4, 256, log=True),
        "min_samples_leaf": randint(2, 128, log=True),
        "l2_regularization": loguniform(1e-3, 10.0),
    }, overrides)


def mlp(**overrides: Any) -> dict[str, Domain]:
    """A multi-layer perceptron trained with Adam (for ``objectives.torch``)."""
    return _merge({
        "hidden": randint(16, 512, log=True),
        "layers": randint(1, 3),
        "dropout": uniform(0.0, 0.5),
        "lr": loguniform(1e-4, 3e-2),
        "weight_decay": loguniform(1e-7, 1e-2),
        "batch_size": choice([32, 64, 128]),
    }, overrides)


def svm(**overrides: Any) -> dict[str, Domain]:
    """scikit-learn's SVC with an RBF kernel."""
    return _merge({"C": loguniform(1e-2, 1e3), "gamma": loguniform(1e-5, 1.0)}, overrides)


def random_forest(**overrides: Any) -> dict[str, Domain]:
    """scikit-learn's RandomForestClassifier / Regressor."""
    return _merge({
        "n_estimators": randint(20, 300, log=True),
        "max_depth": randint(2, 32, log=True),
        "min_samples_leaf": randint(1, 20, log=True),
        "max_features": uniform(0.1, 1.0),
    }, overrides)


def logistic_regression(**overrides: Any) -> dict[str, Domain]:
    """scikit-learn's LogisticRegression (L2)."""
    return _merge({"C": loguniform(1e-4, 1e3)}, overrides)


def knn(**overrides: Any) -> dict[str, Domain]:
    """scikit-learn's KNeighborsClassifier / Regressor."""
    return _merge({"n_neighbors": randint(1, 50, log=True), "weights": choice(["uniform", "distance"]),
                   "p": randint(1, 2)}, overrides)
