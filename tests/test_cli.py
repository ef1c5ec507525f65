"""The autotune command in real subprocesses: the commands, storage resolution, and every bad input giving one
clear message, exit code 1, no traceback, no password, and an unchanged database."""

import argparse
import csv
import datetime
import json
import os
import re
import socket
import subprocess
import sys
import urllib.request

import pytest
import sqlalchemy as sa

from tests.conftest import ROOT, cli, dump, wait_until, write_study

GOOD = """
def objective(config, trial):
    trial.save_artifact("model.txt", f"x={config['x']}")
    return (config["x"] - 0.3) ** 2

study = at.Study(name="demo", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=5, sampler="random",
                 seed=0)
"""


@pytest.fixture
def folder(tmp_path):
    write_study(tmp_path, GOOD)
    return tmp_path


def test_run_status_trials_best_and_export(folder):
    r = cli("run", "study.py", cwd=folder)
    assert r.returncode == 0, r.stderr
    assert "study 'demo': 5 COMPLETE" in r.stdout and os.path.exists(folder / "autotune.db")
    assert r.stderr.count("[demo] trial") == 5  # plain progress lines when not a terminal
    status = json.loads(cli("status", "--json", cwd=folder).stdout)
    assert status[0]["study"] == "demo" and status[0]["counts"] == {"COMPLETE": 5}
    trials = json.loads(cli("trials", "demo", "--format", "json", cwd=folder).stdout)
    assert [t["number"] for t in trials] == list(range(5)) and all("x" in t["params"] for t in trials)
    csv_out = cli("trials", "demo", "--format", "csv", cwd=folder).stdout.splitlines()
    assert csv_out[0] == "number,state,value,params_x,duration,origin,error" and len(csv_out) == 6
    best = json.loads(cli("best", "demo", "--json", "--export", folder / "out", cwd=folder).stdout)
    assert {"study", "trial", "value", "params"} <= set(best)
    assert best["value"] == min(t["value"] for t in trials)
    assert (folder / "out" / "model.txt").read_text() == f"x={best['params']['x']}"
    assert sorted(os.listdir(folder / "out")) == ["model.txt", "params.json"]
    assert best["exported"] == [str(folder / "out" / "model.txt"), str(folder / "out" / "params.json")]
    summary = json.loads((folder / "out" / "params.json").read_text())
    assert summary == {"study": "demo", "trial": best["trial"], "metric": "loss", "value": best["value"],
                       "params": best["params"], "metrics": {"loss": best["value"]}}


def test_run_again_adds_nothing_and_n_trials_adds_the_difference(folder):
    assert cli("run", "study.py", cwd=folder).returncode == 0
    r = cli("run", "study.py", cwd=folder)
    assert "5 COMPLETE" in r.stdout and "[demo] trial" not in r.stderr
    r = cli("run", "study.py", "--n-trials", "8", cwd=folder)
    assert "8 COMPLETE" in r.stdout and r.stderr.count("[demo] trial") == 3


