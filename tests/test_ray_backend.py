"""The ray backend on a real local Ray (one per module, two CPUs and two fake GPUs): same trials and same pruning
as the local backend, actor deaths contained, and a killed driver resumed locally. (What every backend does --
GPU slots among it -- is in test_conformance_backends.py.)"""

import os
import signal

import pytest

import autotune as at
from autotune._study_file import load_study_file
from tests.conftest import ROOT, cli, n_complete, start_driver, trial_rows, wait_until, write_study

pytestmark = pytest.mark.slow  # worker processes, drivers or Ray in every test

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def curve(config, trial):
    final = abs(config["x"]) + config["n"]
    for step in range(27):
        trial.report(final + 5.0 / (step + 1), step)
    return final


SPACE = {"x": at.uniform(-2, 2), "n": at.randint(0, 4)}


def test_quickstart_gives_the_same_number_of_trials_on_ray(sqlite_url, tmp_path):
    study = load_study_file(os.path.join(ROOT, "examples", "quickstart.py"))
    on_ray = study.run(storage=sqlite_url, backend="ray", parallelism=2)
    local = study.run(storage=f"sqlite:///{tmp_path / 'local.db'}", backend="local", parallelism=2)
    assert len(on_ray.trials) == len(local.trials) == study.n_trials
    assert sum(on_ray.counts.values()) == study.n_trials
    assert os.path.exists(on_ray.best_artifact("model.txt"))


def test_asha_on_ray_prunes_most_learning_curves(sqlite_url):
    study = at.Study(name="asha", space=SPACE, objective=curve, sampler="random", pruner="asha", n_trials=24,
                     parallelism=2, backend="ray", seed=0)
    result = study.run(storage=sqlite_url)
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert len(pruned) >= 12
    for t in pruned:
        assert t.last_step < 26 and t.value == t.intermediate[-1][1]


def test_halving_on_ray_pauses_and_continues_trials_as_the_local_backend_does(tmp_path):
    """Pause answers travel through the bridge actor; the schedule is the local backend's."""
    outcomes = {}
    for backend in ("local", "ray"):
        study = at.Study(name="halve", space=SPACE, objective=curve, sampler="random", pruner="halving", n_trials=8,
                         parallelism=2, backend=backend, seed=0)
        result = study.run(storage=f"sqlite:///{tmp_path / backend}.db")
        outcomes[backend] = [(t.number, t.state, len(t.intermediate), t.params) for t in result.trials]
    assert outcomes["local"] == outcomes["ray"]
    assert sorted(n for _, _, n, _ in outcomes["ray"]) == [1] * 4 + [2] * 2 + [4] + [27]


def test_serial_runs_prune_the_same_way_on_both_backends(tmp_path):
    outcomes = {}
    for backend in ("local", "ray"):
        study = at.Study(name="same", space=SPACE, objective=curve, sampler="tpe", pruner="median", n_trials=15,
                         seed=4, backend=backend)
        result = study.run(storage=f"sqlite:///{tmp_path / backend}.db")
        outcomes[backend] = [(t.number, t.state, t.last_step, t.params) for t in result.trials]
    assert outcomes["local"] == outcomes["ray"]
    assert any(state == "PRUNED" for _, state, _, _ in outcomes["ray"])


def _threads(config, trial):
    import os

    import torch

    return {"loss": config["x"], "omp": float(os.environ["OMP_NUM_THREADS"]), "torch": float(torch.get_num_threads())}


def test_each_ray_actor_computes_with_its_cpu_share_of_threads(sqlite_url):
    study = at.Study(name="threads", space={"x": at.uniform(0, 1)}, objective=_threads, sampler="random",
                     n_trials=2, parallelism=1, backend="ray", resources={"cpu": 2})
    for t in study.run(storage=sqlite_url).trials:
        assert t.metrics["omp"] == t.metrics["torch"] == 2, t.metrics


def test_asking_for_more_gpus_than_the_cluster_has_is_a_clear_error(sqlite_url):
    from autotune.errors import ConfigError

    study = at.Study(name="big", space={"x": at.uniform(0, 1)}, objective=curve, n_trials=2, backend="ray",
                     resources={"cpu": 1, "gpu": 4})
    with pytest.raises(ConfigError, match="gpu=4 per trial, but the Ray cluster has 2 GPUs"):
        study.run(storage=sqlite_url)


def _dies(config, trial):
    if trial.number == 1:
        os._exit(3)
    return config["x"]


def test_a_lost_actor_fails_its_trial_and_is_retried(sqlite_url):
    study = at.Study(name="dies", space={"x": at.uniform(0, 1)}, objective=_dies, sampler="random", n_trials=4,
                     parallelism=2, backend="ray", max_retries=1)
    result = study.run(storage=sqlite_url)
    failed = [t for t in result.trials if t.state == "FAIL"]
    assert len(failed) == 1 and failed[0].error.startswith("worker died (Ray actor lost")
    assert "retried as trial" in failed[0].error
    assert sum(t.state == "COMPLETE" and t.counted for t in result.trials) == 4


KILLED = """
import time

def objective(config, trial):
    time.sleep(0.1)
    return config["x"]

study = at.Study(name="rk", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=30, parallelism=2,
                 backend="ray", sampler="random", resources={"cpu": 0.5})
"""


def test_a_killed_ray_driver_is_finished_by_the_local_backend(tmp_path, sqlite_url):
    write_study(tmp_path, KILLED)
    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address  # the driver joins this module's Ray
    try:
        proc = start_driver(tmp_path, sqlite_url)
    finally:
        del os.environ["RAY_ADDRESS"]
    assert wait_until(lambda: n_complete(sqlite_url) >= 8)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    r = cli("run", "study.py", "--storage", sqlite_url, "--backend", "local", "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = trial_rows(sqlite_url)
    assert len({x.number for x in rows}) == len(rows)
    counted = [x for x in rows if x.counted]
    assert len(counted) == 30 and all(x.state == "COMPLETE" for x in counted)
    assert not [x for x in rows if x.state in ("RUNNING", "WAITING")]
