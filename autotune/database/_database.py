"""The study database: every state change of a study, durable when it happens, shared by any number of drivers.

A driver's hot path is three statements per trial: one read of the study row (``peek``), one transaction that
claims a number and inserts the RUNNING trial, and one that finishes it. Lock contention (SQLite's single writer,
PostgreSQL row locks) is retried with backoff here, so callers never see "database is locked".
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError

from autotune._names import ARTIFACT_NAME_RULE, STUDY_NAME_RULE, artifact_name_problem, study_name_problem
from autotune.database import _schema as S
from autotune.database._artifacts import delete_location, read_location, sha256
from autotune.errors import ConfigError, StorageError
from autotune.spaces._domains import strip_addresses

DEFAULT_STORAGE = "sqlite:///autotune.db"
_log = logging.getLogger("autotune")
SET_ASIDE = " (set aside, not counted toward n_trials: no trial of the study had run well when it was run again)"


def _outage_limit() -> float:
    """How long a run waits out a study database that went away: ``$AUTOTUNE_DB_OUTAGE`` (e.g. 90, 10m), 5 min."""
    from autotune._checks import parse_duration

    try:
        return parse_duration(os.environ.get("AUTOTUNE_DB_OUTAGE") or 300, "$AUTOTUNE_DB_OUTAGE")
    except Exception as exc:  # noqa: BLE001 - a ConfigError: said as it is
        raise StorageError(str(exc)) from None
FINISHED = ("COMPLETE", "PRUNED", "FAIL")
FEASIBLE = "_feasible"  # a constrained trial's verdict, kept in its metrics (false: it broke a constraint)
CONSTRAINTS = "_constraints"  # a constrained trial's constraint values, kept in its metrics beside FEASIBLE


def feasible(metrics_json: str | None) -> bool:
    """Whether a stored trial met the study's constraints (trials of unconstrained studies always do)."""
    return f'"{FEASIBLE}": false' not in (metrics_json or "")


#: a password given as a query parameter (``...?password=...``, as psycopg and libpq accept it), or in a libpq
#: keyword string (``host=db password=...``), quoted or not
_QUERY_SECRET = re.compile(r"(?i)((?:^|[?&;\s])(?:password|passwd|pwd|sslpassword)\s*=\s*)"
                           r"('(?:\\.|[^'\\])*'?|[^&#\s]*)")
#: a libpq keyword string such as "host=db user=me dbname=x"
_KEYWORDS = re.compile(r"(?i)(?:^|\s)(?:host|hostaddr|port|dbname|user|password|passfile|sslmode|service)\s*=")


