"""The metrics an AutoML study can optimise: what each needs (labels or probabilities), its direction, the tasks it
fits, and how it is computed from a model's predictions.

Predictions are kept in one form per task: for classification the probability of each class (an ``(n, k)``
array, columns in the order of the encoded labels), for regression the predicted values (an ``(n,)`` array).
Every metric is computed from that form, so that out-of-fold predictions of different models can be averaged
(ensemble selection) and scored alike.

>>> import numpy as np
>>> METRICS["accuracy"].score(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
0.6666666666666666
>>> METRICS["rmse"].mode, METRICS["r2"].mode
('min', 'max')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from autotune.errors import ConfigError

CLASSIFICATION = ("binary", "multiclass")
TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Metric:
    name: str
    mode: str  # "min" or "max"
    tasks: tuple[str, ...]
    fn: Callable[[np.ndarray, np.ndarray], float]  # (encoded truth, predictions in the task's form) -> value
    what: str

    def score(self, y: np.ndarray, pred: np.ndarray) -> float:
        return float(self.fn(y, pred))

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` beats ``b``."""
        return a < b if self.mode == "min" else a > b

    def sign(self) -> float:
        """Multiply a value by this to get a loss (lower is better)."""
        return 1.0 if self.mode == "min" else -1.0


def _labels(pred: np.ndarray) -> np.ndarray:
    return np.asarray(pred).argmax(axis=1)


def _accuracy(y, pred):
    return float(np.mean(_labels(pred) == y))


def _balanced_accuracy(y, pred):
    from sklearn.metrics import balanced_accuracy_score

    return balanced_accuracy_score(y, _labels(pred))


def _log_loss(y, pred):
    p = np.clip(np.asarray(pred, dtype=np.float64), 1e-15, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def _binary_auc(y, score) -> float:
    """The area under the ROC curve of ``score`` for ``y == 1`` (Mann-Whitney, ties counted half)."""
    from scipy.stats import rankdata

    pos = y == 1
    n_pos = int(pos.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc needs both classes among the validation rows")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _roc_auc(y, pred):
    from sklearn.metrics import roc_auc_score

    pred = np.asarray(pred, dtype=np.float64)
    if pred.shape[1] == 2:
        return _binary_auc(np.asarray(y), pred[:, 1])
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError("roc_auc needs at least two classes among the validation rows")
    p = pred[:, present]
    p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-15, None)
    return roc_auc_score(np.searchsorted(present, y), p, multi_class="ovr", average="macro",
                         labels=np.arange(len(present)))


def _f1(y, pred):
    from sklearn.metrics import f1_score

    return f1_score(y, _labels(pred), pos_label=1, average="binary", zero_division=0.0)


def _macro_f1(y, pred):
    from sklearn.metrics import f1_score

    return f1_score(y, _labels(pred), average="macro", zero_division=0.0)


def _mse(y, pred):
    return float(np.mean((np.asarray(pred, dtype=np.float64) - y) ** 2))


def _rmse(y, pred):
    return float(np.sqrt(_mse(y, pred)))


def _mae(y, pred):
    return float(np.mean(np.abs(np.asarray(pred, dtype=np.float64) - y)))


def _r2(y, pred):
    total = float(np.sum((y - np.mean(y)) ** 2))
    residual = float(np.sum((y - np.asarray(pred, dtype=np.float64)) ** 2))
    return 1.0 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0)


def _mape(y, pred):
    return float(np.mean(np.abs(np.asarray(pred, dtype=np.float64) - y) / np.maximum(np.abs(y), 1e-12)))


_ALL = [
    Metric("accuracy", "max", CLASSIFICATION, _accuracy, "share of rows classified right"),
    Metric("balanced_accuracy", "max", CLASSIFICATION, _balanced_accuracy, "mean recall over the classes"),
    Metric("log_loss", "min", CLASSIFICATION, _log_loss, "cross-entropy of the predicted probabilities"),
    Metric("roc_auc", "max", CLASSIFICATION, _roc_auc, "area under the ROC curve (one-vs-rest for multiclass)"),
    Metric("f1", "max", ("binary",), _f1, "F1 of the second class (binary)"),
    Metric("macro_f1", "max", CLASSIFICATION, _macro_f1, "F1 averaged over the classes"),
    Metric("rmse", "min", ("regression",), _rmse, "root mean squared error"),
    Metric("mse", "min", ("regression",), _mse, "mean squared error"),
    Metric("mae", "min", ("regression",), _mae, "mean absolute error"),
    Metric("r2", "max", ("regression",), _r2, "coefficient of determination"),
    Metric("mape", "min", ("regression",), _mape, "mean absolute percentage error"),
]
METRICS: dict[str, Metric] = {m.name: m for m in _ALL}
# what "auto" stands for, per task (FLAML's defaults, so that the two compare like for like)
DEFAULT = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "r2"}


def check_metric_name(name: str) -> None:
    """Refuse an unknown metric name (before any data is read), listing the valid ones."""
    if name != "auto" and name not in METRICS:
        raise ConfigError(f"unknown metric {name!r}; choose auto or one of: {', '.join(METRICS)} "
                          "(classification: accuracy, balanced_accuracy, log_loss, roc_auc, f1, macro_f1; "
                          "regression: rmse, mse, mae, r2, mape).")


def resolve_metric(name: str, task: str) -> Metric:
    """The metric for ``task``; ``auto`` picks the task's default. A metric of another task is refused."""
    check_metric_name(name)
    if name == "auto":
        return METRICS[DEFAULT[task]]
    metric = METRICS[name]
    if task not in metric.tasks:
        fits = [m.name for m in _ALL if task in m.tasks]
        kind = "classification" if task in CLASSIFICATION else "regression"
        raise ConfigError(f"metric {name!r} does not fit this {task} task ({kind}); use one of: {', '.join(fits)} "
                          "(or --task to say what the target is).")
    return metric