def test_a_space_holding_functions_resumes_in_another_process(tmp_path):
    # a function's repr holds its memory address, which differs in every process: the stored space used to
    # differ from the declared one on every resume ("created with another search space")
    write_study(tmp_path, """
        import math

        def relu(v):
            return max(v, 0.0)

        class Scale:
            def __call__(self, v):
                return 2 * v

        study = at.Study(name="fn", space={"x": at.uniform(-1, 1), "act": at.choice([relu, math.tanh, Scale()]),
                                           "post": at.fixed(Scale())},
                         objective=lambda c, t: c["post"](c["act"](c["x"])), n_trials=2, sampler="random", seed=0)
    """)
    assert cli("run", "study.py", "--quiet", cwd=tmp_path).returncode == 0
    r = cli("run", "study.py", "--quiet", "--n-trials", "4", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "study 'fn': 4 COMPLETE" in r.stdout


def test_storage_resolution_order(folder, tmp_path):
    env_db, flag_db = tmp_path / "env.db", tmp_path / "flag.db"
    r = cli("run", "study.py", "--quiet", cwd=folder, env={"AUTOTUNE_STORAGE": f"sqlite:///{env_db}"})
    assert r.returncode == 0 and env_db.exists() and not (folder / "autotune.db").exists()
    r = cli("run", "study.py", "--quiet", "--storage", f"sqlite:///{flag_db}", cwd=folder,
            env={"AUTOTUNE_STORAGE": f"sqlite:///{env_db}"})
    assert r.returncode == 0 and flag_db.exists()
    r = cli("status", "--json", cwd=folder, env={"AUTOTUNE_STORAGE": f"sqlite:///{env_db}"})
    assert json.loads(r.stdout)[0]["counts"] == {"COMPLETE": 5}


BAD_FILES = {
    "syntax": ("def objective(config, trial)\n    return 1\n", "has a syntax error at line 2"),
    "no_study": ("x = 1\n", "declares no study; assign one at module level"),
    "loguniform": ("space = {'lr': at.loguniform(0, 1)}\n",
                   "loguniform: a log scale needs `low > 0`, but got (low=0, high=1)"),
    "randint": ("space = {'n': at.randint(5, 1)}\n", "randint: `low <= high` must hold"),
    "empty_choice": ("space = {'c': at.choice([])}\n", "choice: the list of values is empty"),
    "sampler": ("study = at.Study(name='demo', space={'x': at.uniform(0, 1)}, objective=lambda c, t: 1.0,"
                " sampler='magic')\n", "unknown sampler 'magic'; choose one of"),
    "lr_schedule": ("from autotune.objectives.torch import torch_objective\n"
                    "objective = torch_objective(lambda c: None, ([[0.0]], [0]), ([[0.0]], [0]),\n"
                    "                            lr_schedule='linear')\n",
                    "lr_schedule must be 'constant', 'cosine' or fn(optimizer, config, epochs), but got 'linear'"),
    "import_error": ("import not_a_module_anywhere\n", "failed to import (line 2): ModuleNotFoundError"),
    "string": ("study = at.Study(name='demo2', space={'x': at.uniform(0, 1)}, objective=lambda c, t: 'abc',"
               " n_trials=3)\n", "objective returned 'abc' (str); return a float or a dict holding 'loss'"),
    "grid_instance": ("import optuna\nstudy = at.Study(name='demo2', space={'x': at.uniform(0, 1)}, objective=lambda"
                      " c, t: 1.0, sampler=optuna.samplers.GridSampler({'x': [0.0, 1.0]}))\n",
                      "pass sampler='grid' rather than an optuna GridSampler"),
    "metric_none": ("study = at.Study(name='demo2', space={'x': at.uniform(0, 1)}, objective=lambda c, t: 1.0,"
                    " metric=None)\n", "`metric` must be a name or a list of distinct names, but got None."),
    "signature": ("def objective(trial):\n    return 1.0\n"
                  "study = at.Study(name='demo2', space={'x': at.uniform(0, 1)}, objective=objective)\n",
                  "`objective` is called as objective(config, trial), but objective(trial) cannot take those"),
    "seed": ("study = at.Study(name='demo2', space={'x': at.uniform(0, 1)}, objective=lambda c, t: 1.0,"
             " seed=2**32)\n", "`seed` must be an integer from 0 to 4294967295, but got 4294967296."),
    "cmaes_multi": ("study = at.Study(name='demo2', space={'x': at.uniform(0, 1)}, objective=lambda c, t: {'a': 1,"
                    " 'b': 2}, metric=['a', 'b'], mode=['min', 'min'], sampler='cmaes')\n",
                    "the cmaes sampler optimises one metric, but this study has 2 (a, b)"),
    "cmaes_instance_multi": ("import optuna\nstudy = at.Study(name='demo2', space={'x': at.uniform(0, 1)}, "
                             "objective=lambda c, t: {'a': 1, 'b': 2}, metric=['a', 'b'], mode=['min', 'min'], "
                             "sampler=optuna.samplers.CmaEsSampler())\n",
                             "the cmaes sampler optimises one metric, but this study has 2 (a, b)"),
    "pruner_multi": ("study = at.Study(name='demo2', space={'x': at.uniform(0, 1)}, objective=lambda c, t: {'a': 1,"
                     " 'b': 2}, metric=['a', 'b'], mode=['min', 'min'], pruner='median')\n",
                     "pruners compare one metric's reports, but this study has 2 (a, b); use pruner='none'"),
    "constraints_bool": ("study = at.Study(name='demo2', space={'x': at.uniform(0, 1)}, objective=lambda c, t: c['x'],"
                         " constraints=lambda m: m['loss'] < 0.5, n_trials=3)\n",
                         "; return a number or a list of numbers, each <= 0 when the trial is feasible (a condition "
                         "such as latency < 20 is written latency - 20)."),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_input_gives_one_clear_message_and_changes_nothing(case, folder):
    assert cli("run", "study.py", "--quiet", cwd=folder).returncode == 0
    before = dump(f"sqlite:///{folder / 'autotune.db'}")
    body, message = BAD_FILES[case]
    write_study(folder, body, "bad.py")
    r = cli("run", "bad.py", cwd=folder)
    assert r.returncode == 1, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert len(r.stderr.strip().splitlines()) == 1
    assert dump(f"sqlite:///{folder / 'autotune.db'}") == before


def test_a_bad_objective_on_a_fresh_folder_creates_no_database(tmp_path):
    write_study(tmp_path, BAD_FILES["string"][0])
    r = cli("run", "study.py", cwd=tmp_path)
    assert r.returncode == 1 and "objective returned 'abc'" in r.stderr
    assert not (tmp_path / "autotune.db").exists()


def test_debug_shows_the_traceback(tmp_path):
    write_study(tmp_path, BAD_FILES["randint"][0])
    r = cli("run", "study.py", cwd=tmp_path, env={"AUTOTUNE_DEBUG": "1"})
    assert r.returncode == 1 and "Traceback" in r.stderr


@pytest.mark.parametrize("url", [
    "postgresql://alice:s3cr3tpw@127.0.0.1:1/nowhere",
    "postgresql://postgres:s3cr3tpw@127.0.0.1:5432/no_such_database_here",
    "postgresql://alice@127.0.0.1:1/nowhere?sslmode=disable&password=s3cr3tpw",  # libpq's query form
])
def test_an_unreachable_storage_never_shows_its_password(folder, url):
    r = cli("run", "study.py", "--storage", url, cwd=folder)
    assert r.returncode == 1
    assert "s3cr3tpw" not in r.stdout + r.stderr and "***" in r.stderr
    assert "cannot open the study database postgresql" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["status", "--storage", "mystudy.db"], "'mystudy.db' is not a storage URL (from --storage, $AUTOTUNE_STORAGE or "
                                            "the study's storage=); for a SQLite file write sqlite:///mystudy.db"),
    (["status", "--storage", "me:s3cr3tpw@dbhost/db"], "'me:***@dbhost/db' is not a storage URL"),
    (["status", "--storage", "postgresql//me:s3/cr3tpw@dbhost/db"], "'postgresql//me:***@dbhost/db' is not a"),
    (["status", "--storage", "me:s3:cr3tpw@dbhost/db"], "'me:***@dbhost/db' is not a storage URL"),
    (["status", "--storage", "me:s3@cr3tpw@dbhost/db"], "'me:***@dbhost/db' is not a storage URL"),
    (["run", "."], ". is a folder; give the study file in it (a .py file that declares a Study)."),
    (["run", "autotune.db"], "study file autotune.db is not a Python file; give the .py file that declares"),
    (["db", "upgrade", "--storage", "sqlite:///study.py"], "cannot upgrade the study database sqlite:///study.py: "
                                                           "file is not a database"),
    (["best", "demo", "--export", "study.py"], "cannot export into study.py: it is a file, not a folder"),
    (["best", "demo", "--export", "study.py/model"], "cannot export into study.py/model: Not a directory"),
])
def test_bad_paths_and_urls_give_one_clear_message_and_change_nothing(args, message, folder):
    assert cli("run", "study.py", "--quiet", cwd=folder).returncode == 0
    before = dump(f"sqlite:///{folder / 'autotune.db'}"), (folder / "study.py").read_text()
    r = cli(*args, cwd=folder)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "s3" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (dump(f"sqlite:///{folder / 'autotune.db'}"), (folder / "study.py").read_text()) == before


