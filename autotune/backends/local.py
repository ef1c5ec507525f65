"""The local backend: trials in the driver's own process (parallelism 1) or in K worker processes.

Workers are started with ``spawn``, import the objective from the study file once, and run one trial at a time.
Reports travel back over a pipe and wait for the driver's prune decision. A worker that dies (segfault,
``os._exit``, OOM kill) fails only its trial -- "worker died (signal 9)" -- and is replaced; a trial past its
``timeout`` has its worker killed.

A worker that dies while it starts (before it has loaded the objective) has run nothing: it is replaced and the
trial it was handed, if any, goes to the replacement, still RUNNING under its number. Only a slot whose worker
dies while starting ``START_TRIES`` times in a row stops the run, as does an objective that raises on loading in a
worker; either way the message says what happened in the worker.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection, wait

from autotune._leave import leave
from autotune.backends._base import Backend, Job, ObjectiveRef, cap_threads, worker_threads
from autotune.errors import AutotuneError, ConfigError, StudyFileError
from autotune.objectives import Outcome, Trial, run_objective


class _DirectChannel:
    def __init__(self, backend: Backend, job: Job) -> None:
        self.backend, self.job = backend, job

    def report(self, step: int, value: float) -> bool:
        return self.backend.handler.on_report(self.job, step, value)

    def artifact(self, name: str, data: bytes) -> None:
        self.backend.handler.on_artifact(self.job, name, data)


class InProcessBackend(Backend):
    """Runs each trial in the driver's process, one at a time: no start-up cost, nothing to pickle."""

    name = "local"

    def __init__(self, objective) -> None:
        super().__init__(1)
        self.objective = objective
        self.pending: list[Job] = []

    def free_slots(self) -> int:
        return 1 - len(self.pending)

    def submit(self, job: Job) -> None:
        self.pending.append(job)

    def wait(self, timeout: float) -> list[tuple[Job, Outcome]]:
        if not self.pending:
            time.sleep(timeout)
            return []
        job = self.pending.pop()
        trial = Trial(job.number, job.config, _DirectChannel(self, job), study_name=self.ref.study_name,
                      device=job.device, attempt=job.attempt, reports=job.reports)
        with self.handler.objective_running():
            outcome = run_objective(self.objective, trial, list(self.ref.metrics))
        return [(job, outcome)]


# -- worker processes --------------------------------------------------------------------------------------
class _PipeChannel:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def report(self, step: int, value: float) -> bool:
        self.conn.send(("report", step, value))
        return self.conn.recv()  # False, True (prune) or PAUSE

    def artifact(self, name: str, data: bytes) -> None:
        self.conn.send(("artifact", name, data))


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # the driver is gone (even kill -9): nobody wants our result
            os._exit(3)


START_TRIES = 3  # a slot's worker dying while starting this many times in a row stops the run


def _worker_main(conn: Connection, ref: ObjectiveRef, parent: int, gpus: tuple[str, ...], threads: int) -> None:
    try:
        _serve(conn, ref, parent, gpus, threads)
    except (BrokenPipeError, ConnectionResetError, EOFError):  # the driver is gone (killed): nobody to tell
        os._exit(3)


def _serve(conn: Connection, ref: ObjectiveRef, parent: int, gpus: tuple[str, ...], threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    if gpus:  # before the objective's module (and so CUDA) is loaded
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    cap_threads(threads)  # before too: BLAS and PyTorch size their thread pools when they load
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    conn.send(("alive",))  # past Python's own start-up (which re-imports the driver's main module under spawn)
    try:
        objective = ref.load()
        cap_threads(threads)  # PyTorch, loaded by the study file, takes the cap for its pool as well
    except BaseException as exc:  # noqa: BLE001 - reported to the driver, which stops the run
        text = str(exc) if isinstance(exc, AutotuneError) else f"{type(exc).__name__}: {exc}"
        conn.send(("load_error", text))
        return
    metrics = list(ref.metrics)
    conn.send(("ready",))
    while True:
        msg = conn.recv()
        if msg is None:  # the run is over: nothing left to save, and the driver waits for this process to end
            leave(0)
        number, config, attempt, device, reports = msg
        trial = Trial(number, config, _PipeChannel(conn), study_name=ref.study_name, device=device,
                      attempt=attempt, reports=reports)
        conn.send(("done", run_objective(objective, trial, metrics)))


class _Worker:
    def __init__(self, ctx, ref: ObjectiveRef, gpus: tuple[str, ...] = (), start_deaths: tuple[str, ...] = (),
                 threads: int = 1) -> None:
        self.gpus, self.threads = gpus, threads
        self.start_deaths = start_deaths  # how this slot's previous workers died while starting, in a row
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, ref, os.getpid(), gpus, threads), daemon=True,
                                name="autotune-worker")
        self.proc.start()
        child.close()
        self.job: Job | None = None
        self.alive = False  # it reached autotune's worker code
        self.ready = False  # it loaded the objective: from now on a job sent to it runs
        self.deadline: float | None = None
        self.started = 0.0

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()


