"""Whatever a ready objective reports is the study's metric, in the study's direction: not told a metric, it
computes the study's; a study whose metric or mode it cannot report is refused before its first trial."""

import json
import os

import pytest

import autotune as at
from tests.conftest import ROOT, cli, dump, write_study

TORCH = """
import torch
from autotune.objectives.torch import torch_objective

torch.manual_seed(0)
X = torch.randn(120, 4)
y = (X[:, 0] + 0.3 * X[:, 1] > 0).long()
objective = torch_objective(lambda c: torch.nn.Linear(4, 2), (X[:80], y[:80]), (X[80:], y[80:]), epochs=3{told})
study = at.Study(name="ready", space={{"lr": at.loguniform(1e-3, 1e-1), "batch_size": at.fixed(16)}},
                 objective=objective, sampler="random", n_trials=2, seed=0{study})
"""

LIGHTGBM = """
from sklearn.datasets import load_breast_cancer
from autotune.objectives.lightgbm import lightgbm_objective

X, y = load_breast_cancer(return_X_y=True)
objective = lightgbm_objective(X, y, num_boost_round=30, report_every=5{told})
study = at.Study(name="ready", space={{"num_leaves": at.randint(4, 16)}}, objective=objective, sampler="random",
                 n_trials=2, seed=0{study})
"""

SKLEARN = """
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from autotune.objectives.sklearn import sklearn_objective

X, y = load_iris(return_X_y=True)
objective = sklearn_objective(LogisticRegression(max_iter=300), X, y, cv=3, save_model=False{told})
study = at.Study(name="ready", space={{"C": at.loguniform(1e-2, 10.0)}}, objective=objective, sampler="random",
                 n_trials=2, seed=0{study})
"""

FILES = {"torch": TORCH, "lightgbm": LIGHTGBM, "sklearn": SKLEARN}

MISMATCHES = {
    # the user's objective is told one metric, the study another
    "torch_told_other": ("torch", ", metric='val_loss'", ", metric='accuracy', mode='max'",
                         "torch_objective(metric='val_loss') reports 'val_loss', but the study's metric is "
                         "'accuracy'; leave out metric= (it then reports the study's metric), or set the study's "
                         "metric='val_loss', mode='min'."),
    # the study's metric, in the other direction
    "torch_mode": ("torch", "", ", metric='val_loss', mode='max'",
                   "torch_objective reports 'val_loss', where lower is better, but the study has mode='max'; set "
                   "mode='min'."),
    # a metric the objective does not compute
    "torch_unknown": ("torch", "", ", metric='f1', mode='max'",
                      "torch_objective was not told a metric (metric=), so it reports the study's metric 'f1', which "
                      "it does not compute; it computes val_loss or loss (mode='min'), accuracy"),
    "lightgbm_mode": ("lightgbm", ", metric='binary_logloss'", ", metric='binary_logloss', mode='max'",
                      "lightgbm_objective reports 'binary_logloss', where lower is better, but the study has "
                      "mode='max'; set mode='min'."),
    "lightgbm_told_other": ("lightgbm", ", metric='auc'", ", metric='binary_logloss'",
                            "lightgbm_objective(metric='auc') reports 'auc', but the study's metric is "
                            "'binary_logloss'; leave out metric= (it then reports the study's metric), or set the "
                            "study's metric='auc', mode='max'."),
    "lightgbm_unknown": ("lightgbm", "", ", metric='accuracy', mode='max'",
                         "lightgbm_objective was not told a metric (metric=), so it reports the study's metric "
                         "'accuracy', which it does not compute; it computes LightGBM's metrics for task='binary': "
                         "binary_logloss, binary_error, auc"),
    "lightgbm_params": ("lightgbm", ", params={'metric': 'auc'}", ", metric='auc', mode='max'",
                        "params sets 'metric': the metric is the study's, or metric= (one metric); take 'metric' out "
                        "of params."),
    "sklearn_mode": ("sklearn", ", scoring='accuracy'", ", metric='accuracy', mode='min'",
                     "sklearn_objective reports 'accuracy', where higher is better, but the study has mode='min'; set "
                     "mode='max' (scikit-learn scores are higher is better"),
    "sklearn_told_other": ("sklearn", ", scoring='accuracy'", ", metric='f1_macro', mode='max'",
                           "sklearn_objective(scoring='accuracy') reports 'accuracy', but the study's metric is "
                           "'f1_macro'; leave out scoring= (it then reports the study's metric), or set the study's "
                           "metric='accuracy', mode='max'."),
    "sklearn_unknown": ("sklearn", "", "",  # the study's default metric, 'loss'
                        "sklearn_objective was not told a metric (scoring=), so it reports the study's metric "
                        "'loss', which it does not compute; it computes scikit-learn's scoring names"),
}


