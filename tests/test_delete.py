"""`autotune delete NAME [--yes]` and `autotune run --fresh`, in real subprocesses: what goes, what stays, and
when they refuse (an unknown study, no terminal to confirm on, a live driver)."""

import os
import pty
import re
import socket
import subprocess
import time

import pytest
import sqlalchemy as sa

from tests.conftest import cli, dump, rows_so_far, start_driver, trial_rows, wait_until, write_study

TWO = """
def objective(config, trial):
    trial.save_artifact("model.txt", f"x={config['x']}")
    return (config["x"] - 0.3) ** 2

demo = at.Study(name="demo", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=4, sampler="random",
                seed=0, keep_artifacts=2, artifact_store=STORE)
other = at.Study(name="other", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=3, sampler="random",
                 seed=1)
"""


def _rows(url: str, study: str) -> dict[str, list]:
    """Every row that belongs to one study, table by table (artifact chunks through their artifact)."""
    eng = sa.create_engine(url)
    with eng.connect() as c:
        sid = c.execute(sa.text("SELECT id FROM autotune_studies WHERE name = :n"), {"n": study}).scalar()
        out = {"studies": c.execute(sa.text("SELECT * FROM autotune_studies WHERE id = :s"), {"s": sid}).all()}
        for table in ("trials", "artifacts", "drivers"):
            out[table] = sorted(c.execute(sa.text(f"SELECT * FROM autotune_{table} WHERE study_id = :s"),
                                          {"s": sid}).all(), key=repr)
        out["chunks"] = sorted(c.execute(sa.text(
            "SELECT c.* FROM autotune_artifact_chunks c JOIN autotune_artifacts a ON a.id = c.artifact_id "
            "WHERE a.study_id = :s"), {"s": sid}).all(), key=repr)
    eng.dispose()
    return out


def _files(folder) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


