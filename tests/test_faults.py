"""Faults beyond a crash: a driver paused past ``stale_after``, a database that goes away for a while."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest
import sqlalchemy as sa

import autotune as at
from autotune.database import _schema as S
from tests.conftest import ROOT, Proxy, cli, rows_so_far, start_driver, trial_rows, wait_until, write_study

pytestmark = pytest.mark.slow  # worker processes, drivers or Ray in every test

SLOW = """
import json, os, time

def objective(config, trial):
    with open("runs.log", "a") as fh:
        fh.write(json.dumps([config["x"], os.getpid()]) + "\\n")
    time.sleep(0.4)
    trial.save_artifact("x.txt", repr(config["x"]))
    return config["x"]

study = at.Study(name="pause", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=N, sampler="random",
                 parallelism=PAR, stale_after=STALE, artifact_store="file://" + os.path.abspath("store"),
                 keep_artifacts=100)
"""


@pytest.mark.slow
@pytest.mark.parametrize("par", [1, 2])
def test_a_driver_paused_past_stale_after_registers_again_and_reports_honestly(tmp_path, storage, par):
    """SIGSTOP a driver for longer than stale_after while another works: the other takes its trials over. Resumed,
    it printed COMPLETE for trials the database held as FAIL, failed every trial it started as stale (its own
    row was gone) and ran configurations again and again. Now it registers again, keeps or discards the result of
    each trial taken over, and the study ends with its exact total."""
    write_study(tmp_path, SLOW.replace("N", "24").replace("PAR", str(par)).replace("STALE", "3"))
    a = start_driver(tmp_path, storage)
    assert wait_until(lambda: sum(r.state == "COMPLETE" for r in rows_so_far(storage)) >= 2 and
                      any(r.state == "RUNNING" for r in rows_so_far(storage)))
    a.send_signal(signal.SIGSTOP)
    time.sleep(4)  # past stale_after: the other driver takes A's trials over
    b = start_driver(tmp_path, storage)
    assert wait_until(lambda: any(r.error and r.error.startswith("stale") for r in trial_rows(storage)))
    time.sleep(1.0)
    a.send_signal(signal.SIGCONT)
    out_a, err_a = a.communicate(timeout=180)
    out_b, err_b = b.communicate(timeout=180)
    assert a.returncode == 0 and b.returncode == 0, err_a + err_b
    rows = trial_rows(storage)
    assert not [r for r in rows if r.state in ("RUNNING", "WAITING", "PAUSED")]
    assert sum(r.counted and r.state in ("COMPLETE", "PRUNED", "FAIL") for r in rows) == 24
    stale = [r for r in rows if r.error and r.error.startswith("stale")]
    assert 1 <= len(stale) <= par  # only what A ran when it stopped; none of the trials it started afterwards
    # no COMPLETE printed for a trial the database holds as FAIL
    held = {r.number: r.state for r in rows}
    for line in (err_a + err_b).splitlines():
        if " COMPLETE: " in line:
            number = int(line.split(" trial ")[1].split()[0])
            assert held[number] == "COMPLETE", line
    assert "registered again" in err_a and "after another driver took it over as stale" in err_a
    # each configuration completed once; one ran twice at most, and only one that was taken over
    result = at.load_study("pause", storage=storage)
    done = Counter(t.params["x"] for t in result.trials if t.state == "COMPLETE")
    assert max(done.values()) == 1
    runs = Counter(json.loads(line)[0] for line in (tmp_path / "runs.log").read_text().splitlines())
    params = {t.number: t.params["x"] for t in result.trials}
    taken = {params[r.number] for r in stale}
    assert {x for x, n in runs.items() if n > 1} <= taken and max(runs.values()) <= 2
    # the artifact store holds the files the database records, each under its trial's number, and no other: a
    # result kept under another number was written there again, one given up was removed
    eng = sa.create_engine(storage)
    with eng.connect() as c:
        recorded = c.execute(sa.select(S.artifacts.c.trial_number, S.artifacts.c.location)).all()
    eng.dispose()
    assert sorted(n for n, _ in recorded) == sorted(t.number for t in result.trials if t.state == "COMPLETE")
    assert all(loc.endswith(f"/pause/{n}/x.txt") for n, loc in recorded)
    on_disk = {str(p.relative_to(tmp_path / "store")) for p in (tmp_path / "store").rglob("*") if p.is_file()}
    assert on_disk == {f"pause/{n}/x.txt" for n, _ in recorded}


def test_a_driver_never_fails_its_own_trials_as_stale(tmp_path, sqlite_url):
    """A driver whose row was removed (taken for stopped) still runs: its own running trials are not stale to it."""
    from autotune.database import StudyDatabase

    write_study(tmp_path, SLOW.replace("N", "6").replace("PAR", "1").replace("STALE", "60"))
    a = start_driver(tmp_path, sqlite_url)
    assert wait_until(lambda: any(r.state == "RUNNING" for r in rows_so_far(sqlite_url)))
    db = StudyDatabase(sqlite_url)
    sid = db.get_study("pause").id
    a.send_signal(signal.SIGSTOP)
    db.write(lambda c: c.execute(S.drivers.delete()))  # as another driver's take-over leaves it
    a.send_signal(signal.SIGCONT)
    out, err = a.communicate(timeout=120)
    assert a.returncode == 0, err
    rows = trial_rows(sqlite_url)
    assert [r.state for r in rows] == ["COMPLETE"] * 6, [(r.state, r.error) for r in rows]
    assert db.other_drivers(sid, "nobody", 60) == 0


@pytest.fixture
def cut_pg(pg_url):
    """A PostgreSQL database reached through a proxy that can be cut: (url through the proxy, proxy)."""
    u = sa.engine.make_url(pg_url)
    proxy = Proxy(u.host or "127.0.0.1", u.port or 5432)
    yield u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.cut()


OUTAGE = """
import time

