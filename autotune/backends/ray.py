"""The ray backend: trials on a Ray cluster (a local one when no address is given), each in a long-lived actor
that holds its slot's resources -- ``resources={"cpu": 1, "gpu": 0.5}`` per trial, fractions allowed -- and sees
only its GPUs (Ray sets ``CUDA_VISIBLE_DEVICES``; ``trial.device`` says ``cuda:0`` or ``cpu``).

The driver stays the only database client and keeps proposing, pruning and persisting exactly as with the local
backend: actors never need the storage URL. Intermediate reports reach the driver's pruner through one small
async "bridge" actor: the objective's ``report`` waits on it; the driver's ``wait`` wakes on the bridge's next
batch as it wakes on finished trials, so nothing polls.

Why not one Ray Tune trial per autotune trial: Tune's controller would duplicate what the engine already does
(search, scheduling, checkpointing of results), and its bookkeeping per trial weighs heavily on short trials
(``benchmarks/ray_throughput.py`` measures it).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from autotune.backends._base import Backend, Job, ObjectiveRef, cap_threads
from autotune.errors import ConfigError, StudyFileError
from autotune.objectives import Outcome, Trial, run_objective


def _require_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray backend needs Ray: pip install 'ray[default]' (or, in the autotune checkout, "
                          "pip install -e '.[ray]').") from None
    return ray


def _objective_payload(study) -> bytes:
    """The objective pickled by value (its study file need not exist on the cluster's nodes)."""
    import sys

    import cloudpickle

    module = sys.modules.get(getattr(study.objective, "__module__", "") or "")
    path = getattr(module, "__file__", None) or ""
    if module is not None and module.__name__ != "__main__" and "site-packages" not in path and path:
        cloudpickle.register_pickle_by_value(module)  # a study file or a user's module: not on the cluster
    try:
        return cloudpickle.dumps(study.objective)
    except Exception as exc:  # noqa: BLE001 - anything unpicklable the objective closes over
        raise ConfigError(f"the ray backend sends the objective to the cluster, but it cannot be pickled ({exc}); "
                          "keep it a plain top-level function of the study file.") from None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _cause(exc: BaseException) -> str:
    """The gist of a Ray error: its last meaningful line, without colour codes, at most 200 characters."""
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    errors = [ln for ln in lines if re.match(r"^[A-Za-z_.]+(Error|Exception|Exit)\b", ln)]
    return (errors[-1] if errors else lines[0])[:200]


class _Bridge:
    """Carries reports from actors to the driver and the driver's prune decisions back."""

    def __init__(self) -> None:
        self.pending: dict[int, tuple[int, int, float]] = {}  # slot -> (trial number, step, value)
        self.futures: dict[int, asyncio.Future] = {}
        self.event = asyncio.Event()

    async def report(self, slot: int, number: int, step: int, value: float) -> bool:
        fut = asyncio.get_running_loop().create_future()
        self.futures[slot] = fut
        self.pending[slot] = (number, step, value)
        self.event.set()
        return await fut

    async def next_batch(self) -> dict[int, tuple[int, int, float]]:
        while not self.pending:
            self.event.clear()
            await self.event.wait()
        out, self.pending = self.pending, {}
        return out

    async def decide(self, slot: int, prune: bool) -> None:
        fut = self.futures.pop(slot, None)
        if fut is not None and not fut.done():
            fut.set_result(prune)


class _Channel:
    def __init__(self, bridge, slot: int, number: int) -> None:
        self.bridge, self.slot, self.number = bridge, slot, number
        self.artifacts: dict[str, bytes] = {}

    def report(self, step: int, value: float) -> bool:
        import ray

        return ray.get(self.bridge.report.remote(self.slot, self.number, step, value))

    def artifact(self, name: str, data: bytes) -> None:
        self.artifacts[name] = data  # returned with the outcome


class _Worker:
    """One slot: loads the objective once, then runs trials one after another."""

    def __init__(self, payload: bytes, metrics: list[str], study_name: str, bridge, slot: int, threads: int) -> None:
        import cloudpickle

        cap_threads(threads)  # the actor's CPU share, before the objective's modules load; PyTorch's pool after
        self.objective = cloudpickle.loads(payload)
        cap_threads(threads)
        self.metrics, self.study_name, self.bridge, self.slot = metrics, study_name, bridge, slot

    def run(self, number: int, config: dict[str, Any], attempt: int, reports: list):
        import ray

        gpus = [str(g) for g in ray.get_gpu_ids()]
        channel = _Channel(self.bridge, self.slot, number)
        trial = Trial(number, config, channel, study_name=self.study_name, device="cuda:0" if gpus else "cpu",
                      attempt=attempt, reports=reports)
        outcome = run_objective(self.objective, trial, self.metrics)
        return outcome, channel.artifacts

    def ready(self) -> bool:
        return True


@dataclass
class _Slot:
    actor: Any
    job: Job | None = None
    ref: Any = None
    deadline: float | None = None


class RayBackend(Backend):
    """Runs ``parallelism`` trials at once on Ray actors."""

    name = "ray"

    def __init__(self, study, parallelism: int, address: str | None = None) -> None:
        super().__init__(parallelism)
        self.ray = _require_ray()
        self.study, self.address = study, address
        self.cpu = float(study.resources.get("cpu", 1))
        self.gpu = float(study.resources.get("gpu", 0))
        self.started_ray = False
        self.slots_: list[_Slot] = []

    def start(self, ref: ObjectiveRef, handler) -> None:
        super().start(ref, handler)
        ray = self.ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "logging_level": "ERROR", "configure_logging": True}
            if self.address:
                kwargs["address"] = self.address
            ray.init(**kwargs)
            self.started_ray = True
        have = ray.cluster_resources()
        if self.gpu > 0 and have.get("GPU", 0) < self.gpu:
            raise ConfigError(f"resources ask for gpu={self.gpu:g} per trial, but the Ray cluster has "
                              f"{have.get('GPU', 0):g} GPUs; lower `resources` or add GPU nodes.")
        if self.cpu > have.get("CPU", 0):
            raise ConfigError(f"resources ask for cpu={self.cpu:g} per trial, but the Ray cluster has "
                              f"{have.get('CPU', 0):g} CPUs.")
        self.payload = _objective_payload(self.study)
        self.bridge = ray.remote(num_cpus=0)(_Bridge).remote()
        self.worker_cls = ray.remote(_Worker).options(num_cpus=self.cpu, num_gpus=self.gpu, max_concurrency=1)
        self.slots_ = [_Slot(self._actor(i)) for i in range(self.slots)]
        try:  # a worker that cannot load the objective is the study file's problem, not a trial's
            ray.get([s.actor.ready.remote() for s in self.slots_])
        except ray.exceptions.RayActorError as exc:
            raise StudyFileError(f"the Ray workers could not load the objective: {_cause(exc)}") from None
        self.batch_ref = self.bridge.next_batch.remote()

    def _actor(self, i: int):
        return self.worker_cls.remote(self.payload, list(self.ref.metrics), self.ref.study_name, self.bridge, i,
                                      max(1, math.ceil(self.cpu)))

    def free_slots(self) -> int:
        return sum(s.job is None for s in self.slots_)

    def submit(self, job: Job) -> None:
        slot = next(s for s in self.slots_ if s.job is None)
        slot.job = job
        slot.deadline = time.monotonic() + job.timeout if job.timeout else None
        slot.ref = slot.actor.run.remote(job.number, job.config, job.attempt, job.reports)

    def _replace(self, i: int) -> None:
        self.ray.kill(self.slots_[i].actor, no_restart=True)
        self.slots_[i] = _Slot(self._actor(i))

    def wait(self, timeout: float) -> list[tuple[Job, Outcome]]:
        ray = self.ray
        busy = [(i, s) for i, s in enumerate(self.slots_) if s.job is not None]
        if not busy:
            time.sleep(timeout)
            return []
        now = time.monotonic()
        limit = max(0.0, min([timeout] + [s.deadline - now for _, s in busy if s.deadline is not None]))
        refs = [s.ref for _, s in busy]
        ready, _ = ray.wait(refs + [self.batch_ref], num_returns=1, timeout=limit)
        finished: list[tuple[Job, Outcome]] = []
        if self.batch_ref in ready:
            for slot, (number, step, value) in ray.get(self.batch_ref).items():
                job = self.slots_[slot].job
                # a report sent by a trial this slot no longer runs (its actor was replaced after a timeout or a
                # crash, the slot given the next trial) answers "stop" and is not charged to the new trial
                mine = job is not None and job.number == number
                prune = self.handler.on_report(job, step, value) if mine else True
                self.bridge.decide.remote(slot, prune)
            self.batch_ref = self.bridge.next_batch.remote()
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for i, s in busy:
            if s.ref in done:
                job = s.job
                try:
                    outcome, artifacts = ray.get(s.ref)
                    for name, data in artifacts.items():
                        self.handler.on_artifact(job, name, data)
                    s.job = s.ref = None
                except ray.exceptions.RayActorError as exc:
                    outcome = Outcome.fail(f"worker died (Ray actor lost: {_cause(exc)})")
                    self._replace(i)
                except ray.exceptions.RayError as exc:
                    outcome = Outcome.fail(f"Ray error: {_cause(exc)}")
                    self._replace(i)
                finished.append((job, outcome))
            elif s.deadline is not None and time.monotonic() >= s.deadline:
                finished.append((s.job, Outcome.fail(f"timed out after {s.job.timeout:g} s")))
                self._replace(i)
        return finished

    def shutdown(self, kill: bool = False) -> None:
        ray = self.ray
        if not ray.is_initialized():
            return
        for s in self.slots_:
            ray.kill(s.actor, no_restart=True)
        self.slots_ = []
        if getattr(self, "bridge", None) is not None:
            ray.kill(self.bridge, no_restart=True)
            self.bridge = None
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False