def test_reading_commands_on_a_missing_database_create_nothing(tmp_path):
    for args in (["status"], ["trials", "demo"], ["best", "demo"]):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 1 and "no study database at sqlite:///autotune.db" in r.stderr
    assert not (tmp_path / "autotune.db").exists()


def test_unknown_study_and_usage_errors(folder):
    cli("run", "study.py", "--quiet", cwd=folder)
    r = cli("best", "nope", cwd=folder)
    assert r.returncode == 1 and "no study named 'nope'" in r.stderr and "studies here: demo" in r.stderr
    assert cli("run", cwd=folder).returncode == 2
    assert cli("frobnicate", cwd=folder).returncode == 2
    r = cli("run", "study.py", "--timeout", "soon", cwd=folder)
    assert r.returncode == 1 and "timeout 'soon' is not a duration" in r.stderr


def test_several_studies_in_one_file_need_a_name(tmp_path):
    write_study(tmp_path, GOOD + "other = at.Study(name='other', space={'y': at.uniform(0, 1)},"
                                " objective=lambda c, t: c['y'], n_trials=2)\n")
    r = cli("run", "study.py", cwd=tmp_path)
    assert r.returncode == 1 and "declares several studies (demo, other); pick one with --name" in r.stderr
    r = cli("run", "study.py", "--name", "other", cwd=tmp_path)
    assert r.returncode == 0 and "study 'other': 2 COMPLETE" in r.stdout


