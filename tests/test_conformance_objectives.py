"""One suite for every ready objective (``autotune.objectives._base.ReadyObjective``): torch, lightgbm and
sklearn, each on a small classification problem. Each reports the study's metric (and refuses a study whose metric
it does not compute), continues a paused trial from where it stopped and ends it as an uninterrupted one,
forgets what it kept for a paused trial when told, and saves a model that loads back and predicts."""

import os
import warnings

import numpy as np
import pytest

import autotune as at
from autotune.errors import ConfigError
from autotune.objectives import PAUSE, Trial, run_objective
from autotune.objectives._base import ReadyObjective

KINDS = ("torch", "lightgbm", "sklearn")


def _data():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=240, n_features=8, n_informative=4, random_state=0)
    return X.astype(np.float32), y


class Kind:
    """How to build one ready objective, the configuration and space to run it with, the two metrics (with
    their modes) it can report, and how to load its model back and predict."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.X, self.y = _data()
        self.torch = None
        if name == "torch":
            import torch

            self.torch = torch
            self.config = {"lr": 0.01, "batch_size": 32}
            self.metrics = [("val_loss", "min"), ("accuracy", "max")]
        elif name == "lightgbm":
            self.config = {"learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 5}
            self.metrics = [("binary_logloss", "min"), ("auc", "max")]
        else:
            self.config = {"C": 0.5}
            self.metrics = [("accuracy", "max"), ("roc_auc", "max")]

    def _model(self, config):
        torch = self.torch
        return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

    def make(self) -> ReadyObjective:
        if self.name == "torch":
            from autotune.objectives.torch import torch_objective

            X, y = self.torch.tensor(self.X), self.torch.tensor(self.y)
            return torch_objective(self._model, (X[:180], y[:180]), (X[180:], y[180:]), epochs=4)
        if self.name == "lightgbm":
            from autotune.objectives.lightgbm import lightgbm_objective

            return lightgbm_objective(self.X, self.y, task="binary", num_boost_round=30, early_stopping_rounds=30,
                                      report_every=5)
        from sklearn.linear_model import LogisticRegression

        from autotune.objectives.sklearn import sklearn_objective

        return sklearn_objective(LogisticRegression(max_iter=500), self.X, self.y, cv=3)

    def space(self) -> dict:
        space = {k: at.fixed(v) for k, v in self.config.items()}
        first = next(iter(self.config))  # (a float)
        space[first] = at.uniform(self.config[first] / 2, self.config[first] * 2)  # trials that differ
        return space

    def predict(self, result: at.Result, artifact: str) -> np.ndarray:
        path = result.best_artifact(artifact)
        if self.name == "torch":
            model = self._model(result.best_params)
            model.load_state_dict(self.torch.load(path, weights_only=True))
            return model(self.torch.tensor(self.X)).argmax(1).numpy()
        if self.name == "lightgbm":
            import lightgbm

            return lightgbm.Booster(model_file=path).predict(self.X)
        return result.load_object(artifact, trust=True).predict(self.X)


@pytest.fixture(params=KINDS)
def kind(request, tmp_path, monkeypatch):
    pytest.importorskip(request.param)
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)  # checkpoints go to ./.autotune/checkpoints, here
    return Kind(request.param)


class Channel:
    """Where a trial driven by hand reports: records the reports, answers PAUSE at report number ``pause_at``."""

    def __init__(self, pause_at: int | None = None) -> None:
        self.pause_at, self.reports, self.artifacts = pause_at, [], {}

    def report(self, step, value):
        self.reports.append((step, value))
        return PAUSE if len(self.reports) == self.pause_at else False

    def artifact(self, name, data):
        self.artifacts[name] = data


def _kept(folder=".autotune") -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files]


def _drive(objective, config, metric, channel, reports=None):
    trial = Trial(0, dict(config), channel, study_name="s", attempt=1 if reports else 0, reports=reports)
    return run_objective(objective, trial, [metric])


def test_it_is_declared_a_ready_objective(kind):
    objective = kind.make()
    assert isinstance(objective, ReadyObjective)
    assert callable(objective.forget) and objective.artifact


def test_it_reports_the_study_s_metric_in_the_study_s_direction(kind, tmp_path):
    curves = {}
    for metric, mode in kind.metrics:
        study = at.Study(name=metric, space=kind.space(), objective=kind.make(), metric=metric, mode=mode,
                         sampler="random", seed=0, n_trials=2)
        result = study.run(storage=f"sqlite:///{tmp_path / 'm.db'}")
        assert result.counts == {"COMPLETE": 2}
        for t in result.trials:
            assert t.intermediate and t.value == t.metrics[metric]
            if mode == "max":  # accuracy, AUC: a fraction
                assert all(0 <= v <= 1 for _, v in t.intermediate)
        curves[metric] = [[v for _, v in t.intermediate] for t in sorted(result.trials, key=lambda t: t.number)]
    assert curves[kind.metrics[0][0]] != curves[kind.metrics[1][0]], "the same curve for two metrics"
    (metric, mode), _ = kind.metrics
    with pytest.raises(ConfigError, match="mode="):  # the metric's own direction, or the study is refused
        at.Study(name="x", space=kind.space(), objective=kind.make(), metric=metric, mode={"min": "max",
                                                                                          "max": "min"}[mode])
    with pytest.raises(ConfigError, match="'no_such_metric'"):
        at.Study(name="x", space=kind.space(), objective=kind.make(), metric="no_such_metric", mode=mode)


def test_a_paused_trial_goes_on_from_where_it_stopped_and_ends_as_an_uninterrupted_one(kind):
    objective, metric = kind.make(), kind.metrics[0][0]
    whole = Channel()
    uninterrupted = _drive(objective, kind.config, metric, whole)
    assert uninterrupted.state == "COMPLETE" and len(whole.reports) >= 3
    first = Channel(pause_at=2)
    assert _drive(objective, kind.config, metric, first).state == "PAUSED"
    assert bool(_kept()) == (kind.name != "sklearn"), "a paused trial kept no checkpoint to continue from"
    rest = Channel()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        continued = _drive(objective, kind.config, metric, rest, reports=[list(r) for r in first.reports])
    assert not [w for w in caught if "trains from the start" in str(w.message)]
    assert continued.state == "COMPLETE"
    assert [s for s, _ in first.reports + rest.reports] == [s for s, _ in whole.reports]  # no step twice, none left
    assert [v for _, v in first.reports + rest.reports] == pytest.approx([v for _, v in whole.reports], rel=1e-6)
    assert continued.values == pytest.approx(uninterrupted.values, rel=1e-6)
    assert set(rest.artifacts) == set(whole.artifacts) == {objective.artifact}
    assert not _kept(), "a finished trial left its checkpoint"


def test_forget_drops_what_a_paused_trial_kept(kind):
    objective, metric = kind.make(), kind.metrics[0][0]
    uninterrupted = _drive(objective, kind.config, metric, Channel())
    first = Channel(pause_at=2)
    assert _drive(objective, kind.config, metric, first).state == "PAUSED"
    kept = _kept()  # torch and lightgbm keep a checkpoint; sklearn keeps none (its reports hold its folds' scores)
    assert bool(kept) == (kind.name != "sklearn"), kept
    objective.forget("s", dict(kind.config))
    assert not _kept()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = _drive(objective, kind.config, metric, Channel(), reports=[list(r) for r in first.reports])
    starts_over = [w for w in caught if "trains from the start" in str(w.message)]
    assert bool(starts_over) == bool(kept)  # said, where there was something to forget
    assert again.state == "COMPLETE" and again.values == pytest.approx(uninterrupted.values, rel=1e-6)


def test_under_the_halving_pruner_trials_pause_continue_and_leave_nothing_behind(kind, tmp_path):
    study = at.Study(name="h", space=kind.space(), objective=kind.make(), metric=kind.metrics[0][0],
                     mode=kind.metrics[0][1], sampler="random", seed=0, n_trials=4, pruner="halving")
    result = study.run(storage=f"sqlite:///{tmp_path / 'h.db'}")
    assert result.counts.get("COMPLETE", 0) >= 1 and set(result.counts) <= {"COMPLETE", "PRUNED"}
    for t in result.trials:
        steps = [s for s, _ in t.intermediate]
        assert steps == sorted(set(steps)), f"trial {t.number} reported a step twice: {steps}"
    assert max(len(t.intermediate) for t in result.trials) > 1  # a trial went on past its first rung
    assert not _kept(), "a checkpoint outlived its trial"


def test_its_model_loads_back_and_predicts(kind, tmp_path):
    objective = kind.make()
    metric, mode = kind.metrics[0]
    result = at.Study(name="a", space=kind.space(), objective=objective, metric=metric, mode=mode,
                      sampler="random", seed=0, n_trials=2).run(storage=f"sqlite:///{tmp_path / 'a.db'}")
    predictions = np.asarray(kind.predict(result, objective.artifact))
    assert predictions.shape == (len(kind.y),)
    hits = np.mean((predictions > 0.5) == kind.y) if kind.name == "lightgbm" else np.mean(predictions == kind.y)
    assert hits > 0.7, hits  # a trained model, not an empty one
