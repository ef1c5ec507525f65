"""The AutoML objective: one trial validates one configuration of one family -- k-fold cross-validation or a
holdout, with the same rows for every trial -- and keeps its out-of-fold (or holdout) predictions as the artifact
``oof.npy`` for ensemble selection. In k-fold, the running score is reported after each fold, so that a pruner
can stop a weak configuration after its first folds.

The final trial of a run (``final`` set by the AutoML driver) fits the chosen configuration -- or the chosen
ensemble's members -- on every row and keeps the pipeline as ``pipeline.skops``.

A trial never runs past ``deadline`` (a ``time.time()``): models grow in chunks and check it, and a trial that
reaches it stops as PRUNED.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autotune.automl._families import ENSEMBLE, FitContext, OutOfTime, fit_family, predict_matrix
from autotune.automl._metrics import METRICS
from autotune.automl._pipeline import PIPELINE, AutoMLPipeline, dump_pipeline
from autotune.errors import TrialPruned

OOF = "oof.npy"


@dataclass
class Final:
    """What the final trial fits: ``members`` as ``(family, config, weight, trial number)``; ``value`` is the
    validation score it stands for (the refitted trial's, or the ensemble's out-of-fold score)."""

    members: list[tuple[str, dict[str, Any], float, int]]
    value: float
    config: dict[str, Any] = field(default_factory=dict)  # the configuration its trial runs with
    done: bool = False


def family_config(config: dict[str, Any], fixed: set[str]) -> dict[str, Any]:
    """A trial's configuration without the study's fixed facts (task, target, ...)."""
    return {k: v for k, v in config.items() if k not in fixed}


class AutoMLObjective:
    """``objective(config, trial)`` for an AutoML study over the prepared matrix ``X`` and encoded target ``y``."""

    def __init__(self, X: np.ndarray, y: np.ndarray, *, task: str, classes: list[Any], categorical: list[int],
                 metric: str, splits: list[tuple[np.ndarray, np.ndarray]], prep, target: str, fixed: set[str],
                 n_jobs: int = 1, seed: int = 0, families: list[str] | None = None) -> None:
        self.X, self.y = X, y
        self.families = list(families or [])
        self.task, self.classes, self.metric_name = task, list(classes), metric
        self.splits = splits
        self.prep, self.target, self.fixed = prep, target, set(fixed)
        self.ctx = FitContext(task=task, n_classes=len(classes), categorical=list(categorical), n_jobs=n_jobs,
                              seed=seed)
        self.deadline: float | None = None
        # the best losses (sign-adjusted values) known to this process: a trial keeps its out-of-fold predictions
        # only when it enters them, so that the study holds few (and never drops the final pipeline for them)
        self.top: list[float] = []
        self.keep = 12
        self.final: Final | None = None
        self.final_pipeline: AutoMLPipeline | None = None  # set in this process by the final trial
        self.valid_rows = np.unique(np.concatenate([va for _, va in splits]))

    @property
    def metric(self):
        return METRICS[self.metric_name]

    def __setstate__(self, state) -> None:
        """Unpickled in a worker process (parallelism > 1, Ray): load the model libraries now, while the worker
        starts, so that no trial's measured time holds an import."""
        self.__dict__.update(state)
        warm_imports(self.families)

    def __call__(self, config: dict[str, Any], trial) -> dict[str, Any]:
        family = config["estimator"]
        if self.final is not None and not self.final.done and config == self.final.config:
            return self._fit_final(trial)
        if family == ENSEMBLE:
            raise ValueError("the ensemble is built from the best trials at the end of a run, not searched; this "
                             "trial was queued by hand")
        if self.deadline is not None and time.time() >= self.deadline:
            raise TrialPruned("no time left")
        params = family_config(config, self.fixed | {"estimator"})
        shape = (len(self.y),) if self.task == "regression" else (len(self.y), len(self.classes))
        oof = np.full(shape, np.nan)
        fit_times, seen = [], []
        for k, (tr, va) in enumerate(self.splits):
            started = time.time()
            try:
                model = fit_family(family, params, self.X[tr], self.y[tr], self.ctx, self.deadline)
                fitted = time.time()
                oof[va] = predict_matrix(model, self.X[va], self.task, len(self.classes), self.deadline)
            except OutOfTime:
                raise TrialPruned(f"stopped at the time limit in fold {k + 1}") from None
            fit_times.append(fitted - started)
            seen.append(va)
            if len(self.splits) > 1 and k < len(self.splits) - 1:
                rows = np.concatenate(seen)
                trial.report(self.metric.score(self.y[rows], oof[rows]), step=k)
        rows = self.valid_rows
        value = self.metric.score(self.y[rows], oof[rows])
        loss = self.metric.sign() * value
        if len(self.top) < self.keep or loss < self.top[self.keep - 1]:
            self.top = sorted([*self.top, loss])[:self.keep]
            buf = io.BytesIO()
            np.save(buf, oof[rows].astype(np.float32), allow_pickle=False)
            trial.save_artifact(OOF, buf.getvalue())
        return {self.metric_name: value, "fit_time": float(np.mean(fit_times)),
                "rows_fitted": int(np.mean([len(tr) for tr, _ in self.splits]))}

    def _fit_final(self, trial) -> dict[str, Any]:
        final = self.final
        started = time.time()
        members = []
        for family, params, _, _ in final.members:
            members.append([family, fit_family(family, params, self.X, self.y, self.ctx, None)])
        pipeline = AutoMLPipeline(self.prep, members, [w for _, _, w, _ in final.members], self.task, self.classes,
                                  self.target, self.metric_name, trials=[n for _, _, _, n in final.members])
        fitted = time.time() - started
        trial.save_artifact(PIPELINE, dump_pipeline(pipeline))
        final.done = True
        self.final_pipeline = pipeline
        out = {self.metric_name: final.value, "final": True, "refit_time": fitted, "rows_fitted": len(self.y)}
        if len(final.members) == 1:
            out["refit_of"] = final.members[0][3]
        else:
            out["members"] = ", ".join(f"{n}:{w:.3f}" for _, _, w, n in final.members)
        return out


