"""autotune: hyperparameter search that persists every trial, resumes anywhere and runs the same study file on
a laptop or a cluster. Declare a space and an objective, then ``Study(...).run()`` or ``autotune run study.py``.
"""

from autotune import callbacks, spaces
from autotune.errors import AutotuneError, TrialPaused, TrialPruned
from autotune.objectives import Trial
from autotune.spaces import Space, choice, fixed, loguniform, randint, uniform
from autotune.study import Study

__version__ = "0.1.0"

__all__ = ["AutoML", "AutotuneError", "Result", "Space", "Study", "Trial", "TrialPaused", "TrialPruned", "TrialRecord",
           "automl", "callbacks", "choice", "fixed", "load_study", "loguniform", "randint", "spaces", "uniform"]

_LAZY = {"Result", "TrialRecord", "load_study"}  # they pull in SQLAlchemy; worker processes never need them


def __getattr__(name: str):
    if name in ("AutoML", "automl"):  # scikit-learn and LightGBM load only when AutoML is used
        import importlib

        module = importlib.import_module("autotune.automl")  # (callable: at.automl(X, y) fits)
        return module if name == "automl" else module.AutoML
    if name in _LAZY:
        from autotune import result

        return getattr(result, name)
    raise AttributeError(f"module 'autotune' has no attribute {name!r}")
