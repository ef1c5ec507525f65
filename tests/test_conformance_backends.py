"""One suite for every backend (``autotune.backends.Backend``): in-process, local worker processes and Ray actors
(a real local Ray, started once for the module with two CPUs and two declared GPUs).

Each case drives the backend through the contract the engine uses -- ``start``, ``free_slots``, ``submit``,
``wait``, ``shutdown``, and a handler that answers reports -- with real workers, then runs a real study on it."""

import contextlib
import os
import signal
import time
from collections import Counter

import pytest

import autotune as at
from autotune.backends import Backend, Job, ObjectiveRef, make_backend
from autotune.errors import ConfigError
from autotune.objectives import PAUSE
from tests import _backend_objectives
from tests.conftest import wait_until

# each backend, by the class make_backend picks for it and the arguments that pick it
BACKENDS = {"in-process": ("InProcessBackend", "local", 1), "processes": ("ProcessBackend", "local", 2),
            "ray": ("RayBackend", "ray", 2)}
HAS_WORKER = {"processes", "ray"}


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


class Handler:
    """The engine's side of a backend, recording what reached it; ``answer(job, step)`` is the pruner's decision
    (False: go on, True: prune, PAUSE: pause)."""

    def __init__(self, answer=lambda job, step: False) -> None:
        self.answer = answer
        self.reports: list[tuple[int, int, float]] = []
        self.artifacts: dict[int, dict[str, bytes]] = {}

    def on_report(self, job, step, value):
        self.reports.append((job.number, step, value))
        return self.answer(job, step)

    def on_artifact(self, job, name, data):
        self.artifacts.setdefault(job.number, {})[name] = data

    def objective_running(self, running=True):
        return contextlib.nullcontext()

    def steps(self, number: int) -> list[int]:
        return [step for n, step, _ in self.reports if n == number]


@pytest.fixture(params=[k if k not in HAS_WORKER else pytest.param(k, marks=pytest.mark.slow) for k in BACKENDS])
def kind(request):
    if request.param == "ray":
        request.getfixturevalue("ray_cluster")
    return request.param


@pytest.fixture
def backends(kind):
    """``make(handler, parallelism=..., **study_settings)``: a started backend of this kind (shut down after)."""
    made: list[Backend] = []

    def make(handler, parallelism=None, **settings):
        cls, name, default = BACKENDS[kind]
        settings.setdefault("resources", {"cpu": 0.5} if kind == "ray" else None)
        study = at.Study(name="conformance", space={"x": at.uniform(0, 1)}, objective=_backend_objectives.objective,
                         **settings)
        backend = make_backend(study, name, parallelism or default)
        assert type(backend).__name__ == cls and isinstance(backend, Backend)
        made.append(backend)
        backend.start(ObjectiveRef.for_study(study), handler)
        return backend

    yield make
    for backend in made:
        backend.shutdown(kill=True)


def _config(x: float, mode: str = "value", **extra) -> dict:
    return {"x": x, "mode": mode, **extra}


def run_jobs(backend: Backend, jobs: list[Job], timeout: float = 120) -> dict[int, object]:
    """Submit ``jobs`` as slots free up and wait for all of them: each job's outcome, by number."""
    pending, outcomes = list(jobs), {}
    end = time.monotonic() + timeout
    while len(outcomes) < len(jobs):
        assert time.monotonic() < end, f"still waiting for {sorted({j.number for j in jobs} - set(outcomes))}"
        while pending and backend.free_slots() > 0:
            backend.submit(pending.pop(0))
        for job, outcome in backend.wait(0.5):
            assert job.number not in outcomes, f"job {job.number} was handed back twice"
            outcomes[job.number] = outcome
    assert backend.free_slots() == backend.slots
    return outcomes


def test_submitted_jobs_finish_free_their_slots_and_send_their_artifacts(backends):
    handler = Handler()
    backend = backends(handler)
    assert backend.free_slots() == backend.slots
    jobs = [Job(n, _config(n / 10)) for n in range(4)]
    outcomes = run_jobs(backend, jobs)
    assert {n: (o.state, o.values) for n, o in outcomes.items()} == {n: ("COMPLETE", [n / 10]) for n in range(4)}
    assert sorted(handler.artifacts) == [0, 1, 2, 3]
    pids = {int(a["pid.txt"]) for a in handler.artifacts.values()}
    assert {int(o.metrics["pid"]) for o in outcomes.values()} == pids
    assert (pids == {os.getpid()}) == (backend.slots == 1 and type(backend).__name__ == "InProcessBackend")


def test_reports_reach_the_handler_and_a_prune_answer_prunes_only_that_trial(backends):
    handler = Handler(answer=lambda job, step: job.number == 1 and step == 2)
    backend = backends(handler)
    outcomes = run_jobs(backend, [Job(n, _config(0.5, steps=5)) for n in range(2)])
    assert outcomes[0].state == "COMPLETE" and outcomes[1].state == "PRUNED"
    assert handler.steps(0) == [0, 1, 2, 3, 4] and handler.steps(1) == [0, 1, 2]
    assert [v for n, _, v in handler.reports if n == 0] == [0.5 + 1 / (s + 1) for s in range(5)]


def test_a_pause_answer_pauses_the_trial_and_its_continuation_goes_on_from_its_reports(backends):
    handler = Handler(answer=lambda job, step: PAUSE if job.attempt == 0 and step == 2 else False)
    backend = backends(handler)
    [paused] = run_jobs(backend, [Job(0, _config(0.5, steps=5))]).values()
    assert paused.state == "PAUSED" and handler.steps(0) == [0, 1, 2]
    reports = [[step, value] for _, step, value in handler.reports]
    [done] = run_jobs(backend, [Job(0, _config(0.5, steps=5), attempt=1, reports=reports)]).values()
    assert done.state == "COMPLETE" and done.metrics["first_step"] == 3
    assert handler.steps(0) == [0, 1, 2, 3, 4]  # the continued trial reported only the steps it had not


