"""``autotune dashboard``: optuna-dashboard live on a study that other drivers run, and read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from conftest import ROOT, _free_port, cli, dump, start_driver, wait_until, write_study

import autotune as at

pytest.importorskip("optuna_dashboard")

STUDY = """
import os
import time

def objective(config, trial):
    if trial.number >= 20:  # the test holds the driver here, to look at the dashboard while the driver runs
        while not os.path.exists("release"):
            time.sleep(0.05)
    for step in range(3):
        trial.report(config["x"] + step, step)
    return config["x"] ** 2

study = at.Study(name="live", space={"x": at.uniform(-1, 1)}, objective=objective, n_trials=30, sampler="random",
                 seed=0)
"""


def _get(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.loads(r.read())


def _send(port: int, method: str, path: str) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b"{}", method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _trials(port: int, sid: int) -> list[dict]:
    try:
        return _get(port, f"/api/studies/{sid}")["trials"]
    except (OSError, ValueError):
        return []


def _complete(port: int, sid: int) -> int:
    return sum(t["state"] == "Complete" for t in _trials(port, sid))


@pytest.fixture
def dashboard(tmp_path):
    """Start ``autotune dashboard`` on a free port; yields a function that starts it, and stops it after."""
    procs = []

    def start(url: str, name: str) -> int:
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": ROOT}
        p = subprocess.Popen([sys.executable, "-m", "autotune.cli", "dashboard", name, "--storage", url, "--port",
                              str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        procs.append(p)
        assert wait_until(lambda: p.poll() is not None or _studies(port), 60), "the dashboard did not start"
        assert p.poll() is None, p.communicate()
        return port

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=30)


def _studies(port: int):
    try:
        return _get(port, "/api/studies")["study_summaries"]
    except (OSError, ValueError):
        return None


@pytest.mark.slow
def test_the_dashboard_shows_trials_as_another_driver_finishes_them(tmp_path, dashboard):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    write_study(tmp_path, STUDY)
    assert cli("run", "study.py", "--storage", url, "--n-trials", "3", "--quiet", cwd=tmp_path).returncode == 0
    port = dashboard(url, "live")
    (summary,) = _studies(port)
    assert summary["study_name"] == "live"
    sid = summary["study_id"]
    assert _complete(port, sid) == 3
    driver = start_driver(tmp_path, url)  # runs trials 3..19, then holds at trial 20
    try:
        # the dashboard (not restarted) shows the new trials while the driver is running, and its running trial
        assert wait_until(lambda: _complete(port, sid) == 20, 120), _trials(port, sid)
        assert wait_until(lambda: any(t["state"] == "Running" and t["number"] == 20 for t in _trials(port, sid)),
                          60)
        assert driver.poll() is None  # still running: held at trial 20
        open(tmp_path / "release", "w").close()
        out, err = driver.communicate(timeout=120)
        assert driver.returncode == 0, err
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert wait_until(lambda: _complete(port, sid) == 30, 60)
    shown = {t["number"]: t for t in _trials(port, sid)}
    stored = {t.number: t for t in at.load_study("live", storage=url).trials}
    assert set(shown) == set(stored) == set(range(30))
    for number, t in stored.items():  # the same numbers, values and reports as stored
        assert shown[number]["values"] == [pytest.approx(t.value)]
        assert [(v["step"], v["value"]) for v in shown[number]["intermediate_values"]] == \
            [(s, pytest.approx(v)) for s, v in t.intermediate]


def test_the_dashboard_never_writes_to_the_study(tmp_path, dashboard):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    write_study(tmp_path, STUDY)
    assert cli("run", "study.py", "--storage", url, "--n-trials", "6", "--quiet", cwd=tmp_path).returncode == 0
    before = dump(url)
    port = dashboard(url, "live")
    sid = _studies(port)[0]["study_id"]
    trial_id = _trials(port, sid)[0]["trial_id"]
    for method, path in [("PUT", f"/api/studies/{sid}/note"), ("POST", f"/api/studies/{sid}/rename"),
                         ("DELETE", f"/api/studies/{sid}"), ("POST", "/api/studies"),
                         ("POST", f"/api/trials/{trial_id}/tell"), ("POST", f"/api/trials/{trial_id}/user-attrs"),
                         ("PUT", f"/api/studies/{sid}/{trial_id}/note")]:
        status, body = _send(port, method, path)
        assert status == 403 and "read-only" in body["reason"], (method, path, status, body)
    assert len(_get(port, f"/api/studies/{sid}")["trials"]) == 6
    assert _get(port, f"/api/studies/{sid}/param_importances")  # Optuna's importances over the live storage
    assert dump(url) == before


def test_live_storage_reads_the_database_and_refuses_writes(storage):
    from optuna.trial import TrialState

    from autotune.dashboard import LiveStorage
    from autotune.errors import AutotuneError

    def objective(config, trial):
        if config["x"] > 0.7:
            raise ValueError("too large")
        trial.report(config["x"], 0)
        return config["x"]

    study = at.Study(name="ls", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=12, sampler="random",
                     seed=1, metric="acc", mode="max")
    result = study.run(storage=storage)
    live = LiveStorage(result)
    sid = live.get_study_id_from_name("ls")
    assert live.get_study_system_attrs(sid) == {"study:metric_names": ["acc"]}
    [listed] = live.get_all_studies()
    assert (listed.study_name, listed.directions, listed.user_attrs) == ("ls", live.get_study_directions(sid), {})
    frozen = live.get_all_trials(sid)
    assert [t.number for t in frozen] == [t.number for t in result.trials]
    assert {t.state for t in frozen} == {TrialState.COMPLETE, TrialState.FAIL}
    best = live.get_best_trial(sid)
    assert best.number == result.best_trial.number and best.value == result.best_value
    assert live.get_trial(frozen[3]._trial_id).number == 3
    # more trials: the same storage object sees them at once
    study.run(storage=storage, n_trials=15)
    assert len(live.get_all_trials(sid)) == 15
    with pytest.raises(AutotuneError, match="read-only"):
        live.set_trial_user_attr(frozen[0]._trial_id, "k", 1)
    with pytest.raises(AutotuneError, match="read-only"):
        live.create_new_study([], "other")
