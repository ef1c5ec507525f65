"""The run loop: ask the sampler -> claim the trial in the database -> run it on a backend -> tell -> persist.

``Engine`` wires the parts, each with one job: the sampler's ``Mirror`` of the study, the ``Ledger`` of this
driver's trials in the database, the ``HalvingCoordinator`` of paused trials, the ``Heartbeat`` lease, the
constraints, the failure watch, Ctrl-C handling and the callbacks. The database is the source of truth.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from typing import Any

from autotune.backends import Backend, InProcessBackend, Job, ObjectiveRef
from autotune.database import (
    CONSTRAINTS,
    FsspecArtifactStore,
    StudyDatabase,
    TrialState,
    delete_external,
    feasible,
    sha256,
)
from autotune.engine._callbacks import RunCallbacks
from autotune.engine._constraints import Constraints
from autotune.engine._failures import FailureWatch
from autotune.engine._halving import HalvingCoordinator
from autotune.engine._heartbeat import Heartbeat, beat_interval
from autotune.engine._interrupts import Interrupts
from autotune.engine._ledger import Ledger
from autotune.engine._mirror import Mirror
from autotune.engine._running import Running, RunReport
from autotune.engine._seeds import resumed_seed, stored_params, warm_start_configs
from autotune.engine._tally import Tally
from autotune.errors import BrokenStudyError, ObjectiveContractError, StorageError
from autotune.objectives import PAUSE, Outcome
from autotune.search import LEARNS_FAILURES, HalvingPruner, make_sampler

TICK = 0.5  # seconds between housekeeping rounds while trials run
_log = logging.getLogger("autotune")


class Engine:
    """Runs ``study`` on ``backend`` until the study holds ``n_trials`` counted finished trials (or ``timeout``
    seconds passed). ``pruner``: the study's pruner, built (``search.make_pruner``)."""

    def __init__(self, study, db: StudyDatabase, backend: Backend, *, n_trials: int, timeout: float | None,
                 parallelism: int, pruner, progress=None) -> None:
        self.study, self.db, self.backend = study, db, backend
        self.n_trials, self.timeout, self.parallelism = n_trials, timeout, parallelism
        self.pruner = pruner
        self.progress = progress
        self.report = RunReport()
        self.heartbeat_every = beat_interval(study.stale_after)
        self.interrupts = Interrupts()
        self.jobs: dict[int, Job] = {}

    # -- what the progress line reads ----------------------------------------------------------------------
    @property
    def best(self) -> tuple[float, int] | None:
        return self.tally.best

    @property
    def counted_done(self) -> int:
        return self.tally.counted_done

    # -- set-up --------------------------------------------------------------------------------------------
    def _open(self) -> None:
        st = self.study
        # everything that can refuse the study's settings runs before the database changes
        self.constraints = Constraints(st.constraints) if st.constraints else None

        def sampler(seed: int | None):
            return make_sampler(st.sampler, st.space, seed=seed, n_trials=self.n_trials, parallelism=self.parallelism,
                                n_objectives=len(st.metrics),
                                constraints_func=self.constraints.of if self.constraints else None)

        self.sampler, self.sampler_name = sampler(st.seed)
        # the model-based samplers see failed trials as the worst finished one (see search._history)
        learn = isinstance(st.sampler, str) and self.sampler_name.removeprefix("auto:") in LEARNS_FAILURES
        if self.sampler_name == "grid":
            self.n_trials = min(self.n_trials, math.prod(len(v) for v in st.space.grid().values()))
        halving = self.pruner if isinstance(self.pruner, HalvingPruner) else None
        directions = ["minimize" if m == "min" else "maximize" for m in st.modes]
        import optuna

        self.mirror = Mirror(st.name, st.space, directions, self.sampler, learn_failures=learn,
                             pruner=optuna.pruners.NopPruner() if halving else self.pruner)
        self.store = FsspecArtifactStore(st.artifact_store) if st.artifact_store else None
        donor = None
        if st.warm_start_from:
            try:
                donor = self.db.get_study(st.warm_start_from)
            except StorageError as exc:
                raise StorageError(f"warm_start_from={st.warm_start_from!r}: {exc}") from None
        self.db.interrupted = lambda: self.interrupts.asked  # Ctrl-C while an outage is waited out ends the wait
        row, self.created = self.db.ensure_study(st.name, st.metrics, st.modes, st.space.to_dict(), st.n_trials)
        self.sid = row.id
        self.driver = self.db.register_driver(self.sid)
        self.ledger = Ledger(self.db, self.sid, self.driver, self.n_trials, keep_artifacts=st.keep_artifacts,
                             mode=st.modes[0], stale_after=st.stale_after)
        self.halving = HalvingCoordinator(halving, self.db, self.sid, self.driver, st)
        if st.seed is not None and isinstance(st.sampler, str):
            # a continued study, or one beside other drivers, is seeded anew (see resumed_seed); the QMC sampler
            # instead carries its sequence on
            others = self.db.other_drivers(self.sid, self.driver, st.stale_after)
            if self.sampler_name == "qmc" and not others:
                self.sampler.offset = max(0, row.next_number - 1)  # (its first trial was a random draw)
            elif row.next_number or others:
                self.sampler = sampler(resumed_seed(st.seed, row.next_number, self.driver, bool(others)))[0]
                self.mirror.use_sampler(self.sampler)
        self.ledger.fail_stale()
        # A study whose trials all failed (a broken study file, fixed since): its failures are set aside, kept but
        # no longer counted toward n_trials, so this run has the whole budget; and while no trial of this run has
        # run well, the first ones are watched for the same error (see FailureWatch)
        ran_well = self.db.ran_well(self.sid)
        alone = not self.db.other_drivers(self.sid, self.driver, st.stale_after)
        aside = self.db.set_failures_aside(self.sid) if not ran_well and alone else None
        if aside:
            warnings.warn(f"study {st.name!r}: none of its {aside} earlier trials ran well (all failed); they are "
                          "kept, but no longer count toward n_trials, so this run has the whole budget.",
                          UserWarning, stacklevel=2)
        self.watch = FailureWatch(st.name, watching=not ran_well)
        self.tally = Tally(st.modes)
        self._sync()
        # trials paused under halving, in a study resumed without it: proposals learn from them (see learn_paused)
        self.paused_at_open = halving is None and any(r.state == TrialState.PAUSED for r in self.db.running(self.sid))
        self._queue_first(donor)
        self.heartbeat = Heartbeat(self.db, self.driver, self.sid, every=self.heartbeat_every,
                                   stale_after=st.stale_after, study_name=st.name)
        self.heartbeat.start()

    def _queue_first(self, donor) -> None:
        """Queue the configurations to run first: the study file's enqueue=, and on a new study its warm start.
        Those some trial of the study already has (run before, or queued by a driver that joined a new study
        meanwhile) are not queued again, nor those beyond the budget (they would wait for ever)."""
        st = self.study
        seeds = list(st.enqueue)
        if self.created and donor:
            seeds += warm_start_configs(self.db, donor, st.space, st.warm_start_top)
        self.queued_here: list[int] = []  # what this run queued on a study it did not create (an abort takes it back)
        if not seeds:
            return
        queued, left_out = self.db.enqueue(self.sid, [stored_params(st.space, c) for c in seeds], only_new=True,
                                           budget=self.n_trials)
        self.queued_here = [] if self.created else queued
        if left_out:
            warnings.warn(f"study {st.name!r}: {left_out} of the configurations to run first (enqueue=, warm "
                          f"start) that no trial of it has tried do not fit in its budget of {self.n_trials} "
                          "trials, and were not queued; raise n_trials (or --n-trials) to run them.",
                          UserWarning, stacklevel=3)

    def _sync(self) -> None:
        for r in self.mirror.sync(self.db, self.sid):
            self.tally.count(r.state, r.counted, r.value if feasible(r.metrics) else None, r.number)

    # -- starting trials -----------------------------------------------------------------------------------
    def _start(self) -> Job | None:
        self.heartbeat.beat_if_overdue()
        peek = self.ledger.peek()
        if peek.log_seq > self.mirror.last_seq:
            self._sync()
        if peek.n_active >= self.n_trials:
            return self._continue_paused(peek.log_seq, starting=False)
        if self.halving.pruner is not None and self.halving.pruner.cohort is not None:
            # finish a cohort's halving before the next cohort starts
            job = self._continue_paused(peek.log_seq, starting=True)
            if job is not None:
                return job
        if peek.n_waiting:
            # (never a configuration queued again from a trial this driver still runs: taken over while it was
            # paused, it is kept or given up when it ends, see _taken_over)
            claimed = self.ledger.claim_waiting(not_retry_of=set(self.jobs))
            if claimed is not None:
                otrial = self.mirror.ask(claimed["params"])
                params, config = self.study.space.sample(otrial)
                return self._job(claimed["number"], otrial, config, "queue", True, claimed["attempt"])
        if self.halving.pruner is not None or self.paused_at_open:
            self.mirror.learn_paused(self.db, self.sid)
        grid = self.sampler_name == "grid"
        for _ in range(self.n_trials if grid else 1):
            otrial = self.mirror.ask()
            params, config = self.study.space.sample(otrial)
            if not isinstance(self.study.sampler, str):  # a sampler object may propose what the space excludes
                self._check_proposal(otrial, config)
            fallback = getattr(self.sampler, "fallback", None)  # a sampler that handed this ask to another says so
            origin = f"{self.sampler_name}>{fallback}" if fallback else self.sampler_name
            number = self.ledger.claim_new(params, origin, unique=grid)
            if number is None or number < 0:
                # the budget was taken meanwhile, or (grid) another driver holds this point: the sampler sees it
                # as visited and proposes another (never run: not learnt as a failure of its region)
                self.mirror.uncounted(otrial)
                self.mirror.tell(otrial, TrialState.FAIL, None, failure_learnt=False)
                if number is None:
                    return self._continue_paused(peek.log_seq, starting=False)
                continue
            return self._job(number, otrial, config, origin, False, 0)
        return None

    def _check_proposal(self, otrial, config: dict[str, Any]) -> None:
        from autotune.errors import ConfigError, SpaceError

        try:
            self.study.space.check_config(config, "configuration")
        except SpaceError as exc:
            self.mirror.tell(otrial, TrialState.FAIL, None, failure_learnt=False)
            raise ConfigError(f"the sampler {self.sampler_name} proposed a {str(exc).rstrip('.')}; a sampler object "
                              "must keep to the study's space (give fixed values inside their domains).") from None

    def _job(self, number: int, otrial, config, origin: str, queued: bool, attempt: int) -> Job:
        self.mirror.running(number, otrial)
        self.report.started += 1
        return Job(number, config, attempt=attempt, timeout=self.study.trial_timeout,
                   engine_state=Running(otrial, origin, queued, limit=self.halving.first_limit()))

    def _continue_paused(self, log_seq: int, starting: bool) -> Job | None:
        step = self.halving.step(log_seq, starting)
        for number, inter in step.pruned.items():
            self.tally.count(TrialState.PRUNED, True, None, number)  # (before the next sync: the progress counts it)
            self.callbacks.trial(self.sid, number)
            if self.progress:
                self.progress.trial_done(number, TrialState.PRUNED, [inter[-1][1]] if inter else None, None, self)
        if step.job is not None:
            self.mirror.known.add(step.job.number)
        return step.job

    # -- while trials run: the backend's handler -----------------------------------------------------------
    def objective_running(self, running: bool = True):
        return self.interrupts.objective_running(running)

    def on_report(self, job: Job, step: int, value: float) -> bool:
        with self.interrupts.objective_running(False):
            return self._on_report(job, step, value)

    def _on_report(self, job: Job, step: int, value: float) -> bool:
        run: Running = job.engine_state
        if step <= run.replayed_to:
            return False  # a continued objective that started over, repeating reports already stored
        run.intermediate.append([step, value])
        run.dirty = True
        # the pruner sees the report; in a multi-objective study (no pruner) it is only recorded, as a curve
        judged = math.isfinite(value) and run.otrial is not None and len(self.study.metrics) == 1
        if judged:
            run.otrial.report(value, step)
        if time.monotonic() - self._last_flush > self.heartbeat_every:
            self._flush()
        if run.limit is not None and len(run.intermediate) >= run.limit:
            run.pause_asked = True
            return PAUSE
        return judged and run.otrial.should_prune()

    def on_artifact(self, job: Job, name: str, data: bytes) -> None:
        job.engine_state.artifacts[name] = data

    def _flush(self) -> None:
        pending = {j.number: j.engine_state.intermediate for j in self.jobs.values() if j.engine_state.dirty}
        if pending:
            self.ledger.save_reports(pending)
            for n in pending:
                self.jobs[n].engine_state.dirty = False
        self._last_flush = time.monotonic()

    # -- finishing trials ----------------------------------------------------------------------------------
    def _finish(self, job: Job, outcome: Outcome) -> None:
        run: Running = job.engine_state
        if outcome.contract_error:
            raise ObjectiveContractError(f"trial {job.number}: {outcome.error}")
        st = self.study
        state = outcome.state
        if state == TrialState.PAUSED and not run.pause_asked:  # raised by the objective: nothing would continue it
            state = outcome.state = TrialState.FAIL.value
            outcome.error = ("the objective raised TrialPaused, but only the halving pruner pauses a trial (by the "
                             "answer to a report); raise at.TrialPruned to stop a trial")
        if state == TrialState.PAUSED:
            self._paused(job)
            return
        if self.constraints is not None and state == TrialState.COMPLETE:
            values = self.constraints.evaluate(job.number, outcome.metrics)
            if run.otrial is not None:  # a continued trial carries them in its metrics instead
                run.otrial.set_user_attr(CONSTRAINTS, values)
        requeue = None
        if state == TrialState.FAIL and job.attempt < st.max_retries:
            requeue = f"{outcome.error}; retried as trial {{new}} (attempt {job.attempt + 2} of {st.max_retries + 1})"
        values = outcome.values
        if state == TrialState.PRUNED and run.intermediate and len(st.metrics) == 1:
            values = [run.intermediate[-1][1]]
        artifacts = self._upload(job.number, run.artifacts) if state == TrialState.COMPLETE else run.artifacts
        number = job.number
        seq, requeued = self.ledger.finish(number, state, outcome, values=values, intermediate=run.intermediate,
                                           artifacts=artifacts, requeue=requeue)
        if (requeued is None) if requeue is not None else seq < 0:
            number, seq = self._taken_over(job, state, values, outcome, artifacts)
            if number is None:
                return
        if run.otrial is not None:
            if requeue:  # its configuration runs again: the failure is not learnt as the region's
                self.mirror.uncounted(run.otrial)
            self.mirror.tell(run.otrial, state, outcome.values)
        else:  # a continued trial: the sampler learns how it finished
            self.mirror.final_pending.discard(job.number)
            self.mirror.add_finished(number, run.params, state, values, run.intermediate, outcome.metrics,
                                     retried=requeue is not None)
        if seq == self.mirror.last_seq + 1:
            self.mirror.last_seq = seq
        if seq >= 0:
            ok = feasible(outcome.metrics)
            self.tally.count(state, True, values[0] if values and ok else None, number)
        self.report.finished += 1
        self.callbacks.trial(self.sid, number)
        if self.progress:
            self.progress.trial_done(number, state, values, outcome.error, self)
        self.watch.see(number, state, outcome.error, outcome.traceback)

    def _paused(self, job: Job) -> None:
        """A trial paused at its halving rung: stored so, and told to the sampler as pruned there."""
        run: Running = job.engine_state
        if self.ledger.pause(job.number, run.intermediate):
            if run.otrial is not None:
                self.mirror.tell(run.otrial, TrialState.PRUNED, None)
            elif run.intermediate:  # a continued trial paused again, a rung further: the sampler sees it there
                self.mirror.add_finished(job.number, run.params, TrialState.PRUNED, None, run.intermediate, None)
            self.mirror.final_pending.add(job.number)
        if self.progress:
            self.progress.trial_done(job.number, TrialState.PAUSED,
                                     [run.intermediate[-1][1]] if run.intermediate else None, None, self)

    def _upload(self, number: int, artifacts: dict[str, bytes]) -> dict[str, Any]:
        """A completed trial's artifacts, put in the artifact store when the study has one (the database keeps
        their addresses, sizes and checksums)."""
        if not artifacts or self.store is None:
            return artifacts
        return {name: (self.store.put(f"{self.study.name}/{number}/{name}", blob), len(blob), sha256(blob))
                for name, blob in artifacts.items()}

    def _taken_over(self, job: Job, state: str, values, outcome: Outcome, artifacts) -> tuple[int | None, int]:
        """A trial that ended after another driver took it over as stale (this driver was paused past
        ``stale_after``): its configuration was queued again. While that queued trial waits, this result is kept as
        it (no configuration runs twice); else it is given up. Returns ``(number kept as, finish_seq)``, or
        ``(None, -1)`` when given up -- never reported as the database's trial, which holds FAIL."""
        run: Running = job.engine_state
        kept = None
        # files already put in an external store under this number, which the database no longer holds as this
        # result: written again under the number it is kept as, and removed
        uploaded = [blob[0] for blob in (artifacts or {}).values() if isinstance(blob, tuple)]
        written: list[str] = []

        def upload_as(number: int) -> dict[str, Any]:
            stored = self._upload(number, run.artifacts)
            written.extend(blob[0] for blob in stored.values())
            return stored

        try:
            if state in (TrialState.COMPLETE, TrialState.PRUNED):
                self.heartbeat.beat_if_overdue()  # registered again first, or the claim looks stale to other drivers
                kept = self.ledger.keep_as_requeued(job.number, state, outcome, values=values,
                                                    intermediate=run.intermediate,
                                                    artifacts=upload_as if uploaded else artifacts)
        finally:
            left = delete_external(uploaded + (written if kept is None else []))
            if left:
                self._say(f"trial {job.number}: could not remove the artifact files {', '.join(left)}")
        if kept is not None:
            self.mirror.known.add(kept[0])
            if run.otrial is not None:
                self.mirror.latest.point(kept[0], run.otrial.number)
            self._say(f"trial {job.number} ended ({state}) after another driver took it over as stale; its result "
                      f"is kept as trial {kept[0]}, the same configuration queued again.")
            return kept
        if run.otrial is not None:  # its configuration's result comes from the trial that runs it again
            self.mirror.uncounted(run.otrial)
            self.mirror.tell(run.otrial, TrialState.FAIL, None)
        why = ("a failure is not kept: the trial queued in its place tries the configuration again"
               if state == TrialState.FAIL else "the trial queued in its place has started elsewhere, or the budget "
               "is full")
        self._say(f"trial {job.number} ended ({state}) after another driver took it over as stale; its result is "
                  f"discarded ({why}).")
        return None, -1

    def _say(self, message: str) -> None:
        """A notice for the user: a line beside the progress, else a warning of the ``autotune`` logger."""
        if self.progress is not None and hasattr(self.progress, "note"):
            self.progress.note(message)
        else:
            _log.warning(message)

    # -- the loop ------------------------------------------------------------------------------------------
    def run(self) -> RunReport:
        with self.interrupts.installed():
            return self._run()

    def _run(self) -> RunReport:

        inline = isinstance(self.backend, InProcessBackend)  # not a GPU-pinned worker at parallelism 1
        ref = (ObjectiveRef(tuple(self.study.metrics), self.study.name) if inline
               else ObjectiveRef.for_study(self.study))
        self.backend.start(ref, self)  # workers import the objective while the database is opened
        try:
            self._open()
        except BaseException:
            self.backend.shutdown(kill=True)
            raise
        self.callbacks = RunCallbacks(self.study, self.db)
        self._last_flush = time.monotonic()
        try:
            self.callbacks.start()
            self._loop()
        except KeyboardInterrupt:
            self.report.interrupted = True
            self._abandon("interrupted (Ctrl-C); configuration re-queued as trial {new}")
            raise
        except BaseException:
            self._abandon(None)
            raise
        finally:
            self._close()
            self.callbacks.end(sys.exc_info()[1])
        return self.report

    def _loop(self) -> None:
        deadline = time.monotonic() + self.timeout if self.timeout else None
        last_housekeeping = time.monotonic()
        while True:
            out_of_time = deadline is not None and time.monotonic() >= deadline
            if out_of_time:
                self.report.timed_out = True
            self.interrupts.check()
            while not out_of_time and self.backend.free_slots() > 0:
                job = self._start()
                if job is None:
                    break
                self.jobs[job.number] = job
                self.backend.submit(job)
            if self.progress:
                self.progress.tick(self)
            if not self.jobs:
                if out_of_time or self._study_done():
                    return
                time.sleep(TICK)  # the budget is held by other drivers' running trials: wait for them
                self.ledger.fail_stale()
                continue
            for job, outcome in self.backend.wait(TICK):
                self.jobs.pop(job.number, None)
                self._finish(job, outcome)
            if self.watch.verdict:  # (unless a trial of the batch ran well)
                raise BrokenStudyError(self.watch.verdict)
            self.interrupts.check()
            now = time.monotonic()
            if now - last_housekeeping > self.heartbeat_every:
                last_housekeeping = now
                self._flush()
                self.ledger.fail_stale()

    def _study_done(self) -> bool:
        peek = self.db.peek(self.sid)
        if peek.log_seq > self.mirror.last_seq:
            self._sync()
        if peek.n_active < self.n_trials:
            return False
        return not self.db.running(self.sid)  # nothing RUNNING, nothing PAUSED

    def _abandon(self, requeue_reason: str | None) -> None:
        """Leave nothing of this driver RUNNING: requeue (Ctrl-C) or release (an aborted run) its trials.
        A second Ctrl-C meanwhile only sets the flag again: the clean-up is a few quick writes."""
        self.interrupts.in_objective = False
        self.backend.shutdown(kill=True)
        # halving, or a trial once paused under it: cut short, it keeps its reports (and its checkpoint) and
        # continues when the study is resumed
        cut_short = {job.number: job.engine_state.intermediate for job in self.jobs.values()
                     if (self.halving.pruner or job.engine_state.otrial is None) and job.engine_state.intermediate}
        self.ledger.abandon(cut_short, requeue_reason, created=self.created, queued_here=self.queued_here)

    def _close(self) -> None:
        self.heartbeat.stop()
        self.backend.shutdown()
        self.ledger.close()
