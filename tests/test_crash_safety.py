"""Crash safety, tested by crashing: kill -9 and Ctrl-C of real driver processes, then resume."""

import signal
import subprocess
import time

import pytest
import sqlalchemy as sa

from tests.conftest import cli, n_complete, rows_so_far, start_driver, trial_rows, wait_until, write_study

pytestmark = pytest.mark.slow  # worker processes, drivers or Ray in every test

SLOW = """
import time

def objective(config, trial):
    for step in range(3):
        time.sleep(0.05)
        trial.report(config["x"] + 1.0 / (step + 1), step)
    return config["x"]

study = at.Study(name="crash", space={"x": at.uniform(0, 1), "k": at.randint(1, 3)}, objective=objective,
                 n_trials=30, parallelism=PAR, sampler="tpe", seed=0)
"""


def _assert_exact(url, n=30):
    rows = trial_rows(url, "crash")
    numbers = [r.number for r in rows]
    assert len(numbers) == len(set(numbers))
    assert not [r for r in rows if r.state in ("RUNNING", "WAITING")]
    counted = [r for r in rows if r.counted]
    assert len(counted) == n and all(r.state == "COMPLETE" for r in counted)
    for r in rows:
        if not r.counted:
            assert r.state == "FAIL" and "stale: its driver" in r.error and "re-queued as trial" in r.error
    return rows


@pytest.mark.parametrize("par, kill_after", [(2, 4), (2, 12), (1, 6), (2, 0)])
def test_killed_driver_loses_no_finished_trial(tmp_path, storage, par, kill_after):
    write_study(tmp_path, SLOW.replace("PAR", str(par)))
    proc = start_driver(tmp_path, storage)
    if kill_after:
        assert wait_until(lambda: n_complete(storage) >= kill_after, 60), proc.communicate()
    else:
        time.sleep(1.0)  # somewhere in start-up: importing, creating tables, or the first trials
    before = {r.number for r in trial_rows(storage) if r.state == "COMPLETE"} if kill_after else set()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    r = cli("run", "study.py", "--storage", storage, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rows = _assert_exact(storage)
    assert before <= {x.number for x in rows if x.state == "COMPLETE"}


def test_workers_die_with_their_driver(tmp_path, sqlite_url):
    write_study(tmp_path, SLOW.replace("PAR", "2").replace("time.sleep(0.05)", "time.sleep(5)"))
    proc = start_driver(tmp_path, sqlite_url)
    assert wait_until(lambda: n_complete(sqlite_url) == 0 and len([r for r in rows_so_far(sqlite_url)
                                                                  if r.state == "RUNNING"]) == 2)
    workers = _children(proc.pid)
    assert len(workers) >= 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert wait_until(lambda: not any(_alive(p) for p in workers), timeout=10)


def test_workers_of_a_killed_driver_leave_quietly(tmp_path, sqlite_url):
    """Workers reporting every 50 ms found their driver gone as they wrote to it, and each printed a
    BrokenPipeError traceback into the user's terminal."""
    import os
    import sys

    from tests.conftest import ROOT

    write_study(tmp_path, """
    import time

    def objective(config, trial):
        for step in range(200):
            time.sleep(0.05)
            trial.report(config["x"], step)
        return config["x"]

    study = at.Study(name="chatty", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=8,
                     parallelism=2, sampler="random")
    """)
    with open(tmp_path / "err.txt", "w") as err:  # a file: it outlives the driver, as a terminal does
        proc = subprocess.Popen([sys.executable, "-m", "autotune.cli", "run", "study.py", "--storage", sqlite_url,
                                 "--quiet"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT}, stderr=err)
        assert wait_until(lambda: len([r for r in rows_so_far(sqlite_url) if r.state == "RUNNING"]) == 2)
        time.sleep(1.0)  # both workers reporting
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert wait_until(lambda: not any(_alive(p) for p in workers), timeout=10)
    assert (tmp_path / "err.txt").read_text() == ""


@pytest.mark.parametrize("par", [1, 2])
def test_ctrl_c_exits_130_and_leaves_nothing_running(tmp_path, storage, par):
    write_study(tmp_path, SLOW.replace("PAR", str(par)))
    proc = start_driver(tmp_path, storage)
    assert wait_until(lambda: n_complete(storage) >= 3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; the study is saved" in err and "Traceback" not in err
    rows = trial_rows(storage)
    assert not [r for r in rows if r.state == "RUNNING"]
    r = cli("run", "study.py", "--storage", storage, "--quiet", cwd=tmp_path)
    assert r.returncode == 0
    rows = trial_rows(storage)
    assert sum(r.counted for r in rows) == 30 and all(r.state == "COMPLETE" for r in rows if r.counted)


def test_a_stale_trial_from_another_machine_is_taken_over_but_a_live_one_is_not(tmp_path, sqlite_url):
    import autotune as at
    from autotune.database import StudyDatabase

    study = at.Study(name="crash", space={"x": at.uniform(0, 1)}, objective=lambda c, t: c["x"], n_trials=3,
                     sampler="random", seed=0, stale_after=5)
    db = StudyDatabase(sqlite_url)
    row, _ = db.ensure_study("crash", ["loss"], ["min"], study.space.to_dict(), 3)
    live, dead = db.register_driver(row.id), db.register_driver(row.id)
    now = time.time()
    with db.engine.begin() as c:  # two drivers on other hosts: one beating, one silent for a minute
        c.execute(sa.text("UPDATE autotune_drivers SET host='elsewhere', pid=1"))
        c.execute(sa.text("UPDATE autotune_drivers SET heartbeat_at=:t WHERE id=:d"), {"t": now - 60, "d": dead})
    assert db.claim_new(row.id, live, 3, {"x": 0.1}, "random")[0] == 0
    assert db.claim_new(row.id, dead, 3, {"x": 0.2}, "random")[0] == 1
    assert db.fail_stale(row.id, grace=5) == [(1, 2)]
    states = {r.number: r.state for r in trial_rows(sqlite_url)}
    assert states == {0: "RUNNING", 1: "FAIL", 2: "WAITING"}
    db.heartbeat(live, row.id)
    assert db.fail_stale(row.id, grace=5) == []


def _children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_two_drivers_taking_over_one_stale_trial_requeue_it_once(storage):
    """Both drivers read the trial as RUNNING; the second takeover must find it gone and change nothing."""
    import autotune as at
    from autotune.database import StudyDatabase
    from autotune.database import _schema as S

    study = at.Study(name="race", space={"x": at.uniform(0, 1)}, objective=lambda c, t: 0.0, n_trials=3)
    db = StudyDatabase(storage)
    row, _ = db.ensure_study("race", ["loss"], ["min"], study.space.to_dict(), 3)
    dead = db.register_driver(row.id)
    db.claim_new(row.id, dead, 3, {"x": 0.5}, "random")
    seen = db.read(lambda c: c.execute(sa.select(S.trials).where(S.trials.c.number == 0)).one())
    first = db.write(lambda c: db._requeue(c, row.id, seen, "stale", same_attempt=True))
    second = db.write(lambda c: db._requeue(c, row.id, seen, "stale", same_attempt=True))
    assert first == (0, 1) and second is None
    peek = db.peek(row.id)
    assert (peek.n_active, peek.n_waiting) == (0, 1)
    assert [(r.number, r.state) for r in trial_rows(storage)] == [(0, "FAIL"), (1, "WAITING")]
