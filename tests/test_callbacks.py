"""Callbacks: the interface the driver calls, and the MLflow callback against a real MLflow tracking store (a
SQLite backend in the test's folder)."""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import cli, dump, trial_rows, write_study

import autotune as at
from autotune.errors import ConfigError

STUDY = """
import math

def objective(config, trial):
    if config["x"] > 0.85:
        raise ValueError("x too large")
    for step in range(4):
        trial.report(config["x"] * (4 - step) + (1 if config["act"] == "tanh" else 0), step)
        if step == 1 and config["x"] > 0.7:
            raise at.TrialPruned()
    trial.save_artifact("model.txt", f"x={config['x']:.6f}")
    return {"loss": config["x"] ** 2 + (1 if config["act"] == "tanh" else 0), "width": 3, "note": "text"}

study = at.Study(name="logged", space={"x": at.uniform(0, 1), "act": at.choice(["relu", "tanh"]),
                                       "opt": at.choice({"sgd": {"momentum": at.uniform(0, 1)}, "adam": {}})},
                 objective=objective, n_trials=N, sampler="random", seed=3, parallelism=2)
"""


def _mlflow_runs(uri: str, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    study = [r for r in runs if r.data.tags.get("autotune.role") == "study"]
    trials = {int(r.data.tags["autotune.trial"]): r for r in runs if r.data.tags.get("autotune.role") == "trial"}
    return client, study, trials


@pytest.mark.slow
def test_mlflow_store_holds_one_run_per_finished_trial(tmp_path):
    pytest.importorskip("mlflow")
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    write_study(tmp_path, STUDY.replace("N", "14"))
    out = cli("run", "study.py", "--storage", url, "--mlflow", uri, "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    client, study, trials = _mlflow_runs(uri, "logged")
    assert len(study) == 1
    parent = study[0]
    result = at.load_study("logged", storage=url)
    finished = {t.number: {"state": t.state, "value": t.value, "intermediate": t.intermediate,
                           "params": result.config(t.params)}
                for t in result.trials if t.state in ("COMPLETE", "PRUNED", "FAIL")}
    assert len(finished) == 14 and set(trials) == set(finished)
    states = {t["state"] for t in finished.values()}
    assert states == {"COMPLETE", "PRUNED", "FAIL"}, states  # the study file makes all three
    for number, t in finished.items():
        run = trials[number]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["autotune.state"] == t["state"]
        assert run.info.status == {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}[t["state"]]
        # params: the configuration as the objective saw it (the chosen branch's values, names decoded)
        params = t["params"]
        assert run.data.params["x"] == repr(params["x"]) or float(run.data.params["x"]) == params["x"]
        assert run.data.params["act"] == params["act"] and run.data.params["opt"] == params["opt"]
        assert ("momentum" in run.data.params) == (params["opt"] == "sgd")
        if t["state"] == "COMPLETE":
            assert run.data.metrics["loss"] == pytest.approx(t["value"])
            assert run.data.metrics["width"] == 3 and "note" not in run.data.metrics
        else:
            assert "loss" not in run.data.metrics
        if t["state"] == "FAIL":
            assert run.data.tags["autotune.error"] == "ValueError: x too large"
            continue
        history = client.get_metric_history(run.info.run_id, "intermediate")
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == \
            [(s, pytest.approx(v)) for s, v in t["intermediate"]]
        assert len(history) == (2 if t["state"] == "PRUNED" else 4)
    best = json.loads(cli("best", "logged", "--storage", url, "--json", cwd=tmp_path).stdout)
    assert parent.data.tags["autotune.best_trial"] == str(best["trial"])
    assert parent.data.metrics["best_loss"] == pytest.approx(best["value"])
    assert trials[best["trial"]].data.tags.get("autotune.best") == "true"
    local = client.download_artifacts(parent.info.run_id, "best_trial", str(tmp_path / "got"))
    assert open(f"{local}/model.txt").read() == f"x={best['params']['x']:.6f}"
    assert json.load(open(f"{local}/params.json"))["trial"] == best["trial"]

    # more trials: logged under the same study run
    out = cli("run", "study.py", "--storage", url, "--mlflow", uri, "--quiet", "--n-trials", "18", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    _, study, trials = _mlflow_runs(uri, "logged")
    assert len(study) == 1 and study[0].info.run_id == parent.info.run_id and study[0].info.status == "FINISHED"
    assert set(trials) == {r.number for r in trial_rows(url) if r.state in ("COMPLETE", "PRUNED", "FAIL")}
    assert len(trials) == 18


def test_mlflow_with_a_bad_tracking_uri_stops_before_any_trial(tmp_path):
    pytest.importorskip("mlflow")
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    write_study(tmp_path, STUDY.replace("N", "3").replace("parallelism=2", "parallelism=1"))
    assert cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path).returncode == 0
    before = dump(url)
    out = cli("run", "study.py", "--storage", url, "--mlflow", "nosuch://here", "--n-trials", "6", cwd=tmp_path)
    assert out.returncode == 1
    assert "cannot log to MLflow at nosuch://here" in out.stderr and "Traceback" not in out.stderr
    assert dump(url) == before


class Recorder(at.callbacks.Callback):
    def __init__(self):
        self.calls = []

    def on_run_start(self, result):
        self.calls.append(("start", result.name, len(result.trials)))

    def on_trial_end(self, study_name, trial):
        self.calls.append(("trial", study_name, trial.number, trial.state, dict(trial.params), trial.value))

    def on_run_end(self, result, error):
        self.calls.append(("end", len(result.trials), error))


def _objective(config, trial):
    if config["k"] == "big":
        raise RuntimeError("no")
    return config["w"] + (config.get("momentum") or 0)


SPACE = {"w": at.uniform(0, 1), "k": at.choice(["small", "big"]),
         "opt": at.choice({"sgd": {"momentum": at.uniform(0, 1)}, "adam": {}})}


def test_callbacks_see_each_finished_trial_as_stored_with_its_config(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    rec = Recorder()
    study = at.Study(name="cb", space=SPACE, objective=_objective, n_trials=8, sampler="random", seed=0,
                     callbacks=[rec])
    result = study.run(storage=url)
    assert rec.calls[0] == ("start", "cb", 0)
    assert rec.calls[-1] == ("end", 8, None)
    ends = rec.calls[1:-1]
    stored = {t.number: t for t in result.trials}
    assert [c[2] for c in ends] == sorted(stored)
    for _, name, number, state, params, value in ends:
        t = stored[number]
        assert name == "cb" and state == t.state and value == t.value
        assert params == result.config(t.params)  # decoded: "opt" is the branch's name, momentum beside it
        assert params["opt"] in ("sgd", "adam") and ("momentum" in params) == (params["opt"] == "sgd")
    assert {c[3] for c in ends} == {"COMPLETE", "FAIL"}


def test_a_failing_callback_warns_once_and_the_study_runs_on(tmp_path):
    class Broken(at.callbacks.Callback):
        def on_trial_end(self, study_name, trial):
            raise KeyError("oops")

    rec = Recorder()
    study = at.Study(name="cb2", space=SPACE, objective=_objective, n_trials=5, sampler="random", seed=0,
                     callbacks=[Broken(), rec])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = study.run(storage=f"sqlite:///{tmp_path / 'studies.db'}")
    said = [str(w.message) for w in caught if "callback" in str(w.message)]
    assert said == ["the callback Broken failed in on_trial_end: KeyError: 'oops'; it is not called again in this "
                    "run (the study's trials are saved as usual)."]
    assert sum(result.counts.values()) == 5
    assert len([c for c in rec.calls if c[0] == "trial"]) == 5  # the other callback still called


def test_a_callback_that_fails_at_start_stops_the_run_and_leaves_the_database_as_it_was(tmp_path):
    class NoStart(at.callbacks.Callback):
        def on_run_start(self, result):
            raise OSError("tracking server down")

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    at.Study(name="cb3", space=SPACE, objective=_objective, n_trials=2, sampler="random", seed=0).run(storage=url)
    before = dump(url)
    study = at.Study(name="cb3", space=SPACE, objective=_objective, n_trials=4, sampler="random", seed=0,
                     callbacks=[NoStart()])
    with pytest.raises(ConfigError, match="the callback NoStart failed as the run started: OSError: tracking "
                                          "server down"):
        study.run(storage=url)
    assert dump(url) == before


@pytest.mark.parametrize("bad", [[object()], Recorder(), [Recorder]])
def test_callbacks_must_be_a_list_of_callback_instances(bad):
    with pytest.raises(ConfigError, match="callback"):
        at.Study(name="x", space=SPACE, objective=_objective, n_trials=2, callbacks=bad)