def objective(config, trial):
    time.sleep(0.3)
    return config["x"]

study = at.Study(name="outage", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=16, sampler="random",
                 parallelism=2, stale_after=5)
"""


@pytest.mark.slow
def test_a_short_postgresql_outage_is_waited_out(tmp_path, cut_pg):
    """PostgreSQL refusing connections for 3 s ended the driver (rc 1, a trial left RUNNING). Now the run waits,
    its trials go on, and it finishes the exact total."""
    url, proxy = cut_pg
    write_study(tmp_path, OUTAGE)
    driver = start_driver(tmp_path, url)
    assert wait_until(lambda: sum(r.state == "COMPLETE" for r in rows_so_far(url)) >= 3)
    proxy.cut()
    time.sleep(3)
    proxy.resume()
    out, err = driver.communicate(timeout=180)
    assert driver.returncode == 0, err
    assert "is unreachable" in err and "is back after" in err and "Traceback" not in err
    rows = trial_rows(url)
    assert Counter(r.state for r in rows if r.counted) == {"COMPLETE": 16}
    assert not [r for r in rows if r.state in ("RUNNING", "WAITING")]


@pytest.mark.slow
def test_an_outage_past_the_limit_stops_with_one_message_and_the_study_resumes(tmp_path, cut_pg):
    url, proxy = cut_pg
    write_study(tmp_path, OUTAGE)
    env = {"AUTOTUNE_DB_OUTAGE": "2"}
    driver = subprocess.Popen([sys.executable, "-m", "autotune.cli", "run", "study.py", "--storage", url, "--quiet"],
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT, **env}, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert wait_until(lambda: sum(r.state == "COMPLETE" for r in rows_so_far(url)) >= 3)
    proxy.cut()
    out, err = driver.communicate(timeout=120)
    proxy.resume()
    assert driver.returncode == 1, err
    assert "has been unreachable for" in err and "run the same command once the database is back" in err
    assert "Traceback" not in err and err.count("autotune: error:") == 1
    again = cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    rows = trial_rows(url)
    assert sum(r.counted and r.state == "COMPLETE" for r in rows) == 16
    assert not [r for r in rows if r.state in ("RUNNING", "WAITING")]


@pytest.mark.slow
def test_a_sqlite_write_lock_held_past_the_busy_timeout_is_waited_out(tmp_path, sqlite_url):
    """A lock held past SQLite's busy timeout raised a raw 'database is locked' traceback from the BEGIN hook."""
    write_study(tmp_path, OUTAGE)
    driver = start_driver(tmp_path, sqlite_url)
    assert wait_until(lambda: sum(r.state == "COMPLETE" for r in rows_so_far(sqlite_url)) >= 3)
    holder = sqlite3.connect(sa.engine.make_url(sqlite_url).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the single writer's lock, held past the 10 s busy timeout
    time.sleep(13)
    holder.execute("ROLLBACK")
    holder.close()
    out, err = driver.communicate(timeout=180)
    assert driver.returncode == 0, err
    assert "Traceback" not in err and "locked" not in err
    assert Counter(r.state for r in trial_rows(sqlite_url)) == {"COMPLETE": 16}
