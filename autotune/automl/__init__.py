"""AutoML: a table and a time budget in, the best fitted pipeline out.

``AutoML`` is a scikit-learn estimator; ``automl(X, y, ...)`` the one-call form (``at.automl(X, y)`` calls it);
``autotune automl DATA --target COL`` and ``autotune predict NAME DATA`` the commands. A run is a study like any
other -- its space a choice over model families -- so it persists, resumes with more time, and runs with several
workers or on Ray.
"""

import sys
import types

__all__ = ["FAMILIES", "METRICS", "AutoML", "add_parsers", "automl", "leaderboard"]

_HOMES = {"AutoML": "_estimator", "automl": "_estimator", "FAMILIES": "_families", "METRICS": "_metrics",
          "add_parsers": "_cli", "leaderboard": "_run"}


def __getattr__(name: str):  # scikit-learn loads when AutoML is used, not when the CLI starts
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"autotune.automl.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'autotune.automl' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """``at.automl`` is this package and the one-call form at once: ``at.automl(X, y, time_budget="1m")``."""

    def __call__(self, X, y, **kwargs):
        from autotune.automl._estimator import automl

        return automl(X, y, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
