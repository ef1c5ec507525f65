"""The drivers' rows: each driver of a study registers, heartbeats while it runs and unregisters at its end;
``driver_dead`` is the one rule for a driver that stopped (its trials are then failed as stale and queued again)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from autotune.database import _schema as S
from autotune.database._connection import DatabaseConnection


class Drivers(DatabaseConnection):
    """Driver registration and heartbeats."""

    def register_driver(self, study_id: int) -> str:
        driver_id = uuid.uuid4().hex
        now = time.time()
        self.write(lambda c: c.execute(S.drivers.insert().values(
            id=driver_id, study_id=study_id, host=socket.gethostname(), pid=os.getpid(), started_at=now,
            heartbeat_at=now)))
        return driver_id

    def other_drivers(self, study_id: int, driver_id: str, grace: float) -> int:
        """How many other drivers work on the study now: registered, heartbeating within ``grace`` seconds, and
        (on this host) with their process alive -- a driver killed earlier stays registered until noticed."""
        rows = self.read(lambda c: c.execute(sa.select(S.drivers).where(
            S.drivers.c.study_id == study_id, S.drivers.c.id != driver_id)).all())
        host, now = socket.gethostname(), time.time()
        return sum(not driver_dead(d, host, now, grace) for d in rows)

    def heartbeat(self, driver_id: str, study_id: int) -> bool:
        """Beat; a driver whose row is gone (taken for stopped by another driver while this process was paused
        past the grace period: a closed laptop lid, a migrated VM, a long swap) registers again under its id.
        Returns whether it had to."""
        def fn(conn: Connection) -> bool:
            now = time.time()
            if conn.execute(S.drivers.update().where(S.drivers.c.id == driver_id)
                            .values(heartbeat_at=now)).rowcount:
                return False
            conn.execute(S.drivers.insert().values(id=driver_id, study_id=study_id, host=socket.gethostname(),
                                                   pid=os.getpid(), started_at=now, heartbeat_at=now))
            return True
        return self.write(fn, "heartbeat to")

    def unregister_driver(self, driver_id: str) -> None:
        self.write(lambda c: c.execute(S.drivers.delete().where(S.drivers.c.id == driver_id)))

    def drivers(self, study_id: int) -> list[Any]:
        """The driver rows registered on the study (host, pid, started_at, heartbeat_at), live or not."""
        return self.read(lambda c: c.execute(sa.select(S.drivers).where(S.drivers.c.study_id == study_id)).all())


def driver_dead(d, host: str, now: float, grace: float) -> bool:
    """A driver row (None: gone) whose driver stopped: no heartbeat within ``grace`` seconds, or, on this host, its
    process is gone."""
    if d is None:
        return True
    if d.host == host and d.pid != os.getpid() and not _pid_alive(d.pid):
        return True
    return d.heartbeat_at < now - grace


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed, not yet reaped by its parent) is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
