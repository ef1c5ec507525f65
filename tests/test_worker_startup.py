"""Worker processes that die while they start, tested with real workers and a real kill -9.

The study file below holds each worker in its import while a file named ``hold`` exists (the driver, which imports
it too, is never held) and leaves one file per import in ``imports/``, so the test knows every starting worker's
pid and can kill one while it is still importing. The objective leaves ``running/NUMBER-PID`` and waits while
``busy`` exists, so trials can be kept RUNNING while a worker is killed beside them.
"""

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT, cli, dump, start_driver, trial_rows, wait_until, write_study

pytestmark = pytest.mark.slow  # worker processes, drivers or Ray in every test

STUDY = """
import multiprocessing, os, time

HERE = os.path.dirname(os.path.abspath(__file__))
if multiprocessing.current_process().name != "MainProcess":  # in a worker process only
    if os.environ.get("WORKER_IMPORT") == "raise":
        raise RuntimeError("no licence server in worker processes")
    if os.environ.get("WORKER_IMPORT") == "exit":
        os._exit(9)
    open(os.path.join(HERE, "imports", str(os.getpid())), "w").close()
    while os.path.exists(os.path.join(HERE, "hold")):
        time.sleep(0.02)

def objective(config, trial):
    open(os.path.join(HERE, "running", f"{trial.number}-{os.getpid()}"), "w").close()
    while os.path.exists(os.path.join(HERE, "busy")):
        time.sleep(0.02)
    return config["x"]

study = at.Study(name="boot", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=6, parallelism=3,
                 sampler="random", seed=0)
"""


@pytest.fixture
def folder(tmp_path):
    write_study(tmp_path, STUDY)
    for sub in ("imports", "running"):
        (tmp_path / sub).mkdir()
    return tmp_path


def _pids(folder, sub):
    return sorted(os.listdir(folder / sub))


def _stop(proc):
    """Why a wait failed: the driver's output, after killing it (its workers may be held in their import)."""
    proc.kill()
    return proc.communicate()


def _finished(proc):
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    return err


def _assert_exact(url, n=6):
    rows = trial_rows(url, "boot")
    assert [r.number for r in rows] == list(range(len(rows)))  # no gap in the numbering
    assert not [r for r in rows if r.state in ("RUNNING", "WAITING")]
    assert sum(r.counted for r in rows) == n
    return rows


def test_a_worker_killed_while_it_starts_is_replaced_and_the_run_finishes(folder, sqlite_url):
    (folder / "hold").touch()
    proc = start_driver(folder, sqlite_url)
    assert wait_until(lambda: len(_pids(folder, "imports")) == 3, 120), _stop(proc)
    victim = int(_pids(folder, "imports")[0])
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: len(_pids(folder, "imports")) == 4, 120), _stop(proc)  # its replacement
    (folder / "hold").unlink()
    _finished(proc)
    rows = _assert_exact(sqlite_url)
    # the killed worker had not loaded the objective: no trial ran in it, so none failed
    assert [r.state for r in rows] == ["COMPLETE"] * 6
    assert len(_pids(folder, "running")) == 6  # each trial ran once


def test_a_replacement_killed_while_it_starts_leaves_the_running_trials_alone(folder, storage):
    """Trials 0-2 run; trial 0's worker is killed (its trial fails), and so is its replacement while it imports;
    trials 1 and 2 are RUNNING all along and finish."""
    (folder / "busy").touch()
    proc = start_driver(folder, storage)
    assert wait_until(lambda: len(_pids(folder, "running")) == 3, 120), _stop(proc)
    (folder / "hold").touch()
    first = {int(name.split("-")[0]): int(name.split("-")[1]) for name in _pids(folder, "running")}
    started = set(_pids(folder, "imports"))
    os.kill(first[0], signal.SIGKILL)
    assert wait_until(lambda: len(_pids(folder, "imports")) == 4, 120), _stop(proc)
    (replacement,) = set(_pids(folder, "imports")) - started
    os.kill(int(replacement), signal.SIGKILL)
    assert wait_until(lambda: len(_pids(folder, "imports")) == 5, 120), _stop(proc)
    states = {r.number: r.state for r in trial_rows(storage, "boot")}
    assert states[1] == states[2] == "RUNNING"
    (folder / "hold").unlink()
    (folder / "busy").unlink()
    _finished(proc)
    rows = _assert_exact(storage)
    assert [(r.number, r.state) for r in rows if r.state != "COMPLETE"] == [(0, "FAIL")]
    assert rows[0].error == "worker died (signal 9)"
    assert len(_pids(folder, "running")) == 6  # 1 and 2 were not run again: each trial ran once


@pytest.mark.parametrize("mode, said", [
    ("raise", ["RuntimeError: no licence server in worker processes",
               "could not load the objective: study file ", "failed to import (line 8)"]),
    ("exit", ["worker processes died 3 times in a row while loading study file",
              "study.py (exit code 9, each time)"]),
])
def test_workers_that_cannot_load_the_study_file_stop_the_run_and_say_why(folder, sqlite_url, mode, said):
    """An import that raises in workers stops the run with what it raised; workers that keep dying while they
    load it stop it after three tries. Either way the database is left as it was."""
    assert cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=folder).returncode == 0
    before = dump(sqlite_url)
    r = cli("run", "study.py", "--storage", sqlite_url, "--quiet", "--n-trials", "9", cwd=folder,
            env={"WORKER_IMPORT": mode})
    assert r.returncode == 1
    assert all(text in r.stderr for text in said), r.stderr
    assert "Traceback" not in r.stderr
    if mode == "raise":
        assert "StudyFileError" not in r.stderr and "__main__" not in r.stderr
    assert dump(sqlite_url) == before


def test_a_script_that_runs_a_study_at_import_time_is_told_to_guard_the_call(tmp_path):
    """Spawned workers import the driver's main script again; a study.run() there kills each of them at start."""
    script = write_study(tmp_path, """
        def objective(config, trial):
            return config["x"]

        study = at.Study(name="s", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=4, parallelism=2)
        study.run(storage="sqlite:///s.db")
        """, name="script.py")
    r = subprocess.run([sys.executable, script], cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT},
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "worker processes died 3 times in a row while Python started them (exit code 1, each time)" in last
    assert f"script {script} again" in last and "`if __name__ == '__main__':`" in last