def _needs_worker(kind: str, what: str) -> None:
    if kind not in HAS_WORKER:
        pytest.skip(f"the in-process backend runs the objective in the driver, with no worker to {what}; a study "
                    f"that needs it runs on worker processes (see test_a_study_that_needs_workers_gets_them)")


def test_a_trial_past_its_timeout_fails_and_its_slot_runs_the_next(backends, kind):
    _needs_worker(kind, "stop")
    backend = backends(Handler())
    started = time.monotonic()
    outcomes = run_jobs(backend, [Job(0, _config(0.1, "hang"), timeout=1.0), Job(1, _config(0.2)),
                                  Job(2, _config(0.3)), Job(3, _config(0.4))])
    assert outcomes[0].state == "FAIL" and outcomes[0].error == "timed out after 1 s"
    assert [outcomes[n].state for n in (1, 2, 3)] == ["COMPLETE"] * 3
    assert time.monotonic() - started < 60


def test_a_worker_killed_with_sigkill_fails_only_its_trial_and_is_replaced(backends, kind, tmp_path):
    _needs_worker(kind, "kill")
    backend = backends(Handler())
    pidfile = str(tmp_path / "pid")
    backend.submit(Job(0, _config(0.1, "pid", pidfile=pidfile)))
    assert wait_until(lambda: os.path.exists(pidfile), 120), "the trial never started"
    os.kill(int(open(pidfile).read()), signal.SIGKILL)
    outcomes = {}
    assert wait_until(lambda: outcomes.update((j.number, o) for j, o in backend.wait(0.2)) or outcomes, 120)
    assert outcomes[0].state == "FAIL" and outcomes[0].error.startswith("worker died"), outcomes[0].error
    assert backend.free_slots() == backend.slots
    more = run_jobs(backend, [Job(n, _config(n / 10)) for n in range(1, 5)])  # every slot works again
    assert [o.state for o in more.values()] == ["COMPLETE"] * 4


@pytest.mark.parametrize("gpu", [1, 0.5], ids=["whole-gpu", "half-gpu"])
def test_gpu_slots_give_each_trial_its_share_of_the_visible_gpus(backends, kind, gpu, tmp_path, monkeypatch):
    """Two GPUs: a trial asking for one gets a GPU to itself; asking for half, two trials share each GPU. Every
    trial of a round runs at once, sees only its GPU (CUDA_VISIBLE_DEVICES) and trains on ``trial.device``."""
    _needs_worker(kind, "pin to a GPU")
    monkeypatch.setenv("AUTOTUNE_GPUS", "0,1")  # the GPUs the local backend sees; Ray declared two
    slots = int(2 / gpu)
    backend = backends(Handler(), parallelism=slots, resources={"cpu": 0.5, "gpu": gpu})
    jobs = [Job(n, _config(0.5, "gather", dir=str(tmp_path), first=0, round=slots)) for n in range(slots)]
    outcomes = run_jobs(backend, jobs)
    assert all(o.state == "COMPLETE" for o in outcomes.values())
    assert {o.metrics["device"] for o in outcomes.values()} == {"cuda:0"}
    per_gpu = Counter(o.metrics["cvd"] for o in outcomes.values())
    assert per_gpu == {"0": slots // 2, "1": slots // 2}, per_gpu


def test_more_gpus_than_there_are_is_refused_before_a_trial_runs(backends, kind, monkeypatch):
    _needs_worker(kind, "pin to a GPU")
    monkeypatch.setenv("AUTOTUNE_GPUS", "0,1")
    if kind == "processes":  # three slots of a whole GPU each
        with pytest.raises(ConfigError, match="parallelism 3 with resources gpu=1 per trial needs 3 GPUs, but 2 are"):
            backends(Handler(), parallelism=3, resources={"cpu": 0.5, "gpu": 1})
    else:  # one slot of three GPUs
        with pytest.raises(ConfigError, match="gpu=3 per trial, but the Ray cluster has 2 GPUs"):
            backends(Handler(), parallelism=1, resources={"cpu": 0.5, "gpu": 3})


def test_a_study_that_needs_workers_gets_them(monkeypatch):
    """Where the in-process backend cannot keep a promise (stop a trial at its timeout, pin it to a GPU), a study
    at parallelism 1 runs on one worker process instead."""
    monkeypatch.setenv("AUTOTUNE_GPUS", "0")
    for settings in ({"trial_timeout": 5}, {"resources": {"gpu": 1}}, {}):
        study = at.Study(name="w", space={"x": at.uniform(0, 1)}, objective=_backend_objectives.objective,
                         **settings)
        backend = make_backend(study, "local", 1)
        assert type(backend).__name__ == ("InProcessBackend" if not settings else "ProcessBackend")
        assert backend.slots == 1


def test_a_study_runs_to_its_budget_on_the_backend(kind, sqlite_url):
    _, name, parallelism = BACKENDS[kind]
    study = at.Study(name="s", space={"x": at.uniform(0, 1), "mode": at.fixed("value"), "steps": at.fixed(3)},
                     objective=_backend_objectives.objective, sampler="random", seed=0, n_trials=4,
                     parallelism=parallelism, backend=name, resources={"cpu": 0.5} if kind == "ray" else None)
    result = study.run(storage=sqlite_url)
    assert result.counts == {"COMPLETE": 4}
    assert all([step for step, _ in t.intermediate] == [0, 1, 2] for t in result.trials)
    assert int(open(result.best_artifact("pid.txt")).read()) == int(result.best_trial.metrics["pid"])