@pytest.fixture
def two(tmp_path, storage):
    """A database holding 'demo' (artifacts in an external store) and 'other' (artifacts in the database)."""
    store = tmp_path / "store"
    write_study(tmp_path, f"STORE = {f'file://{store}'!r}\n" + TWO)
    for name in ("demo", "other"):
        r = cli("run", "study.py", "--name", name, "--storage", storage, "--quiet", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    return tmp_path, storage


def test_delete_yes_removes_the_study_its_trials_and_artifact_files_and_nothing_else(two):
    folder, url = two
    other = _rows(url, "other")
    assert other["trials"] and other["chunks"] and _rows(url, "demo")["artifacts"]
    assert [f.split(os.sep)[0] for f in _files(folder / "store")] == ["demo", "demo"]  # keep_artifacts=2
    r = cli("delete", "demo", "--yes", "--storage", url, cwd=folder)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("deleted study 'demo' (4 trials, 2 artifacts) from ")
    assert _rows(url, "demo") == {"studies": [], "trials": [], "artifacts": [], "drivers": [], "chunks": []}
    assert _files(folder / "store") == []  # the external store's files went with it
    assert _rows(url, "other") == other
    status = cli("status", "--storage", url, cwd=folder).stdout
    assert status.startswith("other: 3 finished") and "demo" not in status


def test_delete_an_unknown_study_is_one_message_and_changes_nothing(two):
    folder, url = two
    before = dump(url), _files(folder / "store")
    r = cli("delete", "nope", "--yes", "--storage", url, cwd=folder)
    assert r.returncode == 1 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "no study named 'nope' in " in r.stderr
    assert "studies here: demo, other." in r.stderr
    assert (dump(url), _files(folder / "store")) == before


def test_delete_without_yes_off_a_terminal_is_refused_and_changes_nothing(two):
    folder, url = two
    before = dump(url), _files(folder / "store")
    r = cli("delete", "demo", "--storage", url, cwd=folder, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "would remove study 'demo' (4 trials and their artifacts)" in r.stderr and "pass --yes" in r.stderr
    assert (dump(url), _files(folder / "store")) == before


def _on_a_terminal(answer: bytes, *args, cwd) -> subprocess.CompletedProcess:
    """``autotune ARGS`` with a terminal (a pseudo-terminal) as its stdin, on which ``answer`` is typed."""
    leader, follower = pty.openpty()
    try:
        os.write(leader, answer)
        return cli(*args, cwd=cwd, stdin=follower)
    finally:
        os.close(follower)
        os.close(leader)


def test_delete_on_a_terminal_asks_first(tmp_path, sqlite_url):
    write_study(tmp_path, "STORE = None\n" + TWO)
    assert cli("run", "study.py", "--name", "other", "--storage", sqlite_url, "--quiet", cwd=tmp_path).returncode == 0
    before = dump(sqlite_url)
    for answer in (b"\n", b"n\n", b"no\n"):  # the default is no
        r = _on_a_terminal(answer, "delete", "other", "--storage", sqlite_url, cwd=tmp_path)
        assert r.returncode == 1 and "delete study 'other' (3 trials and their artifacts)" in r.stderr, r.stderr
        assert "[y/N]" in r.stderr and "nothing deleted" in r.stderr
        assert dump(sqlite_url) == before
    r = _on_a_terminal(b"y\n", "delete", "other", "--storage", sqlite_url, cwd=tmp_path)
    assert r.returncode == 0 and "deleted study 'other' (3 trials, 1 artifact)" in r.stdout, r.stderr
    assert trial_rows(sqlite_url) == []


def test_run_fresh_deletes_the_study_and_runs_it_anew(two):
    folder, url = two
    other = _rows(url, "other")
    old = _rows(url, "demo")
    started = time.time()
    r = cli("run", "study.py", "--name", "demo", "--fresh", "--storage", url, "--quiet", cwd=folder)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("deleted study 'demo' (4 trials, 2 artifacts) from ")
    assert "study 'demo': 4 COMPLETE" in r.stdout
    new = _rows(url, "demo")
    assert new["studies"][0].id != old["studies"][0].id  # a new study, not the old one topped up
    assert sorted(t.number for t in new["trials"]) == [0, 1, 2, 3]
    assert all(t.state == "COMPLETE" and t.started_at >= started for t in new["trials"])
    assert _rows(url, "other") == other


def test_run_fresh_where_there_is_nothing_to_delete_just_runs(tmp_path):
    write_study(tmp_path, "STORE = None\n" + TWO)
    r = cli("run", "study.py", "--name", "other", "--fresh", "--quiet", cwd=tmp_path)
    assert r.returncode == 0 and "deleted" not in r.stdout and "study 'other': 3 COMPLETE" in r.stdout, r.stderr


SLOW = """
import time

def objective(config, trial):
    time.sleep(0.2)
    return config["x"]

study = at.Study(name="slow", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=1000, sampler="random")
"""


@pytest.mark.slow
def test_delete_and_fresh_are_refused_while_a_driver_is_live_and_not_once_it_was_killed(tmp_path, storage):
    write_study(tmp_path, SLOW)
    driver = start_driver(tmp_path, storage)
    try:
        assert wait_until(lambda: any(r.state == "COMPLETE" for r in rows_so_far(storage)), timeout=120)
        for args in (["delete", "slow", "--yes"], ["run", "study.py", "--fresh", "--quiet"]):
            r = cli(*args, "--storage", storage, cwd=tmp_path)
            assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
            assert "study 'slow' in " in r.stderr and "has 1 live driver" in r.stderr
            assert f"{socket.gethostname()} pid {driver.pid}" in r.stderr and "stop it first" in r.stderr
        assert driver.poll() is None  # still running, its study still there
        n = len(trial_rows(storage, "slow"))
        assert wait_until(lambda: len(trial_rows(storage, "slow")) > n, timeout=60)
    finally:
        driver.kill()  # SIGKILL: its driver row stays behind, with a fresh heartbeat
        driver.communicate()
    r = cli("delete", "slow", "--yes", "--storage", storage, cwd=tmp_path)  # its process is gone: not live
    assert r.returncode == 0 and r.stdout.startswith("deleted study 'slow' ("), r.stderr
    assert trial_rows(storage) == [] and _rows(storage, "slow")["drivers"] == []


def test_a_driver_on_another_host_counts_as_live_until_its_heartbeat_is_a_minute_old(tmp_path, sqlite_url):
    write_study(tmp_path, "STORE = None\n" + TWO)
    assert cli("run", "study.py", "--name", "other", "--storage", sqlite_url, "--quiet", cwd=tmp_path).returncode == 0
    eng = sa.create_engine(sqlite_url)

    def beat(seconds_ago: float) -> None:
        with eng.begin() as c:
            c.execute(sa.text("DELETE FROM autotune_drivers"))
            c.execute(sa.text("INSERT INTO autotune_drivers (id, study_id, host, pid, started_at, heartbeat_at) "
                              "SELECT 'elsewhere', id, 'another-host.example', 1, :t, :t FROM autotune_studies"),
                      {"t": time.time() - seconds_ago})

    beat(5)  # a driver on another machine, heartbeating
    before = dump(sqlite_url)
    r = cli("delete", "other", "--yes", "--storage", sqlite_url, cwd=tmp_path)
    assert r.returncode == 1 and re.search(r"live driver \(another-host\.example pid 1, last heartbeat \d+ s ago\)",
                                           r.stderr), r.stderr
    assert "after 60 s without a heartbeat" in r.stderr and dump(sqlite_url) == before
    beat(61)  # that machine died a minute ago
    r = cli("delete", "other", "--yes", "--storage", sqlite_url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _rows(sqlite_url, "other")["drivers"] == [] and trial_rows(sqlite_url) == []
    eng.dispose()
