"""What a backend is: something that runs trials and hands back how each ended.

The study engine owns the database, the sampler and the pruner; a backend only executes. It is told about each
trial with :meth:`Backend.submit` and returns finished trials from :meth:`Backend.wait`, calling the engine's
:class:`Handler` for every intermediate report (the engine answers whether to prune) and saved artifact.
"""

from __future__ import annotations

import os
import pickle
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from autotune._study_file import load_objective
from autotune.objectives import Outcome


@dataclass
class Job:
    """One trial as a backend sees it."""

    number: int
    config: dict[str, Any]
    attempt: int = 0
    device: str = "cpu"
    gpus: tuple[str, ...] = ()
    timeout: float | None = None
    reports: list[list[float]] = field(default_factory=list)  # stored before this run (a continued trial)
    # the engine's bookkeeping, never sent to a worker
    engine_state: Any = field(default=None, repr=False, compare=False)


class Handler(Protocol):
    def on_report(self, job: Job, step: int, value: float) -> bool: ...

    def on_artifact(self, job: Job, name: str, data: bytes) -> None: ...

    def objective_running(self, running: bool = True):  # a context manager: Ctrl-C may interrupt inside it
        ...


@dataclass(frozen=True)
class ObjectiveRef:
    """How a worker obtains the objective: by importing the study file, or from the function pickled by value."""

    metrics: tuple[str, ...]
    study_name: str
    file: str | None = None       # the study file ...
    attr: str | None = None       # ... and the module attribute that holds the Study
    pickled: bytes | None = None  # cloudpickle of the objective, when it has no file to import from
    # loader(file, attr, study_name) -> the objective: a module-level function (sent to workers by reference)
    loader: Callable[[str, str, str], Any] = load_objective

    @classmethod
    def for_study(cls, study, loader: Callable[[str, str, str], Any] = load_objective) -> ObjectiveRef:
        """``loader`` imports the study file in a worker (default: ``autotune._study_file.load_objective``, which
        finds the study in the attribute where the driver found it)."""
        src = getattr(study, "_source", None)
        metrics = tuple(study.metrics)
        if src is not None:
            return cls(metrics, study.name, file=src[0], attr=src[1], loader=loader)
        import cloudpickle

        try:
            blob = cloudpickle.dumps(study.objective)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            from autotune.errors import ConfigError

            raise ConfigError(f"parallelism > 1 runs the objective in worker processes, but it cannot be sent "
                              f"there ({exc}); define it at the top level of a study file, or use parallelism=1."
                              ) from None
        return cls(metrics, study.name, pickled=blob)

    def load(self):
        if self.pickled is not None:
            return pickle.loads(self.pickled)
        return self.loader(self.file, self.attr, self.study_name)


class Backend(ABC):
    """Runs trials. ``slots`` trials may run at once.

    The contract every backend keeps (``tests/test_conformance_backends.py`` holds each one to it): after
    :meth:`start`, a job is submitted only to a free slot; :meth:`wait` hands back each submitted job once, with how
    it ended -- its reports passed to the handler on the way, a report answered ``True`` ending it PRUNED and one
    answered ``PAUSE`` ending it PAUSED; a job past its ``timeout``, or whose worker died, FAIL with the reason
    (the in-process backend has no worker to stop, and is never handed a timeout) -- and its slot is free again."""

    name = ""

    def __init__(self, slots: int) -> None:
        self.slots = slots

    def start(self, ref: ObjectiveRef, handler: Handler) -> None:
        self.ref, self.handler = ref, handler

    @abstractmethod
    def free_slots(self) -> int:
        raise NotImplementedError

    @abstractmethod
    def submit(self, job: Job) -> None:
        raise NotImplementedError

    @abstractmethod
    def wait(self, timeout: float) -> list[tuple[Job, Outcome]]:
        """Finished trials, waiting up to ``timeout`` seconds for the first one."""
        raise NotImplementedError

    def shutdown(self, kill: bool = False) -> None:  # noqa: B027 - a backend without workers has none to stop
        """Stop every worker; ``kill`` abandons running trials at once."""


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS")


def worker_threads(resources: dict[str, float], parallelism: int) -> int:
    """The CPU threads each worker computes with: the study's ``resources["cpu"]`` (rounded up), else
    ``$OMP_NUM_THREADS`` where the user set it, else the machine's cores shared among the ``parallelism`` workers,
    at least 1. Without a cap each worker's BLAS and PyTorch start
    one thread per core, and many workers on many cores then fight over far more threads than cores."""
    import math

    if "cpu" in resources:
        return max(1, math.ceil(resources["cpu"]))
    if (os.environ.get("OMP_NUM_THREADS") or "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])  # the user's own setting, for a study that does not say
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, parallelism))  # (the cores this process may use: a container's, not the host's)


def cap_threads(threads: int) -> None:
    """Hold this worker process to ``threads`` CPU threads: the thread variables that numeric libraries read when
    they load (set before the objective's module is imported), and PyTorch's pool if it is loaded already."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
