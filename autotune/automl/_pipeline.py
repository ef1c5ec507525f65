"""The fitted pipeline an AutoML study keeps: ``TablePrep`` (raw rows -> matrix), one model or a weighted ensemble of
models, and the labels to decode predictions into.

It is stored as the final trial's artifact ``pipeline.skops``, written with ``skops.io``, whose loader builds
objects from a list of trusted types instead of unpickling (which can run any code). :func:`load_pipeline` trusts
exactly the types AutoML writes (:data:`TRUSTED`): an artifact holding any other type is refused unless the caller
passes ``trust=True`` for a database they trust. A LightGBM model inside is its booster's text model, a CatBoost
model the bytes of CatBoost's own binary format.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autotune.errors import AutotuneError

PIPELINE = "pipeline.skops"  # the artifact name of the final trial's pipeline

# Every type (beyond the plain ones skops trusts itself) that the pipelines AutoML builds hold. Loading trusts these
# and refuses anything else.
TRUSTED = (
    "autotune.automl._pipeline.AutoMLPipeline",
    "autotune.automl._data.TablePrep",
    "autotune.automl._families.OutOfRangeImputer",
    "autotune.automl._families.LinearEncoder",
    "autotune.automl._mlp.TorchMLP",
    "autotune.automl._catboost.CatBoostModel",
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBClassifier",
    "xgboost.sklearn.XGBRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    # histogram gradient boosting with categorical columns keeps check_array bound in a partial (skops only
    # builds a partial of a function that is itself trusted: this one)
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
)


class AutoMLPipeline:
    """Raw rows in, predictions out. ``members`` are ``[family, model]`` pairs, ``weights`` their weights (one
    member of weight 1 for a single model); ``classes`` the labels (empty for regression)."""

    def __init__(self, prep, members: list, weights: list[float], task: str, classes: list[Any], target: str,
                 metric: str, trials: list[int] | None = None) -> None:
        self.prep = prep
        self.members = members
        self.weights = [float(w) for w in weights]
        self.task = task
        self.classes = list(classes)
        self.target = target
        self.metric = metric
        self.trials = list(trials or [])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def families(self) -> list[str]:
        return [fam for fam, _ in self.members]

    def describe(self) -> str:
        if len(self.members) == 1:
            return self.members[0][0]
        parts = [f"{fam} x{w:.2f}" for (fam, _), w in zip(self.members, self.weights, strict=True)]
        return "ensemble of " + ", ".join(parts)

    def matrix(self, X) -> np.ndarray:
        return self.prep.transform(X)

    def predict_from_matrix(self, Xm: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, k)`` or values ``(n,)``: the members' weighted mean."""
        from autotune.automl._families import predict_matrix

        total = None
        for (_, model), w in zip(self.members, self.weights, strict=True):
            pred = predict_matrix(model, Xm, self.task, self.n_classes) * w
            total = pred if total is None else total + pred
        return total / sum(self.weights)

    def predict_values(self, X) -> np.ndarray:
        return self.predict_from_matrix(self.matrix(X))

    def predict(self, X) -> np.ndarray:
        values = self.predict_values(X)
        if self.task == "regression":
            return values
        return self.decode(values.argmax(axis=1))

    def predict_proba(self, X) -> np.ndarray:
        if self.task == "regression":
            raise AttributeError("a regression model has no predict_proba")
        return self.predict_values(X)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes, dtype=_label_dtype(self.classes))[codes]

    def __repr__(self) -> str:
        return f"AutoMLPipeline({self.describe()}, task={self.task!r}, target={self.target!r})"


def _label_dtype(classes: list[Any]):
    return object if any(isinstance(c, str) for c in classes) and not all(isinstance(c, str)
                                                                          for c in classes) else None


def _require_skops():
    try:
        import skops.io as sio
    except ImportError:
        raise AutotuneError("AutoML saves its pipelines with skops (a format that loads without unpickling): "
                            "pip install skops (or, in the autotune checkout, pip install -e '.[automl]').") from None
    return sio


def dump_pipeline(pipeline: AutoMLPipeline) -> bytes:
    sio = _require_skops()
    return sio.dumps(pipeline)


def load_pipeline(data: bytes, *, trust: bool = False, where: str = "the study") -> AutoMLPipeline:
    """A pipeline from its skops bytes, trusting only :data:`TRUSTED` types (any type with ``trust=True``)."""
    sio = _require_skops()
    untrusted = sio.get_untrusted_types(data=data)
    unknown = [t for t in untrusted if t not in TRUSTED]
    if unknown and not trust:
        raise AutotuneError(f"the pipeline in {where} holds types autotune does not write ({', '.join(unknown)}); "
                            "loading them could run code put there by anyone able to write to the database. Pass "
                            "trust=True (autotune predict --trust) only if you trust it.")
    pipeline = sio.loads(data, trusted=list(untrusted))
    if not isinstance(pipeline, AutoMLPipeline):
        raise AutotuneError(f"the artifact {PIPELINE} in {where} is not an AutoML pipeline "
                            f"({type(pipeline).__name__}).")
    return pipeline