def _password_span(url: str) -> tuple[int, int] | None:
    """Where a URL's password is written: from after the user name's ':' to the '@' before the host (the last '@'
    before the query, so that an unencoded '@' in the password is counted in it); None when it has none."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower().startswith("sqlite"):  # a file path: any ':' or '@' in it is part of the name
        return None
    start = len(scheme) + len(sep) if sep else 0
    rest = url[start:]
    head = rest.split("?", 1)[0]
    at = head.rfind("@") if "@" in head else rest.rfind("@")  # (a '?' may be part of a password too)
    colon = rest.find(":", 0, at) if at > 0 else -1  # a user name holds no ':' (it may hold an '@')
    return (start + colon + 1, start + at) if colon >= 0 else None


def mask_url(url: str) -> str:
    """The URL as it may be shown: every password replaced by ***."""
    shown = str(url)
    span = _password_span(shown)
    if span:
        shown = f"{shown[:span[0]]}***{shown[span[1]:]}"
    with contextlib.suppress(Exception):  # a URL as SQLAlchemy writes it; anything else as given, masked
        shown = make_url(shown).render_as_string(hide_password=True)
    return _QUERY_SECRET.sub(r"\1***", shown)


def _passwords(url: str) -> list[str]:
    """The URL's passwords (in its user part, in its query, in a keyword string), as written and decoded, the
    longest first."""
    text = str(url)
    found = []
    span = _password_span(text)
    if span:
        found.append(text[span[0]:span[1]])
    found += [m.group(2) for m in _QUERY_SECRET.finditer(text)]
    found += [p.strip("'") for p in found]
    with contextlib.suppress(Exception):
        parsed = make_url(text)
        found.append(parsed.password or "")
        for key, value in parsed.query.items():
            if key.lower() in ("password", "passwd", "pwd", "sslpassword"):
                found += [value] if isinstance(value, str) else list(value)
    found += [unquote(str(p)) for p in found] + [unquote_plus(str(p)) for p in found]
    return sorted({str(p) for p in found if p}, key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """Remove the URL's passwords from any text (driver error messages sometimes echo the DSN), as written and as
    percent-encoded in a URL."""
    for pw in _passwords(url):
        text = text.replace(pw, "***").replace(quote_plus(pw), "***").replace(quote(pw, safe=""), "***")
    return text


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


def _parse_url(url: str, shown: str):
    """The storage URL parsed, or one message saying what is wrong with it (never showing its password)."""
    if isinstance(url, str) and "://" not in url and _KEYWORDS.search(url):
        raise StorageError(f"'{shown}' is not a storage URL but a libpq keyword string (key=value pairs); autotune "
                           "takes a URL: postgresql://user:password@host:5432/db (percent-encode '@', ':' and '/' "
                           "in the password as %40, %3A and %2F).")
    try:
        parsed = make_url(url)
    except ArgumentError:
        path_like = isinstance(url, str) and url.strip() and not any(c in url for c in ":@")
        hint = f"for a SQLite file write sqlite:///{shown}" if path_like else "use e.g. sqlite:///autotune.db"
        raise StorageError(f"'{shown}' is not a storage URL (from --storage, $AUTOTUNE_STORAGE or the study's "
                           f"storage=); {hint}, or postgresql://user:password@host/db.") from None
    except ValueError:  # SQLAlchemy reads the port as a number
        raise StorageError(f"'{shown}' is not a storage URL: the port after the host is not a number; write e.g. "
                           "postgresql://user:password@host:5432/db (percent-encode '@', ':' and '/' in the password "
                           "as %40, %3A and %2F).") from None
    span = _password_span(url)
    if span and "@" in url[span[0]:span[1]] and not parsed.get_backend_name().startswith("sqlite"):
        raise StorageError(f"the password in the storage URL '{shown}' holds an '@', which ends the password there "
                           "and leaves the rest as the host; percent-encode it as %40 (and ':' '/' as %3A %2F), e.g. "
                           "postgresql://user:p%40ss@host/db.")
    return parsed


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


def _no_addresses(value: Any) -> Any:
    """A stored space description with memory addresses dropped: earlier versions stored the ``repr`` of a function
    in a space with its address, which changes with every process, so such a study could never be resumed."""
    if isinstance(value, str):
        return strip_addresses(value)
    if isinstance(value, list):
        return [_no_addresses(v) for v in value]
    if isinstance(value, dict):
        return {k: _no_addresses(v) for k, v in value.items()}
    return value


def _shown(domain: Any) -> str:
    """A stored domain as it is written in a study file, e.g. ``uniform(-5.0, 5.0)``, ``randint(1, 9, step=2)``."""
    if not isinstance(domain, dict) or "kind" not in domain:
        return repr(domain)
    rest = {k: v for k, v in domain.items() if k != "kind"}
    if domain["kind"] == "conditional":
        return "choice({" + ", ".join(f"{k!r}: {{...}}" for k in rest.get("branches", {})) + "})"
    args = [repr(rest.pop(k)) for k in ("low", "high", "values", "value") if k in rest]
    defaults = {"step": 1 if domain["kind"] == "randint" else None, "log": False, "by_index": True}
    args += [f"{k}={v!r}" for k, v in rest.items()  # a default left out (compared by type too: True == 1)
             if k not in defaults or type(v) is not type(defaults[k]) or v != defaults[k]]
    return f"{domain['kind']}({', '.join(args)})"


def space_change(stored: dict[str, Any], declared: dict[str, Any]) -> str | None:
    """The first difference between a stored space and the declared one, in words; None when they are the same."""
    return _change(_no_addresses(stored), _no_addresses(declared), "")


def _change(stored: dict[str, Any], declared: dict[str, Any], where: str) -> str | None:
    for key in stored:
        if key not in declared:
            return f"parameter '{key}'{where} is no longer declared"
        was, now = stored[key], declared[key]
        if was != now and was.get("kind") == now.get("kind") == "conditional":
            if set(was["branches"]) != set(now["branches"]):
                return f"parameter '{key}'{where} had the branches {list(was['branches'])} and now has " \
                       f"{list(now['branches'])}"
            return next(_change(b, now["branches"][name], f" (in branch '{name}' of '{key}')")
                        for name, b in was["branches"].items() if b != now["branches"][name])  # (names in any order)
        if was != now:
            return f"parameter '{key}'{where} was {_shown(was)} and is now {_shown(now)}"
    for key in declared:
        if key not in stored:
            return f"parameter '{key}'{where} is new"
    return None


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


class StudyDatabase:
    """All reads and writes of studies, trials, drivers and artifacts, over one SQLAlchemy engine."""

    def __init__(self, url: str = DEFAULT_STORAGE, *, create: bool = True, _upgrading: bool = False) -> None:
        self.url = url
        self.shown_url = mask_url(url)
        self.created_file: str | None = None  # the SQLite file this process created, removed on a clean abort
        # an outage of a database opened once is waited out (see _retry); one that cannot be opened is an error
        self._opened, self._gave_up, self._outage_since = False, False, None
        self._outage_lock = threading.Lock()  # the heartbeat thread and the run loop share the outage's state
        self.outage_limit = _outage_limit()
        self.interrupted: Callable[[], bool] = lambda: False  # set by a run: Ctrl-C ends an outage's wait
        parsed = _parse_url(url, self.shown_url)
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
        if self.dialect == "sqlite":
            self._sqlite_setup()
        self._compile_hot()
        if not _upgrading:
            self._open(create)
            self._opened = True  # (an upgrade never waits out an outage: it is one command, said at once)

    # -- connection plumbing -------------------------------------------------------------------------------
    def _compile_hot(self) -> None:
        """Compile the per-trial statements once for this dialect; :meth:`_hot` runs them on the driver's
        cursor, skipping SQLAlchemy's per-execution work (about half of a trial's database cost)."""
        self._sql = {}
        for key, stmt, cols in (("claim", _CLAIM, None), ("insert", _INSERT, _INSERT_COLS),
                                ("seq", _TAKE_SEQ, None), ("finish", _FINISH, None)):
            c = stmt.compile(dialect=self.engine.dialect, column_keys=cols)
            self._sql[key] = (str(c), c.positiontup, dict(c.params))

    def _hot(self, conn: Connection, key: str, params: dict[str, Any]):
        sql, order, defaults = self._sql[key]
        merged = {**defaults, **params}  # literals in the statement (state = 'RUNNING') are parameters too
        cur = conn.connection.driver_connection.cursor()
        cur.execute(sql, tuple(merged[n] for n in order) if order else merged)
        return cur

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

    # -- studies -------------------------------------------------------------------------------------------
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
                        if not _driver_dead(d, host, now, refuse_live)]
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
                if _written_here(r.location, row.name, r.trial_number, r.name)]
            conn.execute(S.artifact_chunks.delete().where(S.artifact_chunks.c.artifact_id.in_(
                sa.select(S.artifacts.c.id).where(S.artifacts.c.study_id == study_id))))
            for table in (S.artifacts, S.trials, S.drivers):
                conn.execute(table.delete().where(table.c.study_id == study_id))
            conn.execute(S.studies.delete().where(S.studies.c.id == study_id))
            return gone, external

        gone, external = self.write(fn, "delete from")
        gone["files_left"] = _delete_external(external)
        return gone

    def peek(self, study_id: int) -> Peek:
        r = self.read(lambda c: c.execute(
            sa.select(S.studies.c.log_seq, S.studies.c.n_active, S.studies.c.n_waiting)
            .where(S.studies.c.id == study_id)).one())
        return Peek(r.log_seq, r.n_active, r.n_waiting)

    # -- drivers and leases --------------------------------------------------------------------------------
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
        return sum(not _driver_dead(d, host, now, grace) for d in rows)

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
            dead = {i for i, d in drivers.items() if i != me and _driver_dead(d, host, now, grace)}
            if dead:
                conn.execute(S.drivers.delete().where(S.drivers.c.id.in_(dead)))
            running = conn.execute(sa.select(S.trials).where(S.trials.c.study_id == study_id,
                                                             S.trials.c.state == "RUNNING",
                                                             S.trials.c.owner != me if me else sa.true())).all()
            stale = [r for r in running if _driver_dead(drivers.get(r.owner), host, now, grace)]
            out = []
            for r in stale:
                d = drivers.get(r.owner)
                who = f"{d.host} pid {d.pid}" if d else "an unknown driver"
                out.append(self._requeue(conn, study_id, r, f"stale: its driver ({who}) stopped; configuration "
                                                            "re-queued as trial {new}", same_attempt=True))
            return [pair for pair in out if pair is not None]

        return self.write(fn)

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
        taken = conn.execute(S.trials.update().where(S.trials.c.id == row.id, S.trials.c.state == "RUNNING")
                             .values(state="FAIL", counted=False, finished_at=time.time())).rowcount
        if taken != 1:
            return None
        new = conn.execute(S.studies.update().where(S.studies.c.id == study_id)
                           .values(next_number=S.studies.c.next_number + 1, n_waiting=S.studies.c.n_waiting + 1)
                           .returning(S.studies.c.next_number)).scalar_one() - 1
        conn.execute(S.trials.insert().values(
            study_id=study_id, number=new, state="WAITING", params=row.params, origin="queue",
            attempt=row.attempt if same_attempt else row.attempt + 1, retry_of=row.number, counted=True))
        seq = self._next_seq(conn, study_id, n_active=-1)
        conn.execute(S.trials.update().where(S.trials.c.id == row.id).values(
            error=reason.replace("{new}", str(new)), finish_seq=seq))
        return row.number, new

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
            self._hot(conn, "insert", {"study_id": study_id, "number": next_number - 1, "state": "RUNNING",
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
            query = sa.select(T.id, T.number, T.params, T.attempt, T.retry_of).where(
                T.study_id == study_id, T.state == "WAITING")
            if retry_of is not None:
                query = query.where(T.retry_of == retry_of)
            if not_retry_of:
                query = query.where(sa.or_(T.retry_of.is_(None), T.retry_of.not_in(not_retry_of)))
            row = conn.execute(query.order_by(T.number).limit(1)).first()
            if row is None:
                raise _NothingToClaim  # roll back the counters taken above
            conn.execute(S.trials.update().where(S.trials.c.id == row.id).values(
                state="RUNNING", owner=driver_id, started_at=time.time()))
            return {"number": row.number, "params": json.loads(row.params), "attempt": row.attempt,
                    "retry_of": row.retry_of}
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
                dict(study_id=study_id, number=first + i, state="WAITING", params=json.dumps(p), origin="queue",
                     attempt=0, counted=True) for i, p in enumerate(todo)])
            return list(range(first, end)), left_out
        return self.write(fn)

    def unqueue(self, study_id: int, numbers: list[int]) -> None:
        """Take back configurations an aborted run queued on an existing study: those still WAITING go, and give
        their numbers back while no later trial took one."""
        def fn(conn: Connection) -> None:
            for number in sorted(numbers, reverse=True):
                gone = conn.execute(S.trials.delete().where(S.trials.c.study_id == study_id,
                                                            S.trials.c.number == number,
                                                            S.trials.c.state == "WAITING")).rowcount
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
                S.trials.c.study_id == study_id, S.trials.c.number == number, S.trials.c.state == "RUNNING",
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
            if artifacts and state == "COMPLETE":
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
        _delete_external(dropped)
        return out

    def _owned(self, conn: Connection, study_id: int, driver_id: str) -> list[Any]:
        return conn.execute(sa.select(S.trials).where(S.trials.c.study_id == study_id,
                                                      S.trials.c.state == "RUNNING",
                                                      S.trials.c.owner == driver_id)).all()

    def release_owned(self, study_id: int, driver_id: str) -> None:
        """Undo the start of an aborted run's trials: queued ones wait again, sampler-proposed ones vanish (and
        give their numbers back while no later trial took one, so the study's numbering has no gap)."""
        def fn(conn: Connection) -> None:
            for r in sorted(self._owned(conn, study_id, driver_id), key=lambda r: -r.number):
                mine = (S.trials.c.id == r.id, S.trials.c.state == "RUNNING")  # unless taken over meanwhile
                if r.origin == "queue":
                    done = conn.execute(S.trials.update().where(*mine).values(
                        state="WAITING", owner=None, started_at=None, intermediate=None)).rowcount
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
        return self.read(lambda c: c.execute(sa.select(S.trials.c.number, S.trials.c.state, S.trials.c.owner)
                                             .where(S.trials.c.study_id == study_id,
                                                    S.trials.c.state.in_(("RUNNING", "PAUSED")))).all())

    # -- pause and promote (the halving pruner) -----------------------------------------------------------
    def paused(self, study_id: int, numbers: set[int]) -> list[Any]:
        """These trials, if still PAUSED: number, params and reports, by number."""
        return self.read(lambda c: c.execute(
            sa.select(S.trials.c.number, S.trials.c.params, S.trials.c.intermediate)
            .where(S.trials.c.study_id == study_id, S.trials.c.state == "PAUSED", S.trials.c.number.in_(numbers))
            .order_by(S.trials.c.number)).all())

    def pause(self, study_id: int, number: int, driver_id: str, intermediate: list[list[float]] | None) -> bool:
        """Pause this driver's RUNNING trial at a rung, keeping its reports; False if it was taken over as stale.
        A paused trial keeps its place in the budget; nothing else changes until it is continued or pruned."""
        def fn(conn: Connection) -> bool:
            return conn.execute(S.trials.update().where(
                S.trials.c.study_id == study_id, S.trials.c.number == number, S.trials.c.state == "RUNNING",
                S.trials.c.owner == driver_id).values(
                state="PAUSED", intermediate=json.dumps(intermediate) if intermediate else None)
            ).rowcount == 1
        return self.write(fn)

    @staticmethod
    def _as_seen(seen: str | None):
        """A paused trial still as a plan saw it: decisions from an older read (another driver continued it and
        it paused again, at a later rung, meanwhile) must not apply to it."""
        col = S.trials.c.intermediate
        return (S.trials.c.state == "PAUSED", col.is_(None) if seen is None else col == seen)

    def resume_paused(self, study_id: int, number: int, driver_id: str, seen: str | None) -> Any | None:
        """Continue a PAUSED trial under this driver (RUNNING again); None if another driver took it first, or it
        is no longer paused where ``seen`` (its stored reports, as read) says."""
        def fn(conn: Connection) -> Any | None:
            where = (S.trials.c.study_id == study_id, S.trials.c.number == number)
            if conn.execute(S.trials.update().where(*where, *self._as_seen(seen))
                            .values(state="RUNNING", owner=driver_id)).rowcount != 1:
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
                        state="PRUNED", value=value, objective_values=values, finished_at=time.time())).rowcount != 1:
                    continue  # pruned by another driver, or continued meanwhile
                conn.execute(S.trials.update().where(*where).values(finish_seq=self._next_seq(conn, study_id)))
                done.append(number)
            return done
        return self.write(fn)

    def trials_since(self, study_id: int, seq: int) -> list[Any]:
        """Finished trials with ``finish_seq > seq``, in commit order."""
        return self.read(lambda c: c.execute(
            sa.select(S.trials).where(S.trials.c.study_id == study_id, S.trials.c.finish_seq > seq)
            .order_by(S.trials.c.finish_seq)).all())

    def trial(self, study_id: int, number: int) -> Any | None:
        """One trial's row, or None."""
        return self.read(lambda c: c.execute(
            sa.select(S.trials).where(S.trials.c.study_id == study_id, S.trials.c.number == number)).first())

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
            key = state if counted else "RETRIED"
            out.setdefault(sid, {})[key] = out.setdefault(sid, {}).get(key, 0) + n
        for sid, c in out.items():  # each configuration queued again has one successor naming it
            superseded = c.pop("RETRIED", 0)
            retried = min(superseded, retries.get(sid, 0))
            c.update({k: n for k, n in (("RETRIED", retried), ("UNCOUNTED", superseded - retried)) if n})
        return out

    def ran_well(self, study_id: int) -> bool:
        """Whether some trial of the study completed, or was pruned or paused (ran until a pruner judged it)."""
        T = S.trials.c
        return self.read(lambda c: c.execute(sa.select(T.number).where(T.study_id == study_id, T.state.in_(
            ("COMPLETE", "PRUNED", "PAUSED"))).limit(1)).first()) is not None

    def set_failures_aside(self, study_id: int) -> int | None:
        """For a study none of whose trials has run well (completed, pruned or paused) and none running: its failed
        trials stop counting toward ``n_trials`` (they are kept), so that a run after a fix of the study file has the
        whole budget. Returns how many were set aside, or None for a study with a trial that ran well."""
        T = S.trials.c

        def fn(conn: Connection) -> int | None:
            if conn.execute(sa.select(T.number).where(T.study_id == study_id, T.state.in_(
                    ("COMPLETE", "PRUNED", "PAUSED"))).limit(1)).first() is not None:
                return None
            if conn.execute(sa.select(T.number).where(T.study_id == study_id, T.state == "RUNNING")
                            .limit(1)).first() is not None:
                return 0  # another driver is at work: its failures are its run's
            k = conn.execute(S.trials.update().where(T.study_id == study_id, T.state == "FAIL", T.counted).values(
                counted=False, error=sa.func.coalesce(T.error, "failed") + SET_ASIDE)).rowcount
            if k:
                self._next_seq(conn, study_id, n_active=-k)
            return k

        return self.write(fn)

    def best_trial(self, study_id: int, mode: str) -> Any | None:
        """The best completed trial that meets the study's constraints (if it has any)."""
        order = S.trials.c.value.asc() if mode == "min" else S.trials.c.value.desc()
        offset, page = 0, 1
        while True:
            query = (sa.select(S.trials).where(S.trials.c.study_id == study_id, S.trials.c.state == "COMPLETE")
                     .order_by(order, S.trials.c.number).offset(offset).limit(page))
            rows = self.read(lambda c, q=query: c.execute(q).all())
            for r in rows:
                if feasible(r.metrics):
                    return r
            if len(rows) < page:
                return None
            offset, page = offset + page, min(page * 4, 1024)

    # -- artifacts -----------------------------------------------------------------------------------------
    def _store_artifacts(self, conn: Connection, study_id: int, number: int, data: dict[str, Any],
                         keep: int, mode: str) -> list[str]:
        """Record a trial's artifacts (bytes go into chunks; a ``(location, size, sha256)`` tuple was already
        written to an external store), then drop those of trials beyond the best ``keep``. Returns external
        locations to delete once the transaction commits."""
        now = time.time()
        for name, blob in data.items():
            problem = artifact_name_problem(name)
            if problem:
                raise StorageError(f"trial {number} saved an artifact that cannot be stored: {problem}; "
                                   f"{ARTIFACT_NAME_RULE}.")
            if isinstance(blob, tuple):
                location, size, digest = blob
            else:
                location, size, digest = None, len(blob), sha256(blob)
            aid = conn.execute(S.artifacts.insert().values(
                study_id=study_id, trial_number=number, name=name, size=size, sha256=digest, location=location,
                created_at=now).returning(S.artifacts.c.id)).scalar_one()
            if location is None:
                chunks = [blob[k:k + S.CHUNK_SIZE] for k in range(0, len(blob), S.CHUNK_SIZE)] or [b""]
                conn.execute(S.artifact_chunks.insert(), [
                    {"artifact_id": aid, "idx": k, "data": c} for k, c in enumerate(chunks)])
        if keep <= 0:
            return []
        holders = conn.execute(
            sa.select(S.trials.c.number, S.trials.c.value, S.trials.c.metrics).where(
                S.trials.c.study_id == study_id, S.trials.c.number.in_(
                    sa.select(S.artifacts.c.trial_number).where(S.artifacts.c.study_id == study_id)))).all()
        if len(holders) <= keep:
            return []

        ranked = sorted(holders, key=lambda r: (not feasible(r.metrics), r.value if mode == "min" else -r.value,
                                                r.number))  # feasible trials first, then by value
        return self._drop_artifacts(conn, study_id, [r.number for r in ranked[keep:]])

    def _drop_artifacts(self, conn: Connection, study_id: int, numbers: list[int]) -> list[str]:
        doomed = conn.execute(sa.select(S.artifacts).where(
            S.artifacts.c.study_id == study_id, S.artifacts.c.trial_number.in_(numbers))).all()
        ids = [r.id for r in doomed]
        conn.execute(S.artifact_chunks.delete().where(S.artifact_chunks.c.artifact_id.in_(ids)))
        conn.execute(S.artifacts.delete().where(S.artifacts.c.id.in_(ids)))
        if not any(r.location for r in doomed):
            return []
        study = conn.execute(sa.select(S.studies.c.name).where(S.studies.c.id == study_id)).scalar_one()
        return [r.location for r in doomed if r.location and _written_here(r.location, study, r.trial_number, r.name)]

    def artifact_names(self, study_id: int, number: int) -> list[str]:
        return list(self.read(lambda c: c.execute(
            sa.select(S.artifacts.c.name).where(S.artifacts.c.study_id == study_id,
                                                S.artifacts.c.trial_number == number)
            .order_by(S.artifacts.c.name)).scalars()))

    def load_artifact(self, study_id: int, number: int, name: str) -> bytes:
        """An artifact's bytes, refused if their SHA-256 no longer matches what was recorded."""
        def fn(c: Connection):
            meta = c.execute(sa.select(S.artifacts).where(
                S.artifacts.c.study_id == study_id, S.artifacts.c.trial_number == number,
                S.artifacts.c.name == name)).first()
            if meta is None or meta.location:
                return meta, None
            chunks = c.execute(sa.select(S.artifact_chunks.c.data).where(
                S.artifact_chunks.c.artifact_id == meta.id).order_by(S.artifact_chunks.c.idx)).scalars()
            return meta, b"".join(bytes(x) for x in chunks)

        meta, data = self.read(fn)
        if meta is None:
            names = self.artifact_names(study_id, number)
            raise StorageError(f"trial {number} has no artifact named '{name}'"
                               + (f"; it has: {', '.join(names)}." if names else "; it saved none (or they were "
                                  "dropped by keep_artifacts)."))
        if meta.location:
            data = read_location(meta.location)
        if len(data) != meta.size or sha256(data) != meta.sha256:
            raise StorageError(f"artifact '{name}' of trial {number} fails its SHA-256 check: it was changed after "
                               "it was stored. Refusing to return it.")
        return data


