"""The study engine: ask the sampler -> claim the trial in the database -> run it on a backend -> tell -> persist.

The sampler and pruner work on an in-memory Optuna study that mirrors the database: this driver's trials are
told directly, other drivers' finished trials are read back in commit order (``finish_seq``) whenever the study
row says something new finished. The database is the source of truth; the mirror only makes asking cheap.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from autotune.backends import Backend, InProcessBackend, Job, ObjectiveRef
from autotune.database import StudyDatabase
from autotune.database._artifacts import FsspecArtifactStore, sha256
from autotune.database._database import CONSTRAINTS, FEASIBLE, FINISHED, feasible
from autotune.errors import BrokenStudyError, ObjectiveContractError, StorageError
from autotune.objectives import Outcome, _checkpoints
from autotune.objectives._contract import PAUSE, PAUSED, _as_real
from autotune.search._halving import HalvingPruner, plan
from autotune.search._history import UNCOUNTED, Latest, LatestOnly
from autotune.search._plugins import LEARNS_FAILURES, make_pruner, make_sampler

TICK = 0.5  # seconds between housekeeping rounds while trials run
_log = logging.getLogger("autotune")


@dataclass
class _Running:
    otrial: Any  # None for a continued (once paused) trial: it reaches the sampler as a new entry when it finishes
    origin: str
    queued: bool
    intermediate: list[list[float]] = field(default_factory=list)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    dirty: bool = False
    limit: int | None = None  # halving: pause once the trial holds this many reports
    replayed_to: int = -1  # a continued trial's last stored step: an objective that starts over repeats them
    params: dict[str, Any] | None = None  # a continued trial's stored params
    pause_asked: bool = False  # the engine answered a report with PAUSE (an objective may not pause on its own)


@dataclass
class RunReport:
    """What one ``run`` did (the study's full state lives in the database)."""

    started: int = 0
    finished: int = 0
    interrupted: bool = False
    timed_out: bool = False


class Engine:
    def __init__(self, study, db: StudyDatabase, backend: Backend, *, n_trials: int, timeout: float | None,
                 parallelism: int, progress=None) -> None:
        self.study, self.db, self.backend = study, db, backend
        self.n_trials, self.timeout, self.parallelism = n_trials, timeout, parallelism
        self.progress = progress
        self.report = RunReport()
        self.heartbeat_every = max(0.5, min(10.0, study.stale_after / 6))

    # -- set-up --------------------------------------------------------------------------------------------
    def _open(self) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", module="optuna")
        st = self.study
        # everything that can refuse the study's settings runs before the database changes
        self.n_constraints = 1

        def sampler(seed: int | None):
            return make_sampler(st.sampler, st.space, seed=seed, n_trials=self.n_trials, parallelism=self.parallelism,
                                n_objectives=len(st.metrics),
                                constraints_func=self._constraints_of if st.constraints else None)

        self.sampler, self.sampler_name = sampler(st.seed)
        # the model-based samplers see failed trials as the worst finished one (see search._history)
        learn = isinstance(st.sampler, str) and self.sampler_name.removeprefix("auto:") in LEARNS_FAILURES
        if self.sampler_name == "grid":
            self.n_trials = min(self.n_trials, math.prod(len(v) for v in st.space.grid().values()))
        directions = ["minimize" if m == "min" else "maximize" for m in st.modes]
        pruner = make_pruner(st.pruner)
        self.halving = pruner if isinstance(pruner, HalvingPruner) else None
        # Paused trials reach the sampler at once, as pruned at their rung (so a study's later proposals learn from
        # the first rung, as they would learn from finished trials without halving), and again when they finish:
        # these are the ones whose final entry is still to come.
        self.final_pending: set[int] = set()
        self._idle_plan: tuple | None = None  # halving: the state in which the last plan decided nothing
        # the sampler learns from each trial's latest entry only (a paused trial is told again when it finishes)
        self.latest = Latest()
        self.ostudy = optuna.create_study(directions=directions, sampler=LatestOnly(self.sampler, self.latest, learn),
                                          pruner=optuna.pruners.NopPruner() if self.halving else pruner,
                                          study_name=st.name)
        self.store = FsspecArtifactStore(st.artifact_store) if st.artifact_store else None
        donor = None
        if st.warm_start_from:
            try:
                donor = self.db.get_study(st.warm_start_from)
            except StorageError as exc:
                raise StorageError(f"warm_start_from={st.warm_start_from!r}: {exc}") from None
        self.db.interrupted = lambda: self._sigint  # Ctrl-C while an outage is waited out ends the wait
        self.row, self.created = self.db.ensure_study(st.name, st.metrics, st.modes, st.space.to_dict(),
                                                      st.n_trials)
        self.sid = self.row.id
        self.driver = self.db.register_driver(self.sid)
        if st.seed is not None and isinstance(st.sampler, str):
            # Seeded as at first, the sampler of a study continued with its seed would propose the first run's
            # configurations again (its random start-up draws them in the same order), and two drivers started
            # together with one seed would propose the same ones. A continued run is seeded by the seed and the
            # number of trials the study holds (so it differs from the first and is still reproducible), a driver
            # beside others by its own id as well; the QMC sampler instead carries its sequence on.
            import numpy as np

            others = self.db.other_drivers(self.sid, self.driver, st.stale_after)
            if self.sampler_name == "qmc" and not others:
                self.sampler.offset = max(0, self.row.next_number - 1)  # (its first trial was a random draw)
            elif self.row.next_number or others:
                entropy = [st.seed, self.row.next_number] + ([int(self.driver[:8], 16)] if others else [])
                resumed = int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)
                self.sampler = sampler(resumed)[0]
                self.ostudy.sampler = LatestOnly(self.sampler, self.latest, learn)
        self.db.fail_stale(self.sid, st.stale_after, self.driver)
        # A study whose trials all failed (a broken study file, fixed since): its failures are set aside, kept but
        # no longer counted toward n_trials, so this run has the whole budget; and while no trial of this run has
        # run well, the first ones are watched for the same error (see _watch_failures)
        ran_well = self.db.ran_well(self.sid)
        alone = not self.db.other_drivers(self.sid, self.driver, st.stale_after)
        aside = self.db.set_failures_aside(self.sid) if not ran_well and alone else None
        if aside:
            warnings.warn(f"study {st.name!r}: none of its {aside} earlier trials ran well (all failed); they are "
                          "kept, but no longer count toward n_trials, so this run has the whole budget.",
                          UserWarning, stacklevel=2)
        self.first_failures: list[tuple[int, str, str | None]] | None = None if ran_well else []
        self.broken: str | None = None  # the message of a run to stop once the batch of outcomes is recorded
        self.known: set[int] = set()
        self.last_seq = 0
        self.best: tuple[float, int] | None = None
        self.counted_done = 0
        self.counted_numbers: set[int] = set()  # a trial is counted once, by _finish or by _sync, whichever is first
        self.snapshot = None  # the study's counters as the last write returned them: saves a read per trial
        self._sync()
        # trials paused under halving, in a study resumed without it: proposals learn from them (see _learn_paused)
        self.paused_at_open = self.halving is None and any(r.state == "PAUSED" for r in self.db.running(self.sid))
        # configurations to run first: the study file's enqueue=, and on a new study its warm start. Those some trial
        # of the study already has (run before, or queued by a driver that joined a new study meanwhile) are not
        # queued again, nor those beyond the budget (they would wait for ever)
        seeds = list(st.enqueue) + (self._warm_start(donor) if self.created and donor else [])
        self.queued_here: list[int] = []  # what this run queued on a study it did not create (an abort takes it back)
        if seeds:
            queued, left_out = self.db.enqueue(self.sid, [self._params_of(c) for c in seeds], only_new=True,
                                               budget=self.n_trials)
            self.queued_here = [] if self.created else queued
            if left_out:
                warnings.warn(f"study {st.name!r}: {left_out} of the configurations to run first (enqueue=, warm "
                              f"start) that no trial of it has tried do not fit in its budget of {self.n_trials} "
                              "trials, and were not queued; raise n_trials (or --n-trials) to run them.",
                              UserWarning, stacklevel=2)
        self.last_beat = time.time()  # wall time: a process stopped or suspended sees it move on
        self._stop_beat, self._beat_lock = threading.Event(), threading.Lock()
        self._beat = threading.Thread(target=self._heartbeat, name="autotune-heartbeat", daemon=True)
        self._beat.start()

    def _warm_start(self, donor) -> list[dict[str, Any]]:
        """The best configurations of an earlier study that fit this study's space."""
        from autotune.errors import SpaceError

        done = [r for r in self.db.all_trials(donor.id) if r.state == "COMPLETE" and r.value is not None]
        done.sort(key=lambda r: r.value if donor.modes[0] == "min" else -r.value)
        picked = []
        for r in done:
            config = _loads(r.params)
            try:
                self.study.space.check_config(config)
            except SpaceError:
                continue  # outside this study's space
            if config not in picked:
                picked.append(config)
            if len(picked) == self.study.warm_start_top:
                break
        return picked

    def _params_of(self, config: dict[str, Any]) -> dict[str, Any]:
        """Stored params for an enqueued config (categorical values encoded as the sampler sees them)."""
        from optuna.trial import FixedTrial

        return self.study.space.sample(FixedTrial(self._encode(config)))[0]

    def _encode(self, config: dict[str, Any]) -> dict[str, Any]:
        from autotune.spaces import Categorical

        flat = self.study.space._flat
        out = {}
        for k, v in config.items():
            dom = flat.get(k)
            out[k] = dom.values.index(v) if isinstance(dom, Categorical) and dom.by_index else v
        return out

    def _constraints_of(self, ftrial) -> list[float]:
        """What the samplers read: the constraint values the driver computed (pruned trials count as feasible)."""
        return ftrial.user_attrs.get(CONSTRAINTS, [0.0] * self.n_constraints)

    def _evaluate_constraints(self, job: Job, outcome: Outcome) -> None:
        try:
            raw = self.study.constraints(dict(outcome.metrics))
        except Exception as exc:  # noqa: BLE001 - a bug in the study file: stop, as for a bad return value
            raise ObjectiveContractError(f"trial {job.number}: the constraints function failed on "
                                         f"{outcome.metrics}: {type(exc).__name__}: {exc}") from None
        values = _constraint_values(raw)
        if values is None:
            raise ObjectiveContractError(
                f"trial {job.number}: the constraints function returned {raw!r} for {outcome.metrics}; return a "
                "number or a list of numbers, each <= 0 when the trial is feasible (a condition such as "
                "latency < 20 is written latency - 20).")
        self.n_constraints = len(values)
        outcome.metrics[CONSTRAINTS] = values
        outcome.metrics[FEASIBLE] = all(v <= 0 for v in values)
        if job.engine_state.otrial is not None:  # a continued trial carries them in its metrics instead
            job.engine_state.otrial.set_user_attr(CONSTRAINTS, values)

    def _heartbeat(self) -> None:
        while not self._stop_beat.wait(self.heartbeat_every):
            try:
                self._beat_now()
            except Exception:  # noqa: BLE001 - a missed beat is retried; the grace period absorbs a few
                pass

    def _beat_now(self) -> None:
        """Beat (the heartbeat thread's job; the loop's too, before it claims a trial after a long silence: a
        process paused past ``stale_after`` must be registered again first). One beat at a time; none registers
        the driver again once the run is closing."""
        with self._beat_lock:
            if self._stop_beat.is_set():
                return
            before = self.last_beat
            again = self.db.heartbeat(self.driver, self.sid)
            self.last_beat = time.time()
        if again:
            _log.warning(f"study {self.study.name!r}: this driver was silent for {time.time() - before:.0f} s "
                         f"(paused, suspended or swapping) beyond stale_after={self.study.stale_after:g} s, and "
                         "another driver took its running trials over; it registered again and goes on.")

    def _beat_if_overdue(self) -> None:
        if time.time() - self.last_beat > 2 * self.heartbeat_every + 1:
            self._beat_now()  # silent for long (this process was paused?): registered again before claiming

    # -- mirroring the database into the sampler's view ---------------------------------------------------
    def _sync(self) -> None:
        rows = self.db.trials_since(self.sid, self.last_seq)
        new = []
        for r in rows:
            self.last_seq = max(self.last_seq, r.finish_seq)
            self._count(r.state, r.counted, r.value if feasible(r.metrics) else None, r.number)
            if r.number in self.final_pending and r.state in FINISHED:  # pruned at its rung (by any driver)
                self.final_pending.discard(r.number)
                self.known.discard(r.number)  # added below with all its reports
            if r.number in self.known:
                continue
            self.known.add(r.number)
            with contextlib.suppress(ValueError):  # a configuration outside today's space cannot inform the sampler
                new.append((r.number, self._entry(r.state, _loads(r.objective_values), _loads(r.params),
                                                  _loads(r.intermediate), (_loads(r.metrics) or {}).get(CONSTRAINTS),
                                                  retried=not r.counted)))
        self._add_entries(new)

    def _learn_paused(self) -> None:
        """Trials paused by another driver, or by a run before this one, reach the sampler as this driver's own
        do: pruned at their rung, until they finish."""
        unknown = {r.number for r in self.db.running(self.sid) if r.state == "PAUSED" and r.number not in self.known}
        if not unknown:
            return  # (one small query; params and reports only for trials this driver has not seen)
        new = []
        for r in self.db.paused(self.sid, unknown):
            reports = _loads(r.intermediate)
            if reports:
                with contextlib.suppress(ValueError):  # a configuration outside today's space: nothing to learn
                    new.append((r.number, self._entry("PRUNED", None, _loads(r.params), reports)))
        self._add_entries(new)
        for number, _ in new:
            self.known.add(number)
            self.final_pending.add(number)

    def _entry(self, state: str, values, params: dict[str, Any], reports, cons=None, retried: bool = False):
        """A trial as the sampler's in-memory study holds it (a pruned or paused one with its last finite report as
        its value; a failed one whose configuration runs again marked so). ValueError: the configuration is outside
        today's space."""
        import optuna
        from optuna.trial import TrialState

        inter = {int(s): v for s, v in reports or []}
        if state == "PRUNED":
            values = _rung_value(inter, len(self.study.metrics))
        system = {"constraints": cons} if cons is not None else {}
        if state == "FAIL":
            self.ostudy.sampler.failed = True
            if retried:
                system[UNCOUNTED] = True
        return optuna.trial.create_trial(
            state=TrialState[state], values=None if state == "FAIL" else values, params=params,
            distributions=self.study.space.distributions_for(params), intermediate_values=inter,
            user_attrs={CONSTRAINTS: cons} if cons is not None else None, system_attrs=system or None)

    def _add_entries(self, numbered: list[tuple[int, Any]]) -> None:
        """Add ``(trial number, entry)`` pairs to the in-memory study, each entry replacing the trial's earlier one
        in the sampler's view."""
        if numbered:
            first = self.ostudy._storage.get_n_trials(self.ostudy._study_id)  # the number the next entry gets
            self.ostudy.add_trials([entry for _, entry in numbered])
            for k, (number, _) in enumerate(numbered):
                self.latest.point(number, first + k)

    def _count(self, state: str, counted: bool, value: float | None, number: int) -> None:
        if state in FINISHED and counted and number not in self.counted_numbers:
            self.counted_numbers.add(number)
            self.counted_done += 1
        if state == "COMPLETE" and value is not None and len(self.study.metrics) == 1:
            key = value if self.study.modes[0] == "min" else -value
            if self.best is None or (key, number) < (self.best[0], self.best[1]):
                self.best = (key, number)

    # -- starting and finishing trials ----------------------------------------------------------------------
    def _start(self) -> Job | None:
        from optuna.trial import TrialState

        self._beat_if_overdue()
        peek, self.snapshot = self.snapshot or self.db.peek(self.sid), None
        if peek.log_seq > self.last_seq:
            self._sync()
        if peek.n_active >= self.n_trials:
            return self._continue_paused(peek.log_seq, starting=False)
        if self.halving is not None and self.halving.cohort is not None:
            # finish a cohort's halving before the next cohort starts
            job = self._continue_paused(peek.log_seq, starting=True)
            if job is not None:
                return job
        if peek.n_waiting:
            # (never a configuration queued again from a trial this driver still runs: taken over while it was
            # paused, it is kept or given up when it ends, see _taken_over)
            claimed = self.db.claim_waiting(self.sid, self.driver, self.n_trials, not_retry_of=set(self.jobs))
            if claimed is not None:
                self.ostudy.enqueue_trial(claimed["params"], skip_if_exists=False)
                otrial = self.ostudy.ask()
                params, config = self.study.space.sample(otrial)
                return self._job(claimed["number"], otrial, config, "queue", True, claimed["attempt"])
        if self.halving is not None or self.paused_at_open:
            self._learn_paused()
        grid = self.sampler_name == "grid"
        for _ in range(self.n_trials if grid else 1):
            otrial = self.ostudy.ask()
            params, config = self.study.space.sample(otrial)
            if not isinstance(self.study.sampler, str):  # a sampler object may propose what the space excludes
                self._check_proposal(otrial, config)
            fallback = getattr(self.sampler, "fallback", None)  # a sampler that handed this ask to another says so
            origin = f"{self.sampler_name}>{fallback}" if fallback else self.sampler_name
            number, self.snapshot = self.db.claim_new(self.sid, self.driver, self.n_trials, params, origin,
                                                      unique=grid)
            if number is None or number < 0:
                # the budget was taken meanwhile, or (grid) another driver holds this point: the sampler sees it
                # as visited and proposes another (never run: not learnt as a failure of its region)
                self.ostudy._storage.set_trial_system_attr(otrial._trial_id, UNCOUNTED, True)
                self.ostudy.tell(otrial, state=TrialState.FAIL)
                if number is None:
                    return self._continue_paused(peek.log_seq, starting=False)
                continue
            return self._job(number, otrial, config, origin, False, 0)
        return None

    def _check_proposal(self, otrial, config: dict[str, Any]) -> None:
        from optuna.trial import TrialState

        from autotune.errors import ConfigError, SpaceError

        try:
            self.study.space.check_config(config, "configuration")
        except SpaceError as exc:
            self.ostudy.tell(otrial, state=TrialState.FAIL)
            raise ConfigError(f"the sampler {self.sampler_name} proposed a {str(exc).rstrip('.')}; a sampler object "
                              "must keep to the study's space (give fixed values inside their domains).") from None

    def _job(self, number: int, otrial, config, origin: str, queued: bool, attempt: int) -> Job:
        self.known.add(number)
        self.latest.point(number, otrial.number)
        self.report.started += 1
        limit = self.halving.rung(0) if self.halving else None
        return Job(number, config, attempt=attempt, timeout=self.study.trial_timeout,
                   engine_state=_Running(otrial, origin, queued, limit=limit))

    def _continue_paused(self, log_seq: int, starting: bool) -> Job | None:
        """Halving: prune the paused trials that lost at their rung, continue one that won (or, for a study
        paused under the halving pruner and resumed without it, any paused trial, to its end). ``log_seq``: the
        study's finish sequence as the caller last read it."""
        from optuna.trial import FixedTrial

        running = self.db.running(self.sid)
        if not any(r.state == "PAUSED" for r in running):
            return None  # (one small query; the full read below only for studies with paused trials)
        # the plan depends on which trials are running or paused, on the finished ones, and on whether new trials
        # may start: while none of these changed since a plan that decided nothing, skip the full read
        key = (tuple(sorted((r.number, r.state) for r in running)), log_seq, starting)
        if key == self._idle_plan:
            return None
        rows = self.db.all_trials(self.sid)
        decided = plan(self.halving, rows, 1.0 if self.study.modes[0] == "min" else -1.0, starting)
        self._idle_plan = key if not (decided.prune or decided.promote) else None
        by_number = {r.number: r for r in rows}
        if decided.prune:
            pruned = self.db.prune_paused(self.sid, {n: by_number[n].intermediate for n in decided.prune})
            forgetters = _checkpoints.forgetters(self.study.objective)  # e.g. the torch objective's checkpoint
            for number in pruned:
                if forgetters:
                    config = self.study.space.sample(FixedTrial(_loads(by_number[number].params)))[1]
                    for forget in forgetters:
                        with contextlib.suppress(Exception):
                            forget(self.study.name, config)
                self._count("PRUNED", True, None, number)  # (before the next sync: the progress line counts it)
                self._callbacks_trial(number)
                if self.progress:
                    inter = _loads(by_number[number].intermediate)
                    self.progress.trial_done(number, "PRUNED", [inter[-1][1]] if inter else None, None, self)
        for number, to in decided.promote:
            row = self.db.resume_paused(self.sid, number, self.driver, by_number[number].intermediate)
            if row is None:
                continue  # another driver continued it first
            params = _loads(row.params)
            config = self.study.space.sample(FixedTrial(params))[1]
            inter = _loads(row.intermediate) or []
            self.known.add(number)
            run = _Running(None, row.origin, row.origin == "queue", intermediate=inter,
                           limit=to, replayed_to=int(inter[-1][0]) if inter else -1, params=params)
            return Job(number, config, attempt=row.attempt, timeout=self.study.trial_timeout, engine_state=run,
                       reports=[list(r) for r in inter])
        return None

    def on_report(self, job: Job, step: int, value: float) -> bool:
        with self.objective_running(False):
            return self._on_report(job, step, value)

    def _on_report(self, job: Job, step: int, value: float) -> bool:
        run: _Running = job.engine_state
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
            self.db.save_intermediate(self.sid, pending)
            for n in pending:
                self.jobs[n].engine_state.dirty = False
        self._last_flush = time.monotonic()

    def _finish(self, job: Job, outcome: Outcome) -> None:
        run: _Running = job.engine_state
        if outcome.contract_error:
            raise ObjectiveContractError(f"trial {job.number}: {outcome.error}")
        st = self.study
        state = outcome.state
        if state == PAUSED and not run.pause_asked:  # raised by the objective itself: nothing would continue it
            state = outcome.state = "FAIL"
            outcome.error = ("the objective raised TrialPaused, but only the halving pruner pauses a trial (by the "
                             "answer to a report); raise at.TrialPruned to stop a trial")
        if state == PAUSED:
            if self.db.pause(self.sid, job.number, self.driver, run.intermediate):
                if run.otrial is not None:
                    self._tell(run.otrial, "PRUNED", None)
                elif run.intermediate:  # a continued trial paused again, a rung further: the sampler sees it there
                    self._add_finished(job.number, run.params, "PRUNED", None, run.intermediate, None)
                self.final_pending.add(job.number)
            if self.progress:
                self.progress.trial_done(job.number, state, [run.intermediate[-1][1]] if run.intermediate else None,
                                         None, self)
            return
        if st.constraints is not None and state == "COMPLETE":
            self._evaluate_constraints(job, outcome)
        requeue = None
        if state == "FAIL" and job.attempt < st.max_retries:
            requeue = f"{outcome.error}; retried as trial {{new}} (attempt {job.attempt + 2} of {st.max_retries + 1})"
        values = outcome.values
        if state == "PRUNED" and run.intermediate and len(st.metrics) == 1:
            values = [run.intermediate[-1][1]]
        artifacts = run.artifacts
        if artifacts and state == "COMPLETE" and self.store is not None:
            artifacts = {name: (self.store.put(f"{st.name}/{job.number}/{name}", blob), len(blob), sha256(blob))
                         for name, blob in artifacts.items()}
        number = job.number
        seq, requeued, self.snapshot = self.db.finish(
            self.sid, number, state, self.driver, values=values, metrics=outcome.metrics,
            intermediate=run.intermediate or None, error=outcome.error, tb=outcome.traceback, requeue=requeue,
            artifacts=artifacts, keep_artifacts=st.keep_artifacts, mode=st.modes[0])
        if (requeued is None) if requeue is not None else seq < 0:
            number, seq = self._taken_over(job, state, values, outcome, artifacts)
            if number is None:
                return
        if run.otrial is not None:
            if requeue:  # its configuration runs again: the failure is not learnt as the region's
                self.ostudy._storage.set_trial_system_attr(run.otrial._trial_id, UNCOUNTED, True)
            self._tell(run.otrial, state, outcome.values)
        else:  # a continued trial: the sampler learns how it finished
            self.final_pending.discard(job.number)
            self._add_finished(number, run.params, state, values, run.intermediate, outcome.metrics,
                               retried=requeue is not None)
        if seq == self.last_seq + 1:
            self.last_seq = seq
        if seq >= 0:
            feasible = outcome.metrics.get(FEASIBLE, True) if outcome.metrics else True
            self._count(state, True, values[0] if values and feasible else None, number)
        self.report.finished += 1
        self._callbacks_trial(number)
        if self.progress:
            self.progress.trial_done(number, state, values, outcome.error, self)
        if self.first_failures is not None:
            self._watch_failures(number, state, outcome)

    def _taken_over(self, job: Job, state: str, values, outcome: Outcome, artifacts) -> tuple[int | None, int]:
        """A trial that ended after another driver took it over as stale (this driver was paused past
        ``stale_after``): its configuration was queued again. While that queued trial waits, this result is kept as
        it (no configuration runs twice); else it is given up. Returns ``(number kept as, finish_seq)``, or
        ``(None, -1)`` when given up -- never reported as the database's trial, which holds FAIL."""
        run: _Running = job.engine_state
        kept = None
        if state in ("COMPLETE", "PRUNED"):
            self._beat_if_overdue()  # registered again first, or the claim below looks stale to other drivers
            claimed = self.db.claim_waiting(self.sid, self.driver, self.n_trials, retry_of=job.number)
            if claimed is not None:
                seq, _, self.snapshot = self.db.finish(
                    self.sid, claimed["number"], state, self.driver, values=values, metrics=outcome.metrics,
                    intermediate=run.intermediate or None, error=outcome.error, tb=outcome.traceback,
                    artifacts=artifacts, keep_artifacts=self.study.keep_artifacts, mode=self.study.modes[0])
                kept = (claimed["number"], seq) if seq >= 0 else None
        if kept is not None:
            self.known.add(kept[0])
            if run.otrial is not None:
                self.latest.point(kept[0], run.otrial.number)
            self._say(f"trial {job.number} ended ({state}) after another driver took it over as stale; its result "
                      f"is kept as trial {kept[0]}, the same configuration queued again.")
            return kept
        if run.otrial is not None:  # its configuration's result comes from the trial that runs it again
            self.ostudy._storage.set_trial_system_attr(run.otrial._trial_id, UNCOUNTED, True)
            self._tell(run.otrial, "FAIL", None)
        why = ("a failure is not kept: the trial queued in its place tries the configuration again" if state == "FAIL"
               else "the trial queued in its place has started elsewhere, or the budget is full")
        self._say(f"trial {job.number} ended ({state}) after another driver took it over as stale; its result is "
                  f"discarded ({why}).")
        return None, -1

    def _say(self, message: str) -> None:
        """A notice for the user: a line beside the progress, else a warning of the ``autotune`` logger."""
        if self.progress is not None and hasattr(self.progress, "note"):
            self.progress.note(message)
        else:
            _log.warning(message)

    def _watch_failures(self, number: int, state: str, outcome: Outcome) -> None:
        """Stop a run whose first trials all failed with the same exception: that is a bug in the study file (a
        typo, a missing import), not a bad region of the space, and the rest of the budget would fail alike. Only in
        a study with no trial that ran well; the watch ends with the first trial that does, or the first failure
        that differs."""
        if state != "FAIL":
            self.first_failures = None
            return
        self.first_failures.append((number, outcome.error, outcome.traceback))
        if len({(e, tb is not None) for _, e, tb in self.first_failures}) > 1 or outcome.traceback is None:
            self.first_failures = None
        elif len(self.first_failures) >= BROKEN_AFTER and self.broken is None:
            numbers = ", ".join(str(n) for n, _, _ in self.first_failures)
            self.broken = (
                f"study {self.study.name!r}: the first {BROKEN_AFTER} trials of this run ({numbers}) all failed with "
                "the same error, which is a bug in the study file rather than a bad region of the space, so the run "
                f"stopped instead of spending the rest of the budget:\n{_last_frames(outcome.traceback)}\nFix it and "
                "run again: while no trial of a study has run well, its failed trials do not count toward n_trials "
                f"(`autotune trials {self.study.name}` lists them; `autotune run --fresh` starts the study over).")

    def _tell(self, otrial, state: str, values: list[float] | None) -> None:
        from optuna.trial import TrialState

        if state == "COMPLETE":
            self.ostudy.tell(otrial, values)
        else:
            self.ostudy.sampler.failed |= state == "FAIL"
            self.ostudy.tell(otrial, state=TrialState[state])

    def _add_finished(self, number: int, params: dict[str, Any], state: str, values, reports, metrics,
                      retried: bool = False) -> None:
        with contextlib.suppress(ValueError):  # a configuration outside today's space cannot inform the sampler
            self._add_entries([(number, self._entry(state, values, params, reports,
                                                    (metrics or {}).get(CONSTRAINTS), retried))])

    # -- the loop --------------------------------------------------------------------------------------------
    # -- Ctrl-C: raised inside an in-process objective at once, elsewhere at the next safe point ----------
    def _on_sigint(self, signum, frame) -> None:
        self._sigint = True
        if self._in_objective:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def objective_running(self, running: bool = True):
        """Backends that run the objective in this process mark it, so that Ctrl-C interrupts the objective
        but never a database call (drivers turn an interrupted query into an unrelated error)."""
        before, self._in_objective = self._in_objective, running
        try:
            if running and self._sigint:
                raise KeyboardInterrupt
            yield
        finally:
            self._in_objective = before

    def _check_sigint(self) -> None:
        if self._sigint:
            raise KeyboardInterrupt

    def run(self) -> RunReport:
        self._sigint = self._in_objective = False
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, self._on_sigint) if main else None
        try:
            return self._run()
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)

    def _run(self) -> RunReport:
        self.jobs: dict[int, Job] = {}
        inline = isinstance(self.backend, InProcessBackend)  # not a GPU-pinned worker at parallelism 1
        ref = ObjectiveRef(tuple(self.study.metrics), self.study.name) if inline else ObjectiveRef.for_study(self.study)
        self.backend.start(ref, self)  # workers import the objective while the database is opened
        try:
            self._open()
        except BaseException:
            self.backend.shutdown(kill=True)
            raise
        self._last_flush = time.monotonic()
        deadline = time.monotonic() + self.timeout if self.timeout else None
        last_housekeeping = time.monotonic()
        try:
            self._callbacks_start()
            while True:
                out_of_time = deadline is not None and time.monotonic() >= deadline
                if out_of_time:
                    self.report.timed_out = True
                self._check_sigint()
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
                        break
                    time.sleep(TICK)  # the budget is held by other drivers' running trials: wait for them
                    self.db.fail_stale(self.sid, self.study.stale_after, self.driver)
                    continue
                for job, outcome in self.backend.wait(TICK):
                    self.jobs.pop(job.number, None)
                    self._finish(job, outcome)
                if self.broken and self.first_failures is not None:  # (unless a trial of the batch ran well)
                    raise BrokenStudyError(self.broken)
                self._check_sigint()
                now = time.monotonic()
                if now - last_housekeeping > self.heartbeat_every:
                    last_housekeeping = now
                    self._flush()
                    self.db.fail_stale(self.sid, self.study.stale_after, self.driver)
        except KeyboardInterrupt:
            self.report.interrupted = True
            self._abandon("interrupted (Ctrl-C); configuration re-queued as trial {new}")
            raise
        except BaseException:
            self._abandon(None)
            raise
        finally:
            self._close()
            self._callbacks_end(sys.exc_info()[1])
        return self.report

    def _study_done(self) -> bool:
        peek = self.db.peek(self.sid)
        if peek.log_seq > self.last_seq:
            self._sync()
        if peek.n_active < self.n_trials:
            return False
        return not self.db.running(self.sid)  # nothing RUNNING, nothing PAUSED

    def _abandon(self, requeue_reason: str | None) -> None:
        """Leave nothing of this driver RUNNING: requeue (Ctrl-C) or release (an aborted run) its trials.
        A second Ctrl-C meanwhile only sets the flag again: the clean-up is a few quick writes."""
        self._in_objective = False
        self.backend.shutdown(kill=True)
        for job in self.jobs.values():
            # halving, or a trial once paused under it: cut short, it keeps its reports (and its checkpoint) and
            # continues when the study is resumed
            if (self.halving or job.engine_state.otrial is None) and job.engine_state.intermediate:
                self.db.pause(self.sid, job.number, self.driver, job.engine_state.intermediate)
        if requeue_reason is None:
            self.db.release_owned(self.sid, self.driver)
            if self.queued_here:  # an aborted run leaves an existing study as it found it
                self.db.unqueue(self.sid, self.queued_here)
            # a study this run created and an aborted first trial: nothing but its own queue is left (the enqueued
            # and warm-start configurations), and the study goes with it
            if (self.created and all(t.state == "WAITING" for t in self.db.all_trials(self.sid))
                    and not self.db.other_drivers(self.sid, self.driver, self.study.stale_after)):
                self.db.delete_study(self.sid)  # (a driver that joined meanwhile keeps the study and its queue)
        else:
            self.db.requeue_owned(self.sid, self.driver, requeue_reason)

    # -- callbacks: Study(callbacks=[...]), see autotune.callbacks ------------------------------------------
    def _callbacks_start(self) -> None:
        from autotune.callbacks import run_callbacks
        from autotune.result import Result

        self.callbacks, self._cb_failed = list(getattr(self.study, "callbacks", None) or []), set()
        if self.callbacks:
            self._cb_result = Result(self.db, self.study.name, space=self.study.space)
            try:
                run_callbacks(self.callbacks, "on_run_start", self._cb_result, failed=self._cb_failed, strict=True)
            except BaseException:
                self.callbacks = []
                raise

    def _callbacks_trial(self, number: int) -> None:
        """Each trial this driver finished, read back as stored, to the callbacks (params: the config as the
        objective saw it)."""
        if not getattr(self, "callbacks", None):
            return
        from autotune.callbacks import run_callbacks
        from autotune.result import TrialRecord

        row = self.db.trial(self.sid, number)
        if row is not None:
            record = TrialRecord.from_row(row)
            record.params = self._cb_result._config(record.params)
            run_callbacks(self.callbacks, "on_trial_end", self.study.name, record, failed=self._cb_failed)

    def _callbacks_end(self, error: BaseException | None) -> None:
        if getattr(self, "callbacks", None):
            from autotune.callbacks import run_callbacks

            run_callbacks(self.callbacks, "on_run_end", self._cb_result, error, failed=self._cb_failed)

    def _close(self) -> None:
        with self._beat_lock:  # a beat under way ends first; none follows
            self._stop_beat.set()
        self.backend.shutdown()
        try:
            self.db.unregister_driver(self.driver)
        except Exception:  # noqa: BLE001 - a stale driver row is harmless: its trials are all finished
            pass