@pytest.mark.parametrize("body, message", [
    ("study = at.Study(name='g', space={'x': at.uniform(0, 1)}, objective=lambda c, t: 1.0, sampler='grid',"
     " n_trials=3)\n", "the grid sampler needs discrete parameters"),
    ("study = at.Study(name='m', space={'x': at.uniform(0, 1)}, objective=lambda c, t: {'a': 1, 'b': 2},"
     " metric=['a', 'b'], mode=['min', 'min'], sampler='skopt-gp', n_trials=3)\n", "optimises one metric"),
    ("study = at.Study(name='gpu', space={'x': at.uniform(0, 1)}, objective=lambda c, t: 1.0, n_trials=3,"
     " parallelism=2, resources={'cpu': 1, 'gpu': 1})\n", "needs 2 GPUs, but 0 are visible"),
])
def test_settings_refused_at_run_time_change_nothing(body, message, folder, tmp_path):
    assert cli("run", "study.py", "--quiet", cwd=folder).returncode == 0
    before = dump(f"sqlite:///{folder / 'autotune.db'}")
    write_study(folder, body, "bad.py")
    for cwd in (folder, tmp_path / "fresh"):  # an existing database, and a folder with none yet
        os.makedirs(cwd, exist_ok=True)
        r = cli("run", folder / "bad.py", cwd=cwd, env={"AUTOTUNE_GPUS": ""})
        assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert dump(f"sqlite:///{folder / 'autotune.db'}") == before
    assert not (tmp_path / "fresh" / "autotune.db").exists()


@pytest.mark.parametrize("value, code, message", [
    ("-1", 1, "--gpu must be the GPUs each trial takes (1, 2, or a share such as 0.5), but got -1."),
    ("nan", 1, "--gpu must be the GPUs each trial takes (1, 2, or a share such as 0.5), but got nan."),
    ("one", 2, "argument --gpu: invalid float value: 'one'"),
    ("1", 1, "needs 1 GPU, but 0 are visible (none); lower parallelism or the per-trial gpu (the study's "
             "resources, or autotune run --gpu)."),  # no GPU on this machine (AUTOTUNE_GPUS="")
])
def test_a_bad_gpu_override_is_refused_and_changes_nothing(value, code, message, folder):
    assert cli("run", "study.py", "--quiet", "--n-trials", "2", cwd=folder).returncode == 0
    before = dump(f"sqlite:///{folder / 'autotune.db'}")
    r = cli("run", "study.py", "--quiet", "--gpu", value, cwd=folder, env={"AUTOTUNE_GPUS": ""})
    assert r.returncode == code and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert dump(f"sqlite:///{folder / 'autotune.db'}") == before