@pytest.mark.parametrize("case", sorted(MISMATCHES))
def test_a_ready_objective_that_would_report_another_metric_is_refused_before_any_trial(case, tmp_path):
    url = f"sqlite:///{tmp_path / 'autotune.db'}"  # the database the refused run would write to
    at.Study(name="demo", space={"x": at.uniform(0, 1)}, objective=lambda c, t: c["x"], n_trials=2).run(storage=url)
    before = dump(url)
    kind, told, study, message = MISMATCHES[case]
    write_study(tmp_path, FILES[kind].format(told=told, study=study), "bad.py")
    r = cli("run", "bad.py", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr + r.stdout
    assert dump(url) == before


@pytest.mark.parametrize("kind, metric, mode", [
    ("torch", "accuracy", "max"), ("torch", "loss", "min"), ("lightgbm", "auc", "max"),
    ("lightgbm", "binary_error", "min"), ("sklearn", "balanced_accuracy", "max"), ("sklearn", "neg_log_loss", "max"),
])
def test_a_ready_objective_not_told_a_metric_reports_the_study_s(kind, metric, mode, tmp_path):
    write_study(tmp_path, FILES[kind].format(told="", study=f", metric={metric!r}, mode={mode!r}"))
    url = f"sqlite:///{tmp_path / 'autotune.db'}"
    r = cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    trials = at.load_study("ready", storage=url).trials
    assert [t.state for t in trials] == ["COMPLETE", "COMPLETE"]
    best = max if mode == "max" else min
    for t in trials:
        reports = [v for _, v in t.intermediate]
        assert t.metrics[metric] == t.value
        if kind == "torch":  # the best epoch by the study's metric, every epoch reported
            assert t.value == best(reports) and t.metrics["accuracy" if mode == "max" else "val_loss"] == t.value
        elif kind == "lightgbm":  # the best round by the study's metric; every 5th round reported
            assert best(reports + [t.value]) == t.value
            assert all(0.0 <= v <= 1.0 for v in reports)
            if metric == "auc":
                assert min(reports) > 0.9
        else:  # the running mean over the folds
            assert t.value == pytest.approx(reports[-1], abs=1e-12)
            assert (t.value < 0) == (metric == "neg_log_loss")


def test_a_ready_objective_swapped_in_after_study_is_refused_when_the_run_starts(sqlite_url):
    import torch

    from autotune.errors import ConfigError
    from autotune.objectives.torch import torch_objective

    X = torch.randn(60, 4)
    y = (X[:, 0] > 0).long()
    study = at.Study(name="swapped", space={"lr": at.fixed(0.01)}, objective=lambda c, t: 0.5, metric="accuracy",
                     mode="max", n_trials=1)
    study.objective = torch_objective(lambda c: torch.nn.Linear(4, 2), (X, y), (X, y), epochs=1, metric="val_loss")
    with pytest.raises(ConfigError, match="reports 'val_loss', but the study's metric is 'accuracy'"):
        study.run(storage=sqlite_url)
    assert dump(sqlite_url) is None


def test_a_wrapped_ready_objective_still_reports_the_study_s_metric(sqlite_url):
    """A function of the user's around a ready objective hides it from the check, but each trial tells the ready
    objective the study's metric; a metric it does not compute (the wrapper's own) leaves it on its default,
    with a warning."""
    import torch

    from autotune.objectives.torch import torch_objective

    torch.manual_seed(0)
    X = torch.randn(100, 4)
    y = (X[:, 0] > 0).long()
    ready = torch_objective(lambda c: torch.nn.Linear(4, 2), (X[:70], y[:70]), (X[70:], y[70:]), epochs=3)

    def wrapped(config, trial):
        out = ready(config, trial)
        return {**out, "score": out["accuracy"]}

    study = at.Study(name="wrapped", space={"lr": at.fixed(0.05)}, objective=wrapped, metric="accuracy",
                     mode="max", n_trials=1)
    (t,) = study.run(storage=sqlite_url).trials
    assert t.value == t.metrics["accuracy"] == max(v for _, v in t.intermediate)
    study = at.Study(name="own", space={"lr": at.fixed(0.05)}, objective=wrapped, metric="score", mode="max",
                     n_trials=1)
    with pytest.warns(UserWarning, match="does not compute the study's metric 'score', so it reports 'val_loss'"):
        (t,) = study.run(storage=sqlite_url).trials
    assert t.metrics["val_loss"] == min(v for _, v in t.intermediate)


DIGITS = f"""
import sys
sys.path.insert(0, {os.path.join(ROOT, "examples")!r})
from autotune.objectives.torch import torch_objective
from torch_mlp_digits import make_model, train, valid  # the example's data and model

study = at.Study(name="digits", space=at.spaces.mlp(hidden=at.randint(16, 128, log=True),
                                                   batch_size=at.choice([64, 128])),
                 objective=torch_objective(make_model, train, valid, epochs=8, lr_schedule="cosine"),
                 metric="accuracy", mode="max", pruner="halving", n_trials=12, seed=0)
"""


@pytest.mark.slow
def test_an_accuracy_study_over_the_torch_objective_halves_by_accuracy(tmp_path):
    """An accuracy study with the halving pruner over the torch objective, not told a metric: it reports
    accuracy, so halving keeps the most accurate trials (reporting the validation loss, it kept the worst and
    ended at chance, 0.1)."""
    write_study(tmp_path, DIGITS)
    r = cli("run", "study.py", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 COMPLETE, 11 PRUNED" in r.stdout
    best = json.loads(cli("best", "digits", "--json", cwd=tmp_path).stdout)
    assert best["value"] > 0.9  # a quality check: the trial halving kept is a good digit classifier
    trials = at.load_study("digits", storage=f"sqlite:///{tmp_path / 'autotune.db'}").trials
    assert all(0.0 <= v <= 1.0 for t in trials for _, v in t.intermediate)  # accuracies, every report


def test_a_multi_objective_study_over_a_ready_objective_has_each_metric_in_its_direction():
    import torch

    from autotune.errors import ConfigError
    from autotune.objectives.torch import torch_objective

    X, y = torch.randn(20, 4), torch.zeros(20, dtype=torch.long)
    objective = torch_objective(lambda c: torch.nn.Linear(4, 2), (X, y), (X, y), epochs=1)
    space = {"lr": at.fixed(0.01)}
    at.Study(name="both", space=space, objective=objective, metric=["accuracy", "val_loss"], mode=["max", "min"])
    with pytest.raises(ConfigError, match=r"reports 'accuracy', where higher is better, but the study has "
                                          r"mode='min' for it; set mode='max'"):
        at.Study(name="both", space=space, objective=objective, metric=["val_loss", "accuracy"], mode=["min", "min"])
    with pytest.raises(ConfigError, match=r"torch_objective returns 'accuracy', 'val_loss', 'epochs', "
                                          r"'resumed_from', 'epochs_trained', not 'f1'"):
        at.Study(name="both", space=space, objective=objective, metric=["accuracy", "f1"], mode=["max", "max"])