def _death_cause(code: int | None) -> str:
    if code is None:
        return "no exit status"
    return f"signal {-code}" if code < 0 else f"exit code {code}"


def _death_reason(code: int | None) -> str:
    return "worker died" if code is None else f"worker died ({_death_cause(code)})"


class ProcessBackend(Backend):
    """Runs up to ``parallelism`` trials at once, each in a worker process of its own."""

    name = "local"

    def __init__(self, parallelism: int, gpu_slots: list[tuple[str, ...]] | None = None, threads: int = 1) -> None:
        super().__init__(parallelism)
        self.ctx = mp.get_context("spawn")
        self.gpu_slots = gpu_slots or [()] * parallelism
        self.threads = threads  # CPU threads per worker (see worker_threads)
        self.workers: list[_Worker] = []

    def start(self, ref: ObjectiveRef, handler) -> None:
        super().start(ref, handler)
        self.workers = [_Worker(self.ctx, ref, self.gpu_slots[i], threads=self.threads) for i in range(self.slots)]

    def free_slots(self) -> int:
        return sum(w.job is None for w in self.workers)

    def submit(self, job: Job) -> None:
        self._assign(next(w for w in self.workers if w.job is None), job)

    def _assign(self, worker: _Worker, job: Job) -> None:
        worker.job, worker.started = job, time.monotonic()
        worker.deadline = worker.started + job.timeout if job.timeout else None
        job.gpus = worker.gpus
        job.device = "cuda:0" if worker.gpus else "cpu"
        try:
            worker.conn.send((job.number, job.config, job.attempt, job.device, job.reports))
        except (BrokenPipeError, OSError):
            pass  # the worker is already dead; wait() sees its sentinel and reports the death

    def _replace(self, worker: _Worker, start_deaths: tuple[str, ...] = ()) -> _Worker:
        worker.kill()
        new = _Worker(self.ctx, self.ref, worker.gpus, start_deaths, threads=self.threads)
        self.workers[self.workers.index(worker)] = new
        return new

    def wait(self, timeout: float) -> list[tuple[Job, Outcome]]:
        busy = [w for w in self.workers if w.job is not None]
        if not busy:
            time.sleep(timeout)
            return []
        # idle workers still starting are watched too: one that dies or cannot load the objective is seen now
        watched = busy + [w for w in self.workers if w.job is None and not w.ready]
        now = time.monotonic()
        deadlines = [w.deadline - now for w in busy if w.deadline is not None]
        limit = max(0.0, min([timeout, *deadlines]))
        by_key = {}
        for w in watched:
            by_key[w.conn] = w
            by_key[w.proc.sentinel] = w
        ready = wait(list(by_key), limit)
        finished: list[tuple[Job, Outcome]] = []
        for w in dict.fromkeys(by_key[key] for key in ready):  # each worker once, though both its keys be ready
            job = w.job
            outcome = self._service(w)
            if outcome is not None and job is not None:
                finished.append((job, outcome))
                self._release(w, outcome)
        now = time.monotonic()
        for w in busy:
            if w.job is not None and w.deadline is not None and now >= w.deadline:
                outcome = Outcome.fail(f"timed out after {w.job.timeout:g} s")
                finished.append((w.job, outcome))
                w.job = None
                self._replace(w)
        return finished

    def _release(self, w: _Worker, outcome: Outcome) -> None:
        dead = outcome.error is not None and outcome.error.startswith("worker died")
        w.job = None
        if dead:
            self._replace(w)

    def _died(self, w: _Worker) -> Outcome | None:
        """A worker's death: the failure of its trial, or (dead while starting: nothing ran) None, the worker
        replaced and its trial handed to the replacement."""
        w.proc.join(1)
        if w.ready:
            return Outcome.fail(_death_reason(w.proc.exitcode))
        deaths = (*w.start_deaths, _death_cause(w.proc.exitcode))
        if len(deaths) >= START_TRIES:
            raise StudyFileError(self._start_failure(w, deaths))
        job, w.job = w.job, None
        new = self._replace(w, deaths)
        if job is not None:  # it never reached the objective: the trial runs in the replacement instead
            self._assign(new, job)
        return None

    def _start_failure(self, w: _Worker, deaths: tuple[str, ...]) -> str:
        how = f"{deaths[0]}, each time" if len(set(deaths)) == 1 else "; ".join(deaths)
        if not w.alive:  # before _worker_main ran: in Python's spawn start-up, which re-imports the main module
            text = (f"worker processes died {len(deaths)} times in a row while Python started them ({how}), "
                    "before they reached the objective; the run stopped.")
            main = sys.modules.get("__main__")
            script = getattr(main, "__file__", None)
            if script and getattr(getattr(main, "__spec__", None), "name", None) != "autotune.cli":
                text += (f" Python's spawn start-up imports the driver's script {script} again in each worker: if "
                         "that script calls study.run(), put the call under `if __name__ == '__main__':`.")
            return text
        what = f"study file {self.ref.file}" if self.ref.file else "the objective (sent by value)"
        return (f"worker processes died {len(deaths)} times in a row while loading {what} ({how}), before they "
                "could run a trial; the run stopped. Loading did not raise an exception (that would be shown "
                "here): the process was killed, or ended itself during the import (os._exit, a crash in a compiled "
                "module).")

    def _service(self, w: _Worker) -> Outcome | None:
        """Drain a worker's messages; an Outcome once its trial ended, or None while it still runs (or started
        over in a replacement)."""
        job = w.job
        while True:
            try:
                if not w.conn.poll(0):
                    if w.proc.is_alive():
                        return None
                    if not w.conn.poll(0):  # what it sent before it died is in the pipe by now
                        return self._died(w)
                msg = w.conn.recv()
            except (EOFError, OSError):
                return self._died(w)
            kind = msg[0]
            if kind == "alive":
                w.alive = True
            elif kind == "ready":
                w.ready, w.start_deaths = True, ()
            elif kind == "report":
                try:
                    prune = self.handler.on_report(job, msg[1], msg[2])
                    w.conn.send(prune)
                except (BrokenPipeError, OSError):
                    pass
            elif kind == "artifact":
                self.handler.on_artifact(job, msg[1], msg[2])
            elif kind == "done":
                return msg[1]
            elif kind == "load_error":
                raise StudyFileError(f"a worker process could not load the objective: {msg[1]}")

    def shutdown(self, kill: bool = False) -> None:
        for w in self.workers:
            if not kill and w.job is None and w.proc.is_alive():
                try:
                    w.conn.send(None)
                except (BrokenPipeError, OSError):
                    pass
        deadline = time.monotonic() + (0 if kill else 2)
        for w in self.workers:
            w.proc.join(max(0.0, deadline - time.monotonic()))
            w.kill()
        self.workers = []


