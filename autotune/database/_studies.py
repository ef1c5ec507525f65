"""The studies' rows and the reads of their trials: create, find, list and delete a study; its trials, counts
and best trial."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from autotune._names import STUDY_NAME_RULE, study_name_problem
from autotune.database import _schema as S
from autotune.database._artifact_table import written_here
from autotune.database._artifacts import delete_external
from autotune.database._connection import DatabaseConnection
from autotune.database._constraints import feasible
from autotune.database._drivers import driver_dead
from autotune.database._states import RAN_WELL, RETRIED, UNCOUNTED, TrialState
from autotune.errors import ConfigError, StorageError
from autotune.spaces import space_change


@dataclass
class StudyRow:
    id: int
    name: str
    metrics: list[str]
    modes: list[str]
    space: dict[str, Any]
    n_trials: int | None
    created_at: float
    next_number: int = 0  # trials numbered so far (when the row was read)


@dataclass
class Peek:
    log_seq: int
    n_active: int
    n_waiting: int


class Studies(DatabaseConnection):
    """Studies and the reads of their trials."""

    @staticmethod
    def _study_row(r) -> StudyRow:
        return StudyRow(r.id, r.name, json.loads(r.metrics), json.loads(r.modes), json.loads(r.space),
                        r.n_trials, r.created_at, r.next_number)

    def find_study(self, name: str) -> StudyRow | None:
        r = self.read(lambda c: c.execute(sa.select(S.studies).where(S.studies.c.name == name)).first())
        return self._study_row(r) if r else None

    def get_study(self, name: str) -> StudyRow:
        row = self.find_study(name)
        if row is None:
            names = [s.name for s in self.list_studies()]
            known = f"; studies here: {', '.join(names)}" if names else "; it holds no study yet"
            raise StorageError(f"no study named '{name}' in {self.shown_url}{known}.")
        return row

    def list_studies(self) -> list[StudyRow]:
        rows = self.read(lambda c: c.execute(sa.select(S.studies).order_by(S.studies.c.id)).all())
        return [self._study_row(r) for r in rows]

    def ensure_study(self, name: str, metrics: list[str], modes: list[str], space: dict[str, Any],
                     n_trials: int | None) -> tuple[StudyRow, bool]:
        """The study's row, created if missing; refuses a study of that name with another metric or space."""
        def create(conn: Connection) -> None:
            conn.execute(S.studies.insert().values(
                name=name, metrics=json.dumps(metrics), modes=json.dumps(modes), space=json.dumps(space),
                n_trials=n_trials, next_number=0, n_active=0, n_waiting=0, log_seq=0, created_at=time.time()))

        problem = study_name_problem(name)
        if problem:
            raise ConfigError(f"cannot create a study in {self.shown_url}: {problem}; {STUDY_NAME_RULE}.")
        created = False
        row = self.find_study(name)
        if row is None:
            try:
                self.write(create, passthrough=(IntegrityError,))
                created = True
            except IntegrityError:  # another driver created it first
                pass
            row = self.get_study(name)
        if row.metrics != metrics or row.modes != modes:
            raise StorageError(
                f"study '{name}' in {self.shown_url} optimises {row.metrics} ({row.modes}), but the study file "
                f"declares {metrics} ({modes}); use another study name, or restore the original metric.")
        change = space_change(row.space, json.loads(json.dumps(space)))
        if change:
            raise StorageError(
                f"study '{name}' in {self.shown_url} was created with another search space ({change}); resuming "
                "it with a changed space would mix incomparable trials. Use another study name, or restore the space.")
        return row, created

    def delete_study(self, study_id: int, *, refuse_live: float | None = None) -> dict[str, Any]:
        """Remove a study with its trials, driver rows and artifacts, the files of an external artifact store
        included (removed once the deletion has committed). Returns what went: ``trials``, ``artifacts``, and
        ``files_left``, the external files that could not be removed.

        ``refuse_live``: a grace period in seconds. The deletion is then refused (StorageError) while a driver is
        live on the study by the rule stale trials are judged by: its process alive (on this host) and a heartbeat
        within the grace. A driver killed without unregistering stops counting at once on this host, and after the
        grace elsewhere."""
        def fn(conn: Connection) -> tuple[dict[str, Any], list[str]]:
            row = conn.execute(sa.select(S.studies.c.name).where(S.studies.c.id == study_id).with_for_update()).first()
            if row is None:  # deleted by another process meanwhile
                if refuse_live is None:
                    return {"trials": 0, "artifacts": 0}, []
                raise StorageError(f"the study was deleted from {self.shown_url} meanwhile; nothing left to delete.")
            if refuse_live is not None:
                host, now = socket.gethostname(), time.time()
                live = [d for d in conn.execute(sa.select(S.drivers).where(S.drivers.c.study_id == study_id)).all()
                        if not driver_dead(d, host, now, refuse_live)]
                if live:
                    who = "; ".join(f"{d.host} pid {d.pid}, last heartbeat {max(0.0, now - d.heartbeat_at):.0f} s "
                                    "ago" for d in live)
                    raise StorageError(
                        f"study '{row.name}' in {self.shown_url} has {len(live)} live driver{'s' * (len(live) > 1)} "
                        f"({who}); stop {'them' if len(live) > 1 else 'it'} first (Ctrl-C), then delete. A driver that "
                        f"was killed stops counting at once on its own host, and after {refuse_live:g} s without a "
                        "heartbeat from any other.")
            count = lambda t: conn.execute(sa.select(sa.func.count()).select_from(t)  # noqa: E731
                                           .where(t.c.study_id == study_id)).scalar()
            gone = {"trials": count(S.trials), "artifacts": count(S.artifacts)}
            external = [r.location for r in conn.execute(sa.select(S.artifacts).where(
                S.artifacts.c.study_id == study_id, S.artifacts.c.location.is_not(None))).all()
                if written_here(r.location, row.name, r.trial_number, r.name)]
            conn.execute(S.artifact_chunks.delete().where(S.artifact_chunks.c.artifact_id.in_(
                sa.select(S.artifacts.c.id).where(S.artifacts.c.study_id == study_id))))
            for table in (S.artifacts, S.trials, S.drivers):
                conn.execute(table.delete().where(table.c.study_id == study_id))
            conn.execute(S.studies.delete().where(S.studies.c.id == study_id))
            return gone, external

        gone, external = self.write(fn, "delete from")
        gone["files_left"] = delete_external(external)
        return gone

    def peek(self, study_id: int) -> Peek:
        r = self.read(lambda c: c.execute(
            sa.select(S.studies.c.log_seq, S.studies.c.n_active, S.studies.c.n_waiting)
            .where(S.studies.c.id == study_id)).one())
        return Peek(r.log_seq, r.n_active, r.n_waiting)

    # -- reading trials ------------------------------------------------------------------------------------
    def trials_since(self, study_id: int, seq: int) -> list[Any]:
        """Finished trials with ``finish_seq > seq``, in commit order."""
        return self.read(lambda c: c.execute(
            sa.select(S.trials).where(S.trials.c.study_id == study_id, S.trials.c.finish_seq > seq)
            .order_by(S.trials.c.finish_seq)).all())

    def trial(self, study_id: int, number: int) -> Any | None:
        """One trial's row, or None."""
        return self.read(lambda c: c.execute(
            sa.select(S.trials).where(S.trials.c.study_id == study_id, S.trials.c.number == number)).first())

    def trial_by_id(self, study_id: int, trial_id: int) -> Any | None:
        """One trial's row by its row id (the id Optuna's storage API speaks of), or None."""
        return self.read(lambda c: c.execute(
            sa.select(S.trials).where(S.trials.c.id == trial_id, S.trials.c.study_id == study_id)).first())

    def all_trials(self, study_id: int) -> list[Any]:
        return self.read(lambda c: c.execute(
            sa.select(S.trials).where(S.trials.c.study_id == study_id).order_by(S.trials.c.number)).all())

    def counts(self) -> dict[int, dict[str, int]]:
        """Trial counts by study and state. Failures that do not count toward ``n_trials`` are counted apart: as
        'RETRIED' when their configuration was queued again (a later trial names them in ``retry_of``), else as
        'UNCOUNTED' (set aside by ``set_failures_aside``)."""
        T = S.trials.c

        def fn(c: Connection):
            rows = c.execute(sa.select(T.study_id, T.state, T.counted, sa.func.count())
                             .group_by(T.study_id, T.state, T.counted)).all()
            retries = c.execute(sa.select(T.study_id, sa.func.count()).where(T.retry_of.is_not(None))
                                .group_by(T.study_id)).all()
            return rows, dict(retries)

        rows, retries = self.read(fn)
        out: dict[int, dict[str, int]] = {}
        for sid, state, counted, n in rows:
            key = state if counted else RETRIED
            out.setdefault(sid, {})[key] = out.setdefault(sid, {}).get(key, 0) + n
        for sid, c in out.items():  # each configuration queued again has one successor naming it
            superseded = c.pop(RETRIED, 0)
            retried = min(superseded, retries.get(sid, 0))
            c.update({k: n for k, n in ((RETRIED, retried), (UNCOUNTED, superseded - retried)) if n})
        return out

    def ran_well(self, study_id: int) -> bool:
        """Whether some trial of the study completed, or was pruned or paused (ran until a pruner judged it)."""
        T = S.trials.c
        return self.read(lambda c: c.execute(sa.select(T.number).where(
            T.study_id == study_id, T.state.in_(RAN_WELL)).limit(1)).first()) is not None

    def best_trial(self, study_id: int, mode: str) -> Any | None:
        """The best completed trial that meets the study's constraints (if it has any)."""
        order = S.trials.c.value.asc() if mode == "min" else S.trials.c.value.desc()
        offset, page = 0, 1
        while True:
            query = (sa.select(S.trials).where(S.trials.c.study_id == study_id, S.trials.c.state == TrialState.COMPLETE)
                     .order_by(order, S.trials.c.number).offset(offset).limit(page))
            rows = self.read(lambda c, q=query: c.execute(q).all())
            for r in rows:
                if feasible(r.metrics):
                    return r
            if len(rows) < page:
                return None
            offset, page = offset + page, min(page * 4, 1024)
