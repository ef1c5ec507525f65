"""Search spaces: ``uniform``, ``loguniform``, ``randint`` (inclusive), ``choice`` (values or sub-spaces), ``fixed``;
and ready spaces for common models (``lightgbm()``, ``xgboost()``, ``catboost()``, ``mlp()``, ``svm()``,
``random_forest()``, ...)."""

from autotune.spaces._diff import space_change
from autotune.spaces._domains import (
    Categorical,
    Domain,
    Fixed,
    Float,
    Int,
    fixed,
    loguniform,
    randint,
    uniform,
)
from autotune.spaces._ready import (
    catboost,
    hist_gradient_boosting,
    knn,
    lightgbm,
    logistic_regression,
    mlp,
    random_forest,
    svm,
    xgboost,
)
from autotune.spaces._space import Conditional, Space, choice

__all__ = ["Categorical", "Conditional", "Domain", "Fixed", "Float", "Int", "Space", "catboost", "choice", "fixed",
           "hist_gradient_boosting", "knn", "lightgbm", "logistic_regression", "loguniform", "mlp", "randint",
           "random_forest", "space_change", "svm", "uniform", "xgboost"]
