"""The trial ledger: every change of a trial's state, each one transaction under the study row's lock.

A driver's hot path is three statements per trial: one read of the study row (``peek``), one transaction that
claims a number and inserts the RUNNING trial, and one that finishes it. Beside them: the queue (enqueue, claim a
queued trial), the take-over of stale trials and the retries, the undoing of an aborted run, and the halving
pruner's pause, continue and prune of trials at a rung.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from autotune.database import _schema as S
from autotune.database._artifact_table import ArtifactTable
from autotune.database._artifacts import delete_external
from autotune.database._drivers import driver_dead
from autotune.database._states import RAN_WELL, SET_ASIDE, TrialState
from autotune.database._studies import Peek
from autotune.errors import StorageError


class _Duplicate(Exception):
    """A grid point another driver holds already."""


class _NothingToClaim(Exception):
    """No queued trial fits the claim (see ``claim_waiting``)."""


class _TakenOver(Exception):
    """A finishing trial was failed as stale by another driver first."""


# The per-trial statements, built once: SQLAlchemy then only binds parameters and hits its compiled cache.
_STUDY, _TRIAL = S.studies.c, S.trials.c
_CLAIM = (S.studies.update()
          .where(_STUDY.id == sa.bindparam("b_sid"), _STUDY.n_active < sa.bindparam("b_limit"))
          .values(next_number=_STUDY.next_number + 1, n_active=_STUDY.n_active + 1)
          .returning(_STUDY.next_number, _STUDY.log_seq, _STUDY.n_active, _STUDY.n_waiting))
_INSERT = S.trials.insert()
_INSERT_COLS = ["study_id", "number", "state", "params", "owner", "origin", "attempt", "counted", "started_at"]
_TAKE_SEQ = (S.studies.update().where(_STUDY.id == sa.bindparam("b_sid"))
             .values(log_seq=_STUDY.log_seq + 1)
             .returning(_STUDY.log_seq, _STUDY.n_active, _STUDY.n_waiting))
_FINISH = (S.trials.update()
           .where(_TRIAL.study_id == sa.bindparam("b_sid"), _TRIAL.number == sa.bindparam("b_number"),
                  _TRIAL.state == TrialState.RUNNING, _TRIAL.owner == sa.bindparam("b_owner"))
           .values(state=sa.bindparam("b_state"), value=sa.bindparam("b_value"),
                   objective_values=sa.bindparam("b_values"), metrics=sa.bindparam("b_metrics"),
                   intermediate=sa.bindparam("b_inter"), error=sa.bindparam("b_error"),
                   traceback=sa.bindparam("b_tb"), finished_at=sa.bindparam("b_finished"),
                   finish_seq=sa.bindparam("b_seq")))


class TrialTable(ArtifactTable):
    """Claims, finishes, the queue, stale trials and retries, and the halving pruner's pauses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # compiled as the database opens: a dialect that cannot compile one fails here, not in a first claim
        self._sql = self._compile()

    # -- primitives ----------------------------------------------------------------------------------------
    def _compile(self) -> dict[str, tuple[str, Any, dict[str, Any]]]:
        """The per-trial statements compiled once for this dialect; :meth:`_hot` runs them on the driver's
        cursor, skipping SQLAlchemy's per-execution work (about half of a trial's database cost)."""
        out = {}
        for key, stmt, cols in (("claim", _CLAIM, None), ("insert", _INSERT, _INSERT_COLS),
                                ("seq", _TAKE_SEQ, None), ("finish", _FINISH, None)):
            c = stmt.compile(dialect=self.engine.dialect, column_keys=cols)
            out[key] = (str(c), c.positiontup, dict(c.params))
        return out

    def _hot(self, conn: Connection, key: str, params: dict[str, Any]):
        sql, order, defaults = self._sql[key]
        merged = {**defaults, **params}  # literals in the statement (state = 'RUNNING') are parameters too
        cur = conn.connection.driver_connection.cursor()
        cur.execute(sql, tuple(merged[n] for n in order) if order else merged)
        return cur

    def _next_seq(self, conn: Connection, study_id: int, **counters: int) -> int:
        """Take the study's next finish sequence number (and adjust its counters) under the study row's lock."""
        values: dict[str, Any] = {"log_seq": S.studies.c.log_seq + 1}
        for name, delta in counters.items():
            values[name] = getattr(S.studies.c, name) + delta
        return conn.execute(S.studies.update().where(S.studies.c.id == study_id).values(**values)
                            .returning(S.studies.c.log_seq)).scalar_one()

    def _requeue(self, conn: Connection, study_id: int, row, reason: str,
                 same_attempt: bool) -> tuple[int, int] | None:
        """Fail a RUNNING trial, uncount it and queue its configuration as a new WAITING trial (one transaction).

        The first step is a conditional update: when two drivers take over the same stale trial at once, the
        second finds it no longer RUNNING (PostgreSQL re-checks the condition after the first commits) and does
        nothing, so a configuration is never queued twice nor the budget given back twice. None then.
        """
        taken = conn.execute(S.trials.update().where(S.trials.c.id == row.id, S.trials.c.state == TrialState.RUNNING)
                             .values(state=TrialState.FAIL, counted=False, finished_at=time.time())).rowcount
        if taken != 1:
            return None
        new = conn.execute(S.studies.update().where(S.studies.c.id == study_id)
                           .values(next_number=S.studies.c.next_number + 1, n_waiting=S.studies.c.n_waiting + 1)
                           .returning(S.studies.c.next_number)).scalar_one() - 1
        conn.execute(S.trials.insert().values(
            study_id=study_id, number=new, state=TrialState.WAITING, params=row.params, origin="queue",
            attempt=row.attempt if same_attempt else row.attempt + 1, retry_of=row.number, counted=True))
        seq = self._next_seq(conn, study_id, n_active=-1)
        conn.execute(S.trials.update().where(S.trials.c.id == row.id).values(
            error=reason.replace("{new}", str(new)), finish_seq=seq))
        return row.number, new

    def fail_stale(self, study_id: int, grace: float, me: str | None = None) -> list[tuple[int, int]]:
        """Fail the RUNNING trials whose driver stopped heartbeating (or, on this host, whose process is gone),
        queue their configurations again, and return ``(failed, requeued)`` trial numbers; the rows of the study's
        stopped drivers go. ``me``, the calling driver, is alive whatever its row says (it may have been paused, and
        not registered again yet)."""
        host, now = socket.gethostname(), time.time()

        def fn(conn: Connection) -> list[tuple[int, int]]:
            # every driver of the study that stopped, by the rule below, loses its row: those holding trials, and
            # those that died holding none (killed while starting, or while waiting for other drivers' trials)
            drivers = {d.id: d for d in conn.execute(sa.select(S.drivers).where(S.drivers.c.study_id == study_id))}
            dead = {i for i, d in drivers.items() if i != me and driver_dead(d, host, now, grace)}
            if dead:
                conn.execute(S.drivers.delete().where(S.drivers.c.id.in_(dead)))
            running = conn.execute(sa.select(S.trials).where(S.trials.c.study_id == study_id,
                                                             S.trials.c.state == TrialState.RUNNING,
                                                             S.trials.c.owner != me if me else sa.true())).all()
            stale = [r for r in running if driver_dead(drivers.get(r.owner), host, now, grace)]
            out = []
            for r in stale:
                d = drivers.get(r.owner)
                who = f"{d.host} pid {d.pid}" if d else "an unknown driver"
                out.append(self._requeue(conn, study_id, r, f"stale: its driver ({who}) stopped; configuration "
                                                            "re-queued as trial {new}", same_attempt=True))
            return [pair for pair in out if pair is not None]

        return self.write(fn)

    # -- the per-trial hot path ----------------------------------------------------------------------------
    def claim_new(self, study_id: int, driver_id: str, n_trials: int, params: dict[str, Any],
                  origin: str, *, unique: bool = False) -> tuple[int | None, Peek | None]:
        """Start a trial with sampler-proposed params, unless the study already has ``n_trials`` counted.

        Returns the trial number (None when the budget is taken) and the study's counters as of that moment.
        With ``unique`` (the grid sampler), params that another trial already holds are refused: the number is
        -1, and nothing changes.
        """
        text = json.dumps(params)

        def fn(conn: Connection) -> tuple[int | None, Peek | None]:
            r = self._hot(conn, "claim", {"b_sid": study_id, "b_limit": n_trials}).fetchone()
            if r is None:
                return None, None
            next_number, log_seq, n_active, n_waiting = r
            if unique and conn.execute(sa.select(S.trials.c.id).where(
                    S.trials.c.study_id == study_id, S.trials.c.params == text, S.trials.c.counted).limit(1)).first():
                raise _Duplicate
            self._hot(conn, "insert", {"study_id": study_id, "number": next_number - 1, "state": TrialState.RUNNING,
                                       "params": text, "owner": driver_id, "origin": origin,
                                       "attempt": 0, "counted": True, "started_at": time.time()})
            return next_number - 1, Peek(log_seq, n_active, n_waiting)

        try:
            return self.write(fn)
        except _Duplicate:  # the transaction rolled back: the counters are as they were
            return -1, None

    def claim_waiting(self, study_id: int, driver_id: str, n_trials: int, *, retry_of: int | None = None,
                      not_retry_of: set[int] | frozenset[int] = frozenset()) -> dict[str, Any] | None:
        """Start the oldest queued trial, unless the study already has ``n_trials`` counted: with ``retry_of``, the
        one queued again from that trial only; never one queued again from a trial in ``not_retry_of`` (the
        caller still runs those: a driver paused past the grace period, its trials taken over meanwhile)."""
        T = S.trials.c

        def fn(conn: Connection) -> dict[str, Any] | None:
            ok = conn.execute(
                S.studies.update().where(S.studies.c.id == study_id, S.studies.c.n_active < n_trials,
                                         S.studies.c.n_waiting > 0)
                .values(n_active=S.studies.c.n_active + 1, n_waiting=S.studies.c.n_waiting - 1)
                .returning(S.studies.c.id)).scalar()  # (which also locks the study row: one claim at a time)
            if ok is None:
                return None
            query = sa.select(T.id, T.number, T.params, T.attempt).where(
                T.study_id == study_id, T.state == TrialState.WAITING)
            if retry_of is not None:
                query = query.where(T.retry_of == retry_of)
            if not_retry_of:
                query = query.where(sa.or_(T.retry_of.is_(None), T.retry_of.not_in(not_retry_of)))
            row = conn.execute(query.order_by(T.number).limit(1)).first()
            if row is None:
                raise _NothingToClaim  # roll back the counters taken above
            conn.execute(S.trials.update().where(S.trials.c.id == row.id).values(
                state=TrialState.RUNNING, owner=driver_id, started_at=time.time()))
            return {"number": row.number, "params": json.loads(row.params), "attempt": row.attempt}
        try:
            return self.write(fn)
        except _NothingToClaim:
            return None

    def enqueue(self, study_id: int, params_list: list[dict[str, Any]], only_new: bool = False,
                budget: int | None = None) -> tuple[list[int], int]:
        """Queue configurations (stored params) as WAITING trials; returns their numbers and how many did not fit.
        ``only_new``: leave out those some trial of the study already has, checked and queued in one transaction
        with the study row locked (drivers opening the study at once queue a configuration once). ``budget``: the
        study's total; configurations beyond it are not queued."""
        def fn(conn: Connection) -> tuple[list[int], int]:
            todo = params_list
            if only_new or budget is not None:
                row = conn.execute(sa.select(S.studies.c.n_active, S.studies.c.n_waiting)
                                   .where(S.studies.c.id == study_id).with_for_update()).first()
                if row is None:
                    raise StorageError(f"the study was deleted from {self.shown_url} meanwhile (by another "
                                       "driver whose first run was aborted); run again to create it anew.")
            if only_new:
                have = {json.dumps(json.loads(p), sort_keys=True) for (p,) in conn.execute(
                    sa.select(S.trials.c.params).where(S.trials.c.study_id == study_id)) if p}
                todo = [p for p in params_list if json.dumps(p, sort_keys=True) not in have]
            left_out = 0
            if budget is not None:
                room = max(0, budget - row.n_active - row.n_waiting)
                todo, left_out = todo[:room], max(0, len(todo) - room)
            if not todo:
                return [], left_out
            end = conn.execute(S.studies.update().where(S.studies.c.id == study_id).values(
                next_number=S.studies.c.next_number + len(todo),
                n_waiting=S.studies.c.n_waiting + len(todo)).returning(S.studies.c.next_number)).scalar_one()
            first = end - len(todo)
            conn.execute(S.trials.insert(), [
                dict(study_id=study_id, number=first + i, state=TrialState.WAITING, params=json.dumps(p),
                     origin="queue", attempt=0, counted=True) for i, p in enumerate(todo)])
            return list(range(first, end)), left_out
        return self.write(fn)

    def unqueue(self, study_id: int, numbers: list[int]) -> None:
        """Take back configurations an aborted run queued on an existing study: those still WAITING go, and give
        their numbers back while no later trial took one."""
        def fn(conn: Connection) -> None:
            for number in sorted(numbers, reverse=True):
                gone = conn.execute(S.trials.delete().where(S.trials.c.study_id == study_id,
                                                            S.trials.c.number == number,
                                                            S.trials.c.state == TrialState.WAITING)).rowcount
                if gone:
                    conn.execute(S.studies.update().where(S.studies.c.id == study_id)
                                 .values(n_waiting=S.studies.c.n_waiting - gone))
                    conn.execute(S.studies.update().where(S.studies.c.id == study_id,
                                                          S.studies.c.next_number == number + 1)
                                 .values(next_number=number))
        self.write(fn)

    def save_intermediate(self, study_id: int, pending: dict[int, list[list[float]]]) -> None:
        """Persist the intermediate values of running trials (batched by the driver)."""
        if not pending:
            return
        def fn(conn: Connection) -> None:
            for number, series in pending.items():
                conn.execute(S.trials.update().where(S.trials.c.study_id == study_id, S.trials.c.number == number)
                             .values(intermediate=json.dumps(series)))
        self.write(fn)

    def finish(self, study_id: int, number: int, state: str, driver_id: str, *,
               values: list[float] | None = None, metrics: dict[str, Any] | None = None,
               intermediate: list[list[float]] | None = None, error: str | None = None, tb: str | None = None,
               requeue: str | None = None, artifacts: dict[str, bytes] | None = None, keep_artifacts: int = 1,
               mode: str = "min") -> tuple[int, int | None, Peek | None]:
        """Record how a trial ended; returns ``(finish_seq, requeued_number, counters)``; ``finish_seq`` is -1
        when the trial was taken over as stale meanwhile (the first ending stands).

        ``requeue`` (a reason) fails the trial, uncounts it and queues its configuration again.
        """
        inter = json.dumps(intermediate) if intermediate else None

        def requeue_fn(conn: Connection) -> tuple[int, int | None, Peek | None]:
            row = conn.execute(sa.select(S.trials).where(
                S.trials.c.study_id == study_id, S.trials.c.number == number, S.trials.c.state == TrialState.RUNNING,
                S.trials.c.owner == driver_id)).first()
            if row is None:
                return -1, None, None
            conn.execute(S.trials.update().where(S.trials.c.id == row.id).values(intermediate=inter, traceback=tb))
            pair = self._requeue(conn, study_id, row, requeue, same_attempt=False)
            return -1, pair[1] if pair else None, None

        def fn(conn: Connection) -> tuple[int, int | None, Peek | None]:
            seq, n_active, n_waiting = self._hot(conn, "seq", {"b_sid": study_id}).fetchone()
            done = self._hot(conn, "finish", {
                "b_sid": study_id, "b_number": number, "b_owner": driver_id, "b_state": state,
                "b_value": values[0] if values else None,
                "b_values": json.dumps(values) if values is not None else None,
                "b_metrics": json.dumps(metrics) if metrics else None, "b_inter": inter, "b_error": error,
                "b_tb": tb, "b_finished": time.time(), "b_seq": seq}).rowcount
            if done != 1:
                raise _TakenOver  # roll back the sequence number taken above
            if artifacts and state == TrialState.COMPLETE:
                dropped.extend(self._store_artifacts(conn, study_id, number, artifacts, keep_artifacts, mode))
            return seq, None, Peek(seq, n_active, n_waiting)

        dropped: list[str] = []
        try:
            out = self.write(requeue_fn if requeue is not None else fn)
        except _TakenOver:
            # A lost connection after the commit landed makes the retried finish find the trial finished: by this
            # driver (its state, still counted), that is this very finish; else another driver took it over.
            row = self.read(lambda c: c.execute(sa.select(S.trials.c.state, S.trials.c.owner, S.trials.c.counted,
                                                          S.trials.c.finish_seq).where(
                S.trials.c.study_id == study_id, S.trials.c.number == number)).first())
            if (row is not None and row.state == state and row.owner == driver_id and row.counted
                    and row.finish_seq is not None):
                return row.finish_seq, None, None
            return -1, None, None
        delete_external(dropped)
        return out

    def _owned(self, conn: Connection, study_id: int, driver_id: str) -> list[Any]:
        return conn.execute(sa.select(S.trials).where(S.trials.c.study_id == study_id,
                                                      S.trials.c.state == TrialState.RUNNING,
                                                      S.trials.c.owner == driver_id)).all()

    def release_owned(self, study_id: int, driver_id: str) -> None:
        """Undo the start of an aborted run's trials: queued ones wait again, sampler-proposed ones vanish (and
        give their numbers back while no later trial took one, so the study's numbering has no gap)."""
        def fn(conn: Connection) -> None:
            for r in sorted(self._owned(conn, study_id, driver_id), key=lambda r: -r.number):
                mine = (S.trials.c.id == r.id, S.trials.c.state == TrialState.RUNNING)  # unless taken over meanwhile
                if r.origin == "queue":
                    done = conn.execute(S.trials.update().where(*mine).values(
                        state=TrialState.WAITING, owner=None, started_at=None, intermediate=None)).rowcount
                    delta = {"n_waiting": S.studies.c.n_waiting + done}
                else:
                    done = conn.execute(S.trials.delete().where(*mine)).rowcount
                    delta = {}
                conn.execute(S.studies.update().where(S.studies.c.id == study_id)
                             .values(n_active=S.studies.c.n_active - done, **delta))
                if done and r.origin != "queue":
                    conn.execute(S.studies.update().where(S.studies.c.id == study_id,
                                                          S.studies.c.next_number == r.number + 1)
                                 .values(next_number=r.number))
        self.write(fn)

    def requeue_owned(self, study_id: int, driver_id: str, reason: str) -> list[tuple[int, int]]:
        """Fail this driver's RUNNING trials with ``reason`` and queue their configurations again."""
        def fn(conn: Connection) -> list[tuple[int, int]]:
            pairs = [self._requeue(conn, study_id, r, reason, same_attempt=True)
                     for r in self._owned(conn, study_id, driver_id)]
            return [p for p in pairs if p is not None]
        return self.write(fn)

    def running(self, study_id: int) -> list[Any]:
        """The trials not finished yet: RUNNING, and PAUSED (by the halving pruner, to be continued or pruned)."""
        unfinished = (TrialState.RUNNING, TrialState.PAUSED)
        return self.read(lambda c: c.execute(sa.select(S.trials.c.number, S.trials.c.state, S.trials.c.owner)
                                             .where(S.trials.c.study_id == study_id,
                                                    S.trials.c.state.in_(unfinished))).all())

    def set_failures_aside(self, study_id: int) -> int | None:
        """For a study none of whose trials has run well (completed, pruned or paused) and none running: its failed
        trials stop counting toward ``n_trials`` (they are kept), so that a run after a fix of the study file has the
        whole budget. Returns how many were set aside, or None for a study with a trial that ran well."""
        T = S.trials.c

        def fn(conn: Connection) -> int | None:
            if conn.execute(sa.select(T.number).where(T.study_id == study_id, T.state.in_(RAN_WELL))
                            .limit(1)).first() is not None:
                return None
            if conn.execute(sa.select(T.number).where(T.study_id == study_id, T.state == TrialState.RUNNING)
                            .limit(1)).first() is not None:
                return 0  # another driver is at work: its failures are its run's
            k = conn.execute(S.trials.update().where(T.study_id == study_id, T.state == TrialState.FAIL, T.counted)
                             .values(counted=False, error=sa.func.coalesce(T.error, "failed") + SET_ASIDE)).rowcount
            if k:
                self._next_seq(conn, study_id, n_active=-k)
            return k

        return self.write(fn)

    # -- pause and promote (the halving pruner) -----------------------------------------------------------
    def paused(self, study_id: int, numbers: set[int]) -> list[Any]:
        """These trials, if still PAUSED: number, params and reports, by number."""
        return self.read(lambda c: c.execute(
            sa.select(S.trials.c.number, S.trials.c.params, S.trials.c.intermediate)
            .where(S.trials.c.study_id == study_id, S.trials.c.state == TrialState.PAUSED,
                   S.trials.c.number.in_(numbers))
            .order_by(S.trials.c.number)).all())

    def pause(self, study_id: int, number: int, driver_id: str, intermediate: list[list[float]] | None) -> bool:
        """Pause this driver's RUNNING trial at a rung, keeping its reports; False if it was taken over as stale.
        A paused trial keeps its place in the budget; nothing else changes until it is continued or pruned."""
        def fn(conn: Connection) -> bool:
            return conn.execute(S.trials.update().where(
                S.trials.c.study_id == study_id, S.trials.c.number == number, S.trials.c.state == TrialState.RUNNING,
                S.trials.c.owner == driver_id).values(
                state=TrialState.PAUSED, intermediate=json.dumps(intermediate) if intermediate else None)
            ).rowcount == 1
        return self.write(fn)

    @staticmethod
    def _as_seen(seen: str | None):
        """A paused trial still as a plan saw it: decisions from an older read (another driver continued it and
        it paused again, at a later rung, meanwhile) must not apply to it."""
        col = S.trials.c.intermediate
        return (S.trials.c.state == TrialState.PAUSED, col.is_(None) if seen is None else col == seen)

    def resume_paused(self, study_id: int, number: int, driver_id: str, seen: str | None) -> Any | None:
        """Continue a PAUSED trial under this driver (RUNNING again); None if another driver took it first, or it
        is no longer paused where ``seen`` (its stored reports, as read) says."""
        def fn(conn: Connection) -> Any | None:
            where = (S.trials.c.study_id == study_id, S.trials.c.number == number)
            if conn.execute(S.trials.update().where(*where, *self._as_seen(seen))
                            .values(state=TrialState.RUNNING, owner=driver_id)).rowcount != 1:
                return None
            return conn.execute(sa.select(S.trials).where(*where)).one()
        return self.write(fn)

    def prune_paused(self, study_id: int, seen: dict[int, str | None]) -> list[int]:
        """Prune PAUSED trials that did not rank among the best of their rung (value: their last report), each
        only if still paused where ``seen`` (number: stored reports, as read) says; returns the ones pruned."""
        def fn(conn: Connection) -> list[int]:
            # the study row first, as finishing a trial takes it, so that two drivers pruning never wait on each
            # other's trial rows (SQLite holds the whole database for the transaction anyway)
            conn.execute(sa.select(S.studies.c.id).where(S.studies.c.id == study_id).with_for_update())
            done = []
            for number, text in seen.items():
                where = (S.trials.c.study_id == study_id, S.trials.c.number == number)
                inter = json.loads(text or "[]")
                value = inter[-1][1] if inter else None
                values = json.dumps([value]) if value is not None else None
                # conditional: where another driver continued the trial after the plan read it, nothing matches
                if conn.execute(S.trials.update().where(*where, *self._as_seen(text)).values(
                        state=TrialState.PRUNED, value=value, objective_values=values,
                        finished_at=time.time())).rowcount != 1:
                    continue  # pruned by another driver, or continued meanwhile
                conn.execute(S.trials.update().where(*where).values(finish_seq=self._next_seq(conn, study_id)))
                done.append(number)
            return done
        return self.write(fn)