def _written_here(location: str, study: str, number: int, name: str) -> bool:
    """Whether an external artifact's stored location is where autotune writes it (``STORE/study/number/name``,
    no '..' part): a location changed in a shared database to point at another file is never deleted."""
    return location.endswith(f"/{study}/{number}/{name}") and ".." not in location.replace("\\", "/").split("/")


def _delete_external(locations: list[str]) -> list[str]:
    """Remove artifact files of an external store (best effort); returns those that could not be removed."""
    left = []
    for loc in locations:
        try:
            delete_location(loc)
        except Exception:  # noqa: BLE001 - a file that cannot be removed now is reported, not fatal
            left.append(loc)
    return left


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
                  _TRIAL.state == "RUNNING", _TRIAL.owner == sa.bindparam("b_owner"))
           .values(state=sa.bindparam("b_state"), value=sa.bindparam("b_value"),
                   objective_values=sa.bindparam("b_values"), metrics=sa.bindparam("b_metrics"),
                   intermediate=sa.bindparam("b_inter"), error=sa.bindparam("b_error"),
                   traceback=sa.bindparam("b_tb"), finished_at=sa.bindparam("b_finished"),
                   finish_seq=sa.bindparam("b_seq")))


def _driver_dead(d, host: str, now: float, grace: float) -> bool:
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