def test_trials_shows_the_origin_and_its_csv_has_a_column_per_parameter_and_metric(tmp_path):
    write_study(tmp_path, """
        study = at.Study(name="m", space={"x": at.uniform(0, 1), "act": at.choice(["relu", "tanh"]),
                                          "epochs": at.fixed(3)},
                         objective=lambda c, t: {"loss": c["x"], "acc": 1 - c["x"]}, n_trials=3, sampler="random",
                         seed=0, enqueue=[{"x": 0.5, "act": "tanh"}])
    """)
    assert cli("run", "study.py", "--quiet", cwd=tmp_path).returncode == 0
    table = cli("trials", "m", cwd=tmp_path).stdout.splitlines()
    assert table[0].split() == ["#", "state", "value", "secs", "origin", "params", "/", "error"]
    assert [line.split()[4] for line in table[1:]] == ["queue", "random", "random"]
    rows = list(csv.DictReader(cli("trials", "m", "--format", "csv", cwd=tmp_path).stdout.splitlines()))
    assert list(rows[0]) == ["number", "state", "value", "params_x", "params_act", "params_epochs", "metrics_acc",
                             "duration", "origin", "error"]
    assert rows[0]["params_x"] == "0.5" and rows[0]["params_act"] == "tanh" and rows[0]["params_epochs"] == "3"
    assert [float(r["metrics_acc"]) for r in rows] == [1 - float(r["value"]) for r in rows]
    assert [r["origin"] for r in rows] == ["queue", "random", "random"]


def test_best_export_of_a_trial_that_saved_its_own_params_json_keeps_it(tmp_path):
    write_study(tmp_path, """
        def objective(config, trial):
            trial.save_artifact("params.json", "mine")
            return config["x"]

        study = at.Study(name="p", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=2)
    """)
    assert cli("run", "study.py", "--quiet", cwd=tmp_path).returncode == 0
    r = cli("best", "p", "--export", tmp_path / "out", cwd=tmp_path)
    assert r.returncode == 0 and "saved an artifact named params.json, exported as it is" in r.stderr
    assert (tmp_path / "out" / "params.json").read_text() == "mine"