def caruana_within(preds: list[np.ndarray], y: np.ndarray, metric, costs: list[float], budget: float,
                   deadline: float | None = None) -> tuple[list[float], float]:
    """:func:`caruana` over models whose refits together fit in ``budget`` seconds (``costs``: each model's): when
    the members chosen cost more, the costliest of them is left out and the rest chosen again, until they fit, one
    model is left or ``deadline`` passes. Returns a weight for each of ``preds`` (0: not chosen) and the score."""
    pool = list(range(len(preds)))
    while True:
        found, score = caruana([preds[i] for i in pool], y, metric, deadline=deadline)
        weights = [0.0] * len(preds)
        for i, w in zip(pool, found, strict=True):
            weights[i] = w
        chosen = [i for i in pool if weights[i] > 0]
        if sum(costs[i] for i in chosen) <= budget or len(chosen) < 2 or \
                (deadline is not None and time.time() > deadline):
            return weights, score
        pool.remove(max(chosen, key=lambda i: costs[i]))


def warm_imports(families: list[str]) -> None:
    """Import the libraries of ``families`` (each is imported on first use otherwise)."""
    import importlib

    modules = {"lgbm": ["lightgbm"], "xgboost": ["xgboost"], "rf": ["sklearn.ensemble"],
               "extra_trees": ["sklearn.ensemble"], "hgb": ["sklearn.ensemble"], "knn": ["sklearn.neighbors"],
               "linear": ["sklearn.linear_model"], "mlp": ["torch"], "catboost": ["catboost"]}
    for family in families:
        for module in modules.get(family, []):
            try:
                importlib.import_module(module)
            except ImportError:  # (reported by the trial that needs it)
                pass


def load_oof(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def caruana(preds: list[np.ndarray], y: np.ndarray, metric, rounds: int = 40,
            deadline: float | None = None) -> tuple[list[float], float]:
    """Greedy ensemble selection with replacement (Caruana et al., 2004): start from the best model, then add, one
    at a time, the model whose addition scores best, ``rounds`` times (fewer when ``deadline``, a ``time.time()``,
    comes first); returns the weights of the best ensemble met (counts / their sum) and its score."""
    sign = metric.sign()
    scores = [metric.score(y, p) for p in preds]
    first = int(np.argmin([sign * s for s in scores]))
    counts = np.zeros(len(preds))
    counts[first] = 1
    total = preds[first].astype(np.float64).copy()
    best_counts, best_score = counts.copy(), scores[first]
    for _ in range(rounds - 1):
        if deadline is not None and time.time() > deadline:
            break
        n = counts.sum()
        trial_scores = [metric.score(y, (total + p) / (n + 1)) for p in preds]
        pick = int(np.argmin([sign * s for s in trial_scores]))
        counts[pick] += 1
        total += preds[pick]
        if sign * trial_scores[pick] < sign * best_score - 1e-12:
            best_counts, best_score = counts.copy(), trial_scores[pick]
    weights = best_counts / best_counts.sum()
    return weights.tolist(), float(best_score)
