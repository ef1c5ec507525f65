"""Many drivers on one study (real processes, SQLite and PostgreSQL): numbers unique, nothing lost or run twice,
the total respected, and a killed driver's trials taken over."""

import signal

import pytest

from tests.conftest import n_complete, rows_so_far, start_driver, trial_rows, wait_until, write_study

pytestmark = pytest.mark.slow  # worker processes, drivers or Ray in every test

STUDY = """
import time

def objective(config, trial):
    time.sleep(0.03)
    trial.report(config["x"], 0)
    return (config["x"] - 0.5) ** 2 + config["k"]

study = at.Study(name="shared", space={"x": at.uniform(0, 1), "k": at.randint(0, 3)}, objective=objective,
                 n_trials=80, sampler="tpe", stale_after=STALE)
"""


def test_four_drivers_share_one_study_exactly(tmp_path, storage):
    write_study(tmp_path, STUDY.replace("STALE", "60"))
    procs = [start_driver(tmp_path, storage) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and err == "", err
        assert "80 COMPLETE" in out
    rows = trial_rows(storage)
    assert [r.number for r in rows] == list(range(80))
    assert all(r.state == "COMPLETE" and r.counted for r in rows)


def test_a_driver_killed_midway_is_taken_over_by_the_others(tmp_path, storage):
    write_study(tmp_path, STUDY.replace("STALE", "3"))
    procs = [start_driver(tmp_path, storage) for _ in range(3)]
    victim = procs[0]
    assert wait_until(lambda: n_complete(storage) >= 20)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    late = start_driver(tmp_path, storage)  # a driver started later, with only the URL
    for p in procs[1:] + [late]:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and err == "", err
    rows = trial_rows(storage)
    numbers = [r.number for r in rows]
    assert len(numbers) == len(set(numbers))
    counted = [r for r in rows if r.counted]
    assert len(counted) == 80 and all(r.state == "COMPLETE" for r in counted)
    assert not [r for r in rows if r.state in ("RUNNING", "WAITING")]
    assert all("stale" in r.error for r in rows if not r.counted)


GRID = """
import time

def objective(config, trial):
    time.sleep(0.02)
    return config["a"] * 10 + config["b"]

study = at.Study(name="grid", space={"a": at.randint(0, 5), "b": at.choice([0.5, 1.5, 2.5, 3.5])},
                 objective=objective, sampler="grid", n_trials=1000)
"""


def test_drivers_sharing_a_grid_never_repeat_a_point(tmp_path, storage):
    write_study(tmp_path, GRID)
    procs = [start_driver(tmp_path, storage) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and err == "", err
    import sqlalchemy as sa

    eng = sa.create_engine(storage)
    with eng.connect() as c:
        params = c.execute(sa.text("SELECT params FROM autotune_trials WHERE state = 'COMPLETE'")).scalars().all()
    eng.dispose()
    assert len(params) == 24 and len(set(params)) == 24


SLOW = """
import os, time

def objective(config, trial):
    end = time.monotonic() + 120
    while not os.path.exists("release") and time.monotonic() < end:  # the test says when the trial may end
        time.sleep(0.05)
    return config["x"]

study = at.Study(name="slow", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=2, sampler="random",
                 stale_after=1)
"""


def test_a_slow_trial_that_heartbeats_is_never_taken_over(tmp_path, storage):
    write_study(tmp_path, SLOW)
    first = start_driver(tmp_path, storage)
    assert wait_until(lambda: any(r.state == "RUNNING" for r in rows_so_far(storage)))
    # past the grace period (stale_after=1): only the heartbeat keeps trial 0 alive
    assert wait_until(lambda: [age >= 1.5 for age in _driver_ages(storage)] == [True])
    second = start_driver(tmp_path, storage)
    # the second driver has joined and runs trial 1 while trial 0 still runs: had it taken trial 0 for stale, it
    # would have failed it by now
    assert wait_until(lambda: len(_driver_ages(storage)) == 2 and
                      [r.state for r in rows_so_far(storage)] == ["RUNNING", "RUNNING"])
    (tmp_path / "release").touch()
    for p in (first, second):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and err == "", err
    rows = trial_rows(storage)
    assert [(r.number, r.state) for r in rows] == [(0, "COMPLETE"), (1, "COMPLETE")]


def _driver_ages(url: str) -> list[float]:
    """How long each registered driver has been heartbeating, in seconds."""
    import sqlalchemy as sa

    eng = sa.create_engine(url)
    with eng.connect() as c:
        rows = c.execute(sa.text("SELECT heartbeat_at - started_at FROM autotune_drivers")).scalars().all()
    eng.dispose()
    return [float(r) for r in rows]


CONTRACT_ON_FIRST = """
import os, time

def objective(config, trial):
    end = time.monotonic() + 120
    while not os.path.exists("release") and time.monotonic() < end:  # the test says when the trial may end
        time.sleep(0.05)
    return "abc" if trial.number == 0 else config["x"]

study = at.Study(name="queued", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=1,
                 enqueue=[{"x": 0.5}], sampler="random", seed=0)
"""


def test_a_contract_error_in_the_creating_driver_keeps_a_study_another_driver_joined(tmp_path, sqlite_url):
    # the creating driver aborts (a contract error) and would remove the study it made, holding only its queue;
    # a second driver, waiting for the budget the first one's trial holds, has joined by then and keeps the study,
    # its queue and the database file
    write_study(tmp_path, CONTRACT_ON_FIRST)
    first = start_driver(tmp_path, sqlite_url)
    assert wait_until(lambda: any(r.state == "RUNNING" for r in rows_so_far(sqlite_url)), timeout=60)
    second = start_driver(tmp_path, sqlite_url)
    assert wait_until(lambda: len(_driver_ages(sqlite_url)) == 2)  # the second driver has joined the study
    (tmp_path / "release").touch()
    _, err = first.communicate(timeout=120)
    assert first.returncode == 1 and "objective returned 'abc'" in err
    _, err = second.communicate(timeout=120)  # it takes the queued trial up and meets the same contract error
    assert second.returncode == 1 and "objective returned 'abc'" in err and "Traceback" not in err, err
    rows = trial_rows(sqlite_url, "queued")  # the study, the database file and the queue are all still there
    assert [(r.number, r.state) for r in rows] == [(0, "WAITING")]