def visible_gpus() -> list[str]:
    """GPU ids this machine offers: ``$AUTOTUNE_GPUS`` (an override, e.g. "0,1"), else ``$CUDA_VISIBLE_DEVICES``,
    else what ``nvidia-smi -L`` lists."""
    for var in ("AUTOTUNE_GPUS", "CUDA_VISIBLE_DEVICES"):
        value = os.environ.get(var)
        if value is not None:
            return [g.strip() for g in value.split(",") if g.strip() and g.strip() != "-1"]
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, _ in enumerate(row for row in out.splitlines() if row.startswith("GPU "))]


def assign_gpus(gpus: list[str], per_trial: float, parallelism: int) -> list[tuple[str, ...]]:
    """The GPUs of each worker slot: ``per_trial`` whole GPUs each, or a share of one (0.5: two slots a GPU).

    >>> assign_gpus(["0", "1"], 1, 2)
    [('0',), ('1',)]
    >>> assign_gpus(["0"], 0.5, 2)
    [('0',), ('0',)]
    """
    if per_trial <= 0:
        return [()] * parallelism
    if per_trial >= 1:
        if per_trial != int(per_trial):
            raise ConfigError(f"resources gpu={per_trial:g}: above 1, a trial takes whole GPUs; use 1, 2, ...")
        k = int(per_trial)
        slots = [tuple(gpus[i * k:(i + 1) * k]) for i in range(len(gpus) // k)]
    else:
        share = int(1 / per_trial + 1e-9)
        slots = [(g,) for g in gpus for _ in range(share)]
    if len(slots) < parallelism:
        need = parallelism * per_trial
        raise ConfigError(f"parallelism {parallelism} with resources gpu={per_trial:g} per trial needs "
                          f"{need:g} GPU{'s' if need > 1 else ''}, but {len(gpus)} {'is' if len(gpus) == 1 else 'are'}"
                          f" visible ({', '.join(gpus) or 'none'}); lower parallelism or the per-trial gpu "
                          f"(the study's resources, or autotune run --gpu).")
    return slots[:parallelism]


def make_local_backend(study, parallelism: int) -> Backend:
    """In-process for parallelism 1 (unless a per-trial timeout or a GPU needs a worker); processes otherwise."""
    gpu = float(study.resources.get("gpu", 0))
    if parallelism == 1 and study.trial_timeout is None and gpu == 0:
        return InProcessBackend(study.objective)
    return ProcessBackend(parallelism, assign_gpus(visible_gpus(), gpu, parallelism) if gpu else None,
                          threads=worker_threads(study.resources, parallelism))
