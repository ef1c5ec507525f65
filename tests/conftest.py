"""Shared fixtures: real SQLite files, a real PostgreSQL database per test, and a CLI runner in subprocesses."""

from __future__ import annotations

import contextlib
import inspect
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

PG_SERVER = os.environ.get("AUTOTUNE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pg_reason() -> str | None:
    try:
        eng = sa.create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
        with eng.connect():
            pass
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL not reachable at {PG_SERVER}: {str(exc).splitlines()[0]}"


_PG_REASON = _pg_reason()


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database for one test (required under CI=true)."""
    if _PG_REASON:
        if os.environ.get("CI") == "true":
            pytest.fail(_PG_REASON)
        pytest.skip(_PG_REASON)
    name = f"autotune_t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_SERVER).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'studies.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path):
    """Each storage the conformance tests must pass on: a SQLite file and a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return request.getfixturevalue("pg_url")


def write_study(folder, body: str, name: str = "study.py") -> str:
    path = os.path.join(folder, name)
    with open(path, "w") as fh:
        fh.write("import autotune as at\n" + textwrap.dedent(body))
    return path


def cli(*args, cwd, env=None, timeout=240, **kw) -> subprocess.CompletedProcess:
    """Run ``autotune ARGS`` in a real subprocess."""
    full_env = {k: v for k, v in os.environ.items() if k != "AUTOTUNE_STORAGE"}
    full_env.update({"PYTHONPATH": ROOT, **(env or {})})
    return subprocess.run([sys.executable, "-m", "autotune.cli", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, **kw)


def dump(url: str) -> dict | None:
    """Every row of every autotune table, for checking that a bad input changed nothing (None: no database)."""
    u = sa.engine.make_url(url)
    if u.get_backend_name() == "sqlite" and not os.path.exists(u.database):
        return None
    eng = sa.create_engine(url)
    out = {}
    with eng.connect() as c:
        for table in sorted(sa.inspect(c).get_table_names()):
            rows = c.exec_driver_sql(f'SELECT * FROM "{table}"').all()
            out[table] = sorted(repr(tuple(r)) for r in rows)
    eng.dispose()
    return out


def rows_so_far(url: str):
    """The trial rows, or none while the driver under test has not created its tables yet."""
    try:
        return trial_rows(url)
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        return []


def wait_until(predicate, timeout: float = 120) -> bool:
    """Poll ``predicate`` every 50 ms until it holds (True) or ``timeout`` seconds pass (False)."""
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def n_complete(url: str) -> int:
    return sum(r.state == "COMPLETE" for r in rows_so_far(url))


def start_driver(folder, url: str, *extra: str) -> subprocess.Popen:
    """``autotune run study.py`` in the background, for tests that kill or race drivers."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.Popen([sys.executable, "-m", "autotune.cli", "run", "study.py", "--storage", url, "--quiet",
                             *extra], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def trial_rows(url: str, study: str = None):
    eng = sa.create_engine(url)
    with eng.connect() as c:
        q = ("SELECT t.number, t.state, t.counted, t.value, t.error FROM autotune_trials t "
             "JOIN autotune_studies s ON s.id = t.study_id")
        params = {}
        if study:
            q += " WHERE s.name = :name"
            params["name"] = study
        rows = c.execute(sa.text(q + " ORDER BY t.number"), params).all()
    eng.dispose()
    return rows


class Proxy:
    """A TCP proxy in front of PostgreSQL that the test can cut: while cut, connections are refused and the open
    ones are dropped, as when the server restarts or the network goes."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = _free_port()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener = None
        self.resume()

    def resume(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (a close alone would not)
        self.listener.close()
        with self.lock:
            for c in self.conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
            self.conns.clear()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The fast lane (pytest -m "not slow") leaves out what starts processes: a test whose body runs the CLI or a
# driver in a subprocess is marked slow here, as are the modules that mark themselves (worker processes, Ray).
_STARTS_PROCESSES = ("cli(", "start_driver(", "subprocess.run(", "subprocess.Popen(")


def pytest_collection_modifyitems(config, items):
    for item in items:
        function = getattr(item, "function", None)
        if function is None or item.get_closest_marker("slow"):
            continue
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            continue
        if any(call in source for call in _STARTS_PROCESSES):
            item.add_marker(pytest.mark.slow)


def _missing_package(report) -> bool:
    """A skip because a package could not be imported (``pytest.importorskip``): under ``CI=true`` every package
    the tests use is installed by ``.ci/run``, so such a skip is a missing install step, reported as a failure."""
    return os.environ.get("CI") == "true" and report.skipped and "could not import" in str(report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _missing_package(report):
        report.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _missing_package(report):
        report.outcome = "failed"
