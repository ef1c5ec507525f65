"""Opening a study database and running transactions on it: what every part of ``StudyDatabase`` stands on.

Lock contention (SQLite's single writer, PostgreSQL row locks) is retried with backoff here, so callers never see
"database is locked"; an outage of a database opened once is waited out for ``$AUTOTUNE_DB_OUTAGE``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError

from autotune.database import _schema as S
from autotune.database._urls import DEFAULT_STORAGE, mask_url, parse_url, scrub
from autotune.errors import StorageError

_log = logging.getLogger("autotune")


def _outage_limit() -> float:
    """How long a run waits out a study database that went away: ``$AUTOTUNE_DB_OUTAGE`` (e.g. 90, 10m), 5 min."""
    from autotune._checks import parse_duration

    try:
        return parse_duration(os.environ.get("AUTOTUNE_DB_OUTAGE") or 300, "$AUTOTUNE_DB_OUTAGE")
    except Exception as exc:  # noqa: BLE001 - a ConfigError: said as it is
        raise StorageError(str(exc)) from None


def _is_outage(exc: BaseException) -> bool:
    """A lost connection, a server refusing connections, restarting or shutting down: worth waiting out."""
    if getattr(exc, "connection_invalidated", False):
        return True
    orig = getattr(exc, "orig", exc)
    state = getattr(orig, "sqlstate", None) or ""
    if state.startswith(("08", "57P")):  # connection exceptions; admin or crash shutdown, cannot connect now
        return True
    text = str(orig).lower()
    return any(s in text for s in ("connection refused", "could not connect", "connection failed",
                                   "server closed the connection", "terminating connection", "connection is lost",
                                   "the database system is", "no connection to the server", "connection reset",
                                   "connection timeout expired", "consuming input failed"))


def _reason(exc: BaseException, url: str) -> str:
    """A database error's first line, password scrubbed (its type's name where it has no text)."""
    lines = str(getattr(exc, "orig", exc)).strip().splitlines() or str(exc).strip().splitlines()
    return scrub(lines[0] if lines else type(exc).__name__, url)


#: what to do about a database error, by words in the driver's message (the first match wins)
_HINTS = (
    (("permission denied", "must be owner"),
     "The database role needs the rights to create, read and write autotune's tables (autotune_*)."),
    (("readonly database", "read-only file system", "read-only transaction"),
     "The file or its folder is read-only; autotune needs to write to it."),
    (("database or disk is full", "no space left", "disk full", "could not extend file", "disk quota",
      "disk i/o error", "file too large"),
     "The disk that holds the database is full (or the file is over a quota or size limit, or the disk is failing); "
     "free some space, then run the same command again: every finished trial is kept."),
    (("value too long", "string or blob too big", "too big", "out of range", "numeric field overflow"),
     "A value is larger than the database column allows; shorten it (study and artifact names have limits: see "
     "the README)."),
    (("file is not a database", "not a database", "malformed"),
     "The file is not an intact SQLite database; check the path, or restore the file from a copy."),
    (("connect", "connection", "could not translate host", "resolve host", "authentication", "no password",
      "role", "does not exist", "timeout expired", "timed out", "refused", "unable to open database file",
      "server closed", "ssl"),
     "Check the URL, the password and that the server is running."),
)
_OTHER_HINT = "That is the database's own message; fix its cause, then run the same command again."


def _is_contention(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return any(s in text for s in ("database is locked", "database table is locked", "busy", "deadlock",
                                   "could not serialize", "lock wait timeout", "serialization failure"))


_OPEN: weakref.WeakSet[DatabaseConnection] = weakref.WeakSet()  # the databases this process holds open


def close_open() -> None:
    """Close every study database this process still holds open (a process about to leave with ``os._exit``)."""
    for db in list(_OPEN):
        with contextlib.suppress(Exception):
            db.close()


class DatabaseConnection:
    """One study database opened: its URL checked, its SQLAlchemy engine, its tables created or their version
    checked, and the transactions every other part runs in (``read``, ``write``: lock contention retried, an
    outage waited out, any other error one message naming the database)."""

    def __init__(self, url: str = DEFAULT_STORAGE, *, create: bool = True, _upgrading: bool = False) -> None:
        self.url = url
        self.shown_url = mask_url(url)
        self.created_file: str | None = None  # the SQLite file this process created, removed on a clean abort
        # an outage of a database opened once is waited out (see _retry); one that cannot be opened is an error
        self._opened, self._gave_up, self._outage_since = False, False, None
        self._outage_lock = threading.Lock()  # the heartbeat thread and the run loop share the outage's state
        self.outage_limit = _outage_limit()
        self.interrupted: Callable[[], bool] = lambda: False  # set by a run: Ctrl-C ends an outage's wait
        parsed = parse_url(url, self.shown_url)
        backend = parsed.get_backend_name()
        if backend == "postgres":  # a common alias (Heroku, libpq's own URIs) that SQLAlchemy does not know
            parsed = parsed.set(drivername="postgresql+" + (parsed.get_driver_name() if "+" in parsed.drivername
                                                            else "psycopg"))
            backend = "postgresql"
        if backend not in ("sqlite", "postgresql"):
            what = "MySQL" if backend in ("mysql", "mariadb") else f"'{parsed.drivername}'"
            raise StorageError(f"cannot use {self.shown_url}: {what} is not supported; autotune keeps studies in "
                               "SQLite (sqlite:///autotune.db) or PostgreSQL (postgresql://user:password@host/db).")
        self.dialect = backend
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            path = parsed.database or ""
            if path in ("", ":memory:"):
                raise StorageError("an in-memory SQLite database cannot hold a study; give a file, e.g. "
                                   "sqlite:///autotune.db.")
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise StorageError(f"cannot open the study database {self.shown_url}: the folder {folder} does not "
                                   "exist; create it or fix the path.")
            if not os.path.exists(path):
                if not create:
                    raise StorageError(f"no study database at {self.shown_url} ({os.path.abspath(path)}); run a "
                                       "study first, or pass --storage / set AUTOTUNE_STORAGE.")
                self.created_file = os.path.abspath(path)
            kwargs["connect_args"] = {"timeout": 10}
        else:
            if self.dialect == "postgresql":
                kwargs["connect_args"] = {"connect_timeout": 10}
                if parsed.drivername == "postgresql":  # psycopg 3 is the driver autotune installs
                    parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            self.engine: Engine = sa.create_engine(parsed, **kwargs)
        except (NoSuchModuleError, ImportError) as exc:
            raise StorageError(f"cannot use {self.shown_url}: {scrub(str(exc), url)}; write postgresql:// for "
                               "psycopg, the driver autotune installs, or install the driver the URL names.") from None
        _OPEN.add(self)
        if self.dialect == "sqlite":
            self._sqlite_setup()
        if not _upgrading:
            self._open(create)
            self._opened = True  # (an upgrade never waits out an outage: it is one command, said at once)

    def _sqlite_setup(self) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # transactions are begun below, as IMMEDIATE for writes
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout = 10000")  # past it, _retry waits on (the lock holder may be slow)
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable across process crashes
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn):  # straight to the driver: this runs twice per trial
            mode = "BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE"
            conn.connection.driver_connection.execute(mode)

    def _fail(self, exc: BaseException, doing: str) -> StorageError:
        reason = _reason(exc, self.url)
        low = reason.lower()
        hint = next((h for keys, h in _HINTS if any(k in low for k in keys)), _OTHER_HINT)
        return StorageError(f"cannot {doing} the study database {self.shown_url}: {reason}. {hint}")

    def _retry(self, fn: Callable[[], Any], doing: str, passthrough: tuple[type[BaseException], ...] = ()) -> Any:
        """Run ``fn``, retried on lock contention (for up to 5 minutes) and, once the database was opened, through
        an outage (lost connections, a server refusing them, restarting or shutting down) for up to
        ``outage_limit`` seconds; any other database error becomes one StorageError naming the database, except
        the ``passthrough`` types, which the caller handles. An outage is told once, when it starts and ends
        (the ``autotune`` logger), and work in flight elsewhere (trials in workers) goes on meanwhile."""
        delay, start = 0.01, time.monotonic()
        while True:
            try:
                out = fn()
            except passthrough:
                raise
            except (DBAPIError, sqlite3.OperationalError) as exc:
                now = time.monotonic()
                if _is_contention(exc) and now - start < 300 and not self._gave_up:
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, 1.0)
                    continue
                if not (self._opened and _is_outage(exc)):
                    raise self._fail(exc, doing) from None  # e.g. a role without the rights: one message
                with self._outage_lock:
                    first = self._outage_since is None
                    since = self._outage_since = now if first else self._outage_since
                    gave_up = self._gave_up = self._gave_up or now - since >= self.outage_limit
                if gave_up:  # (the clean-up after this error then tries once, not for minutes more)
                    raise StorageError(
                        f"the study database {self.shown_url} has been unreachable for {now - since:.0f} s "
                        f"({_reason(exc, self.url)}), "
                        f"longer than the {self.outage_limit:g} s a run waits ($AUTOTUNE_DB_OUTAGE); the run "
                        "stopped. Its finished trials are saved: run the same command once the database is back "
                        "(trials it left RUNNING are then failed as stale and queued again).") from None
                if first:
                    _log.warning(f"the study database {self.shown_url} is unreachable ({_reason(exc, self.url)}); "
                                 f"retrying for up to {self.outage_limit:g} s, running trials go on.")
                if self.interrupted() and threading.current_thread() is threading.main_thread():
                    raise KeyboardInterrupt  # (the heartbeat thread goes on waiting until the run closes it)
                time.sleep(min(2.0, delay * (1 + random.random())))
                delay = min(delay * 2, 1.0)
                continue
            if self._outage_since is not None:
                with self._outage_lock:
                    since, self._outage_since, self._gave_up = self._outage_since, None, False
                if since is not None:
                    _log.warning(f"the study database {self.shown_url} is back after "
                                 f"{time.monotonic() - since:.0f} s.")
            return out

    def write(self, fn: Callable[[Connection], Any], doing: str = "write to",
              passthrough: tuple[type[BaseException], ...] = ()) -> Any:
        """Run ``fn(conn)`` in one write transaction, retried on lock contention."""
        def attempt():
            with self.engine.begin() as conn:
                return fn(conn)
        return self._retry(attempt, doing, passthrough)

    def read(self, fn: Callable[[Connection], Any], doing: str = "read") -> Any:
        def attempt():
            with self.engine.connect().execution_options(readonly=True) as conn:
                with conn.begin():
                    return fn(conn)
        return self._retry(attempt, doing)

    def _open(self, create: bool) -> None:
        def setup(conn: Connection) -> None:
            if self.dialect == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7204911)")  # many drivers starting at once
            insp = sa.inspect(conn)
            if not insp.has_table(S.meta.name):
                if not create:
                    raise StorageError(f"{self.shown_url} holds no autotune studies; run a study first.")
                S.metadata.create_all(conn)
                conn.execute(S.meta.insert().values(key="schema_version", value=str(S.SCHEMA_VERSION)))
                return
            row = conn.execute(sa.select(S.meta.c.value).where(S.meta.c.key == "schema_version")).first()
            found = int(row[0]) if row else 0
            if found > S.SCHEMA_VERSION:
                raise StorageError(f"the study database {self.shown_url} has schema version {found}, newer than "
                                   f"this autotune understands ({S.SCHEMA_VERSION}); upgrade autotune (in its "
                                   "checkout: git pull, then pip install -e .).")
            if found < S.SCHEMA_VERSION:
                raise StorageError(f"the study database {self.shown_url} has the older schema version {found}; "
                                   f"run `autotune db upgrade --storage URL` to bring it to {S.SCHEMA_VERSION}.")

        for tries in range(5):
            try:
                self.write(setup, "open", passthrough=(DBAPIError,))
                return
            except DBAPIError as exc:  # tables created by another driver at the same moment
                if tries == 4:
                    raise self._fail(exc, "open") from None
                time.sleep(0.05 * (tries + 1))

    @classmethod
    def upgrade(cls, url: str) -> tuple[int, int]:
        """Apply every pending migration in one transaction; returns ``(from_version, to_version)``."""
        from autotune.database._migrations import MIGRATIONS, pending

        db = cls(url, create=False, _upgrading=True)

        def fn(conn: Connection) -> tuple[int, int]:
            if db.dialect == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7204911)")
            if not sa.inspect(conn).has_table(S.meta.name):
                raise StorageError(f"{db.shown_url} holds no autotune studies; nothing to upgrade.")
            found = int(conn.execute(sa.select(S.meta.c.value).where(S.meta.c.key == "schema_version")).scalar())
            if found > S.SCHEMA_VERSION:
                raise StorageError(f"the study database {db.shown_url} has schema version {found}, newer than "
                                   f"this autotune understands ({S.SCHEMA_VERSION}); upgrade autotune instead.")
            for version in pending(found):
                MIGRATIONS[version](conn, db.dialect)
                conn.execute(S.meta.update().where(S.meta.c.key == "schema_version").values(value=str(version)))
            return found, max(found, S.SCHEMA_VERSION)

        try:
            return db.write(fn, "upgrade")
        except DBAPIError as exc:  # not a database at all, or one that cannot be written
            raise db._fail(exc, "upgrade") from None
        finally:
            db.close()

    def close(self) -> None:
        self.engine.dispose()

    def checkpoint(self) -> None:
        """Fold a SQLite database's write-ahead log (the -wal file) into the database file and truncate it, as the
        end of a run does: while any connection stays open (another driver, a reader) SQLite never shrinks it. Best
        effort and brief: skipped while another process holds a transaction open; nothing to do on PostgreSQL."""
        if self.dialect != "sqlite":
            return
        path = make_url(self.url).database
        if not path or not os.path.exists(path):  # (removed after an aborted first run: not created again)
            return
        with contextlib.suppress(Exception):
            raw = self.engine.raw_connection()
            try:
                conn = raw.driver_connection
                waited = conn.execute("PRAGMA busy_timeout").fetchone()[0]
                conn.execute("PRAGMA busy_timeout = 1000")
                try:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                finally:
                    conn.execute(f"PRAGMA busy_timeout = {int(waited)}")
            finally:
                raw.close()

    def remove_if_created_empty(self) -> None:
        """Undo this process's creation of a SQLite file that ends up holding no study."""
        if not self.created_file or self._gave_up:
            return
        if self.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(S.studies)).scalar()) == 0:
            self.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.created_file + suffix)