BROKEN_AFTER = 5  # a study's first trials failing alike, this many, stop the run (see Engine._watch_failures)


def _last_frames(tb: str) -> str:
    """A formatted traceback from the first frame outside autotune on (the study file's), indented."""
    import os

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    lines = tb.rstrip("\n").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith('  File "')]
    first = next((i for i in starts if not _frame_file(lines[i]).startswith(package)), 0)
    return "\n".join("  " + line for line in lines[first:])


def _constraint_values(raw: Any) -> list[float] | None:
    """A constraints function's result as a list of floats, or None where it is not one or more real numbers
    (a bool is refused: True would read as 1.0, infeasible, the opposite of what a condition means)."""
    if getattr(raw, "ndim", 0) == 1 and callable(getattr(raw, "tolist", None)):  # a numpy array or torch tensor
        raw = raw.tolist()
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    values = [_as_real(v) for v in items]  # numpy and torch scalars too; never a bool
    return values if values and all(v is not None and math.isfinite(v) for v in values) else None


def _rung_value(inter: dict[int, float], n_metrics: int) -> list[float] | None:
    """The value a trial paused (or pruned) at a rung is told to the sampler with: its last report that is a
    number (a single-metric study only)."""
    finite = [inter[s] for s in sorted(inter) if math.isfinite(inter[s])]
    return [finite[-1]] if finite and n_metrics == 1 else None


def _loads(text: str | None) -> Any:
    import json

    return json.loads(text) if text else None


def _frame_file(frame_line: str) -> str:
    """The file a traceback's ``  File "...", line N, in f`` line names."""
    return frame_line.split('"')[1] if frame_line.count('"') >= 2 else ""
