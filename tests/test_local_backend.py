"""The local backend with worker processes: real parallelism, reports flowing back, deaths and timeouts."""

import pytest

import autotune as at
from autotune._study_file import load_study_file
from tests.conftest import write_study

pytestmark = pytest.mark.slow  # worker processes, drivers or Ray in every test

WORKERS = """
import os, signal, time

def objective(config, trial):
    n = trial.number
    if config["mode"] == "sleep":
        time.sleep(0.4)
    elif config["mode"] == "die" and n == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    elif config["mode"] == "exit" and n == 1:
        os._exit(7)
    elif config["mode"] == "hang" and n == 0:
        time.sleep(600)
    for step in range(8):
        trial.report(config["x"] + 3.0 / (step + 1), step)
    trial.save_artifact("pid.txt", str(os.getpid()))
    return config["x"]

def make(mode, **kw):
    kw.setdefault("n_trials", 6)
    return at.Study(name=mode, space={"x": at.uniform(0, 1), "mode": at.fixed(mode)}, objective=objective,
                    sampler="random", seed=0, **kw)

sleep = make("sleep", parallelism=4, n_trials=8)
die = make("die", parallelism=2)
exit_ = make("exit", parallelism=2)
hang = make("hang", parallelism=2, trial_timeout=2)
prune = make("prune", parallelism=2, pruner="median", n_trials=16)
"""


@pytest.fixture
def study_file(tmp_path):
    return write_study(tmp_path, WORKERS)


def test_parallel_trials_really_overlap(study_file, sqlite_url):
    result = load_study_file(study_file, "sleep").run(storage=sqlite_url)
    trials = result.trials
    assert result.counts == {"COMPLETE": 8}
    # at some instant four trials were running at once
    events = sorted([(t.started_at, 1) for t in trials] + [(t.finished_at, -1) for t in trials])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    assert peak == 4


def test_a_killed_worker_fails_only_its_trial_and_is_replaced(study_file, storage):
    result = load_study_file(study_file, "die").run(storage=storage)
    by_state = {}
    for t in result.trials:
        by_state.setdefault(t.state, []).append(t)
    assert [t.error for t in by_state["FAIL"]] == ["worker died (signal 9)"]
    assert len(by_state["COMPLETE"]) == 5


def test_a_worker_that_exits_fails_only_its_trial(study_file, sqlite_url):
    result = load_study_file(study_file, "exit_").run(storage=sqlite_url)
    assert [t.error for t in result.trials if t.state == "FAIL"] == ["worker died (exit code 7)"]
    assert result.counts["COMPLETE"] == 5


def test_a_trial_past_its_timeout_is_killed(study_file, sqlite_url):
    result = load_study_file(study_file, "hang").run(storage=sqlite_url)
    assert [t.error for t in result.trials if t.state == "FAIL"] == ["timed out after 2 s"]
    assert result.counts["COMPLETE"] == 5


def test_reports_from_workers_drive_pruning_and_artifacts_come_back(study_file, sqlite_url):
    result = load_study_file(study_file, "prune").run(storage=sqlite_url)
    assert result.counts.get("PRUNED", 0) >= 3
    pid = open(result.best_artifact("pid.txt")).read()
    assert pid.isdigit()


def test_objectives_without_a_study_file_are_sent_by_value(sqlite_url):
    offset = 10.0

    def objective(config, trial):  # a closure: pickled by value into the workers
        return config["x"] + offset

    study = at.Study(name="closure", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=4,
                     parallelism=2, sampler="random", seed=0)
    result = study.run(storage=sqlite_url)
    assert result.counts == {"COMPLETE": 4} and result.best_value >= 10


THREADS = """
import os
import torch

def objective(config, trial):
    return {"loss": config["x"], "omp": float(os.environ["OMP_NUM_THREADS"]),
            "mkl": float(os.environ["MKL_NUM_THREADS"]), "torch": float(torch.get_num_threads())}

def make(name, **kw):
    return at.Study(name=name, space={"x": at.uniform(0, 1)}, objective=objective, sampler="random", seed=0,
                    n_trials=4, parallelism=2, **kw)

three = make("three", resources={"cpu": 3})
fraction = make("fraction", resources={"cpu": 0.5, "gpu": 0})
shared = make("shared")
"""


@pytest.mark.parametrize("name, expected", [("three", 3), ("fraction", 1), ("shared", None)])
def test_each_worker_computes_with_its_share_of_the_cpu_threads(tmp_path, sqlite_url, name, expected):
    """Workers started with one thread per core each (eight workers on sixteen cores ran three times slower than
    capped): now resources["cpu"] threads, or the cores divided by the parallelism, for BLAS and for PyTorch."""
    import os

    study = load_study_file(write_study(tmp_path, THREADS), name)
    omp = os.environ.get("OMP_NUM_THREADS")  # a user's own setting stands where the study does not say
    expected = expected or (int(omp) if omp else max(1, os.cpu_count() // 2))
    for t in study.run(storage=sqlite_url).trials:
        assert t.metrics["omp"] == t.metrics["mkl"] == t.metrics["torch"] == expected, t.metrics
