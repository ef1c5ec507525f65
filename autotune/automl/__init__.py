"""AutoML: a table and a time budget in, the best fitted pipeline out.

``AutoML`` is a scikit-learn estimator; ``automl(X, y, ...)`` the one-call form; ``autotune automl DATA --target
COL`` and ``autotune predict NAME DATA`` the commands. A run is a study like any other -- its space a choice over
model families -- so it persists, resumes with more time, and runs with several workers or on Ray.
"""

from autotune.automl._estimator import AutoML, automl
from autotune.automl._families import FAMILIES
from autotune.automl._metrics import METRICS

__all__ = ["FAMILIES", "METRICS", "AutoML", "automl"]


class _CallableModule(__import__("types").ModuleType):
    """``at.automl`` is this package and the one-call form at once: ``at.automl(X, y, time_budget="1m")``."""

    def __call__(self, X, y, **kwargs) -> AutoML:
        return automl(X, y, **kwargs)


__import__("sys").modules[__name__].__class__ = _CallableModule