def test_version_and_help_for_every_option():
    import autotune
    from autotune.cli import _parser

    r = cli("--version", cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == f"autotune {autotune.__version__}"
    def options(parser, words):  # every option of every command, nested ones (db upgrade) included
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from options(sub, [*words, name])
            else:
                yield words, action

    found = list(options(_parser(), ["autotune"]))
    assert {tuple(w) for w, _ in found} >= {("autotune", c) for c in ("run", "status", "trials", "best", "delete",
                                                                       "pruning", "dashboard")}
    for words, action in found:
        assert action.help, f"{' '.join(words)} {action.option_strings or action.dest} has no help text"
    for name in ("status", "trials", "best", "pruning", "dashboard", "delete"):  # no study file to take storage= from
        shown = cli(name, "--help", cwd=ROOT).stdout
        assert "storage=" not in shown and "then sqlite:///autotune.db" in shown.replace("\n", " ").replace("  ", ""),\
            shown
    assert "the study's storage=" in cli("run", "--help", cwd=ROOT).stdout.replace("\n", " ").replace("  ", " ")


def test_a_postgres_scheme_is_accepted_and_mysql_is_refused_by_name(folder, pg_url):
    alias = pg_url.replace("postgresql+psycopg://", "postgres://", 1)
    assert alias.startswith("postgres://")
    r = cli("run", "study.py", "--quiet", "--storage", alias, cwd=folder)
    assert r.returncode == 0 and "study 'demo': 5 COMPLETE in postgres://" in r.stdout, r.stderr
    assert json.loads(cli("status", "--json", "--storage", pg_url, cwd=folder).stdout)[0]["counts"] == {"COMPLETE": 5}
    for url in ("mysql://me:s3cr3tpw@dbhost/db", "mysql+pymysql://me@dbhost/db", "mariadb://me@dbhost/db"):
        r = cli("status", "--storage", url, cwd=folder)
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "MySQL is not supported; autotune keeps studies in SQLite (sqlite:///autotune.db) or PostgreSQL" in \
            r.stderr and "psycopg" not in r.stderr and "s3cr3tpw" not in r.stderr
    assert not (folder / "autotune.db").exists()


def test_install_hints_name_commands_that_work_from_a_checkout(tmp_path, folder):
    # a pip install of autotune[...] by name would fetch an unrelated package of that name from PyPI
    by_name = re.compile(r"pip install (-U )?['\"]?autotune\b")
    files = [os.path.join(d, f) for top in ("autotune", "examples", "benchmarks")
             for d, _, fs in os.walk(os.path.join(ROOT, top)) for f in fs if f.endswith((".py", ".md"))]
    files.append(os.path.join(ROOT, "README.md"))
    for path in files:
        with open(path) as fh:
            found = by_name.search(fh.read())
        assert found is None, f"{path}: {found.group(0)}"
    shim = tmp_path / "shim"  # optuna-dashboard not installed
    shim.mkdir()
    (shim / "optuna_dashboard.py").write_text("raise ImportError('No module named optuna_dashboard')\n")
    assert cli("run", "study.py", "--quiet", cwd=folder).returncode == 0
    r = cli("dashboard", "demo", cwd=folder, env={"PYTHONPATH": f"{shim}{os.pathsep}{ROOT}"})
    assert r.returncode == 1 and "pip install optuna-dashboard (or, in the autotune checkout, pip install -e " \
                                 "'.[dashboard]')" in r.stderr, r.stderr


def test_the_dashboard_shows_real_trial_times_and_the_metric_name(folder):
    assert cli("run", "study.py", "--quiet", cwd=folder).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "autotune.cli", "dashboard", "demo", "--port", str(port)],
                              cwd=folder, env={**os.environ, "PYTHONPATH": ROOT}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    detail = {}

    def fetch() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/0", timeout=5) as resp:
                detail.update(json.load(resp))
            return True
        except OSError:
            return server.poll() is not None  # (a server that died ends the wait: checked below)

    try:
        assert wait_until(fetch, timeout=60) and detail, "the dashboard did not answer"
    finally:
        server.kill()
        server.wait()
    eng = sa.create_engine(f"sqlite:///{folder / 'autotune.db'}")
    with eng.connect() as c:
        stored = c.execute(sa.text("SELECT number, started_at, finished_at FROM autotune_trials ORDER BY number")).all()
    eng.dispose()
    assert detail["objective_names"] == ["loss"]
    shown = [(t["datetime_start"], t["datetime_complete"]) for t in detail["trials"]]
    assert shown == [(datetime.datetime.fromtimestamp(s).isoformat(), datetime.datetime.fromtimestamp(f).isoformat())
                     for _, s, f in stored]


def test_the_command_and_its_workers_leave_early_yet_run_exit_handlers_and_close_the_database(tmp_path):
    """`autotune run` and its idle workers skip the interpreter's teardown at the end; what a user's code asked to
    run at exit still runs in each of them, the output is complete and the SQLite database is closed (its
    write-ahead log folded back), so leaving early loses nothing."""
    marks = tmp_path / "marks"
    marks.mkdir()
    write_study(tmp_path, f"""
        import atexit, os
        atexit.register(lambda: open(os.path.join({str(marks)!r}, str(os.getpid())), "w").close())

        def objective(config, trial):
            return {{"loss": config["x"]}}

        study = at.Study(name="leave", space={{"x": at.uniform(0, 1)}}, objective=objective, metric="loss",
                         n_trials=6, parallelism=2, seed=0)
    """)
    out = cli("run", "study.py", "--storage", "sqlite:///leave.db", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "6 COMPLETE" in out.stdout and "best loss" in out.stdout
    assert len(os.listdir(marks)) == 3  # the driver and its two workers, each ran the handler
    # closed before leaving: SQLite removes its write-ahead log and shared-memory files with the last connection
    assert not (tmp_path / "leave.db-wal").exists() and not (tmp_path / "leave.db-shm").exists()
    out = cli("status", "--storage", "sqlite:///leave.db", cwd=tmp_path)
    assert out.returncode == 0 and "6" in out.stdout
