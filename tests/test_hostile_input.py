"""Hostile and oversized input: passwords that must never be shown, study and artifact names that must never lead a
path out of its folder (even names written straight into a shared database), the same name limits on every
storage, hints that fit the database's error, dead drivers' rows, the SQLite -wal file, and huge values in the
CLI's human output."""

import json
import os
import sqlite3
import tempfile

import pytest
import sqlalchemy as sa

import autotune as at
from autotune.errors import ConfigError, ObjectiveContractError, StorageError
from tests.conftest import cli, dump, start_driver, wait_until, write_study

SAVER = """
def objective(config, trial):
    trial.save_artifact("model.txt", f"x={config['x']}")
    trial.save_artifact("sub/weights.bin", b"w" * 1000)
    return config["x"]

study = at.Study(name="victim", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=2, sampler="random",
                 seed=0)
"""


def _sql(url: str, statement: str, **params) -> None:
    eng = sa.create_engine(url)
    with eng.begin() as c:
        c.execute(sa.text(statement), params)
    eng.dispose()


def _saver(name="victim", artifact="model.txt", n_trials=2):
    def objective(config, trial):
        trial.save_artifact(artifact, f"x={config['x']}")
        return config["x"]

    return at.Study(name=name, space={"x": at.uniform(0, 1)}, objective=objective, n_trials=n_trials,
                    sampler="random", seed=0)


# -- passwords ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, fragments", [
    ("host=127.0.0.1 user=r1 password=S3cretPW8 dbname=x", ["S3c", "retPW8"]),  # a libpq keyword string
    ("host=127.0.0.1 user=r1 password='S3cret PW8' dbname=x", ["S3c", "PW8"]),
    ("postgresql://r1:S3c@retPW9@127.0.0.1/db", ["S3c", "retPW9"]),  # an '@' left unencoded in the password
    ("postgresql://u:S3cretPW7@127.0.0.1:abc/db", ["S3c", "retPW7"]),  # a port that is not a number
    ("postgresql://postgres:S3c%40retPW6@127.0.0.1:5432/no_such_database_here", ["S3c", "retPW6"]),  # encoded
])
def test_no_part_of_a_password_is_ever_shown(tmp_path, url, fragments):
    write_study(tmp_path, SAVER)
    runs = [(args, {}) for args in (["run", "study.py"], ["status"], ["best", "victim"], ["db", "upgrade"])]
    runs.append((["run", "study.py"], {"AUTOTUNE_DEBUG": "1"}))  # the traceback too
    for args, env in runs:
        r = cli(*args, "--storage", url, cwd=tmp_path, env=env)
        out = r.stdout + r.stderr
        assert r.returncode == 1, (args, out)
        assert not [f for f in fragments if f in out], (args, out)
        if not env:
            assert r.stderr.startswith("autotune: error: ") and len(r.stderr.strip().splitlines()) == 1, out
    assert not (tmp_path / "autotune.db").exists()


@pytest.mark.parametrize("url, shown, password", [
    ("postgresql://r1:S3c@retPW9@db/x", "postgresql://r1:***@db/x", "S3c@retPW9"),
    ("postgresql://u:S3cretPW7@db:abc/x", "postgresql://u:***@db:abc/x", "S3cretPW7"),
    ("host=db user=me password='S3c ret' dbname=x", "host=db user=me password=*** dbname=x", "S3c ret"),
    ("postgresql://me@db/x?password='S3c ret'", "postgresql://me@db/x?password=***", "S3c ret"),
])
def test_a_url_with_a_password_in_an_odd_place_is_shown_masked(url, shown, password):
    from urllib.parse import quote

    from autotune.database import mask_url, scrub

    assert mask_url(url) == shown
    echoed = f"connection to {url} failed: password {password} ({quote(password)})"
    assert "S3c" not in scrub(echoed, url)


# -- study names ----------------------------------------------------------------------------------------------
HOSTILE = ["../../../../elsewhere/x", "/elsewhere/x", "..", ".", "a\\b", "tab\there", "line\nbreak", "s" * 201,
           "\u00e9" * 130, "", "   "]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_study_name_is_refused_when_the_study_is_made(name):
    with pytest.raises(ConfigError) as err:
        _saver(name=name)
    assert "a study name is 1 to 200 characters" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["../../../../elsewhere/x", "/elsewhere/x", "s" * 201])
def test_a_hostile_study_name_in_a_study_file_changes_nothing(tmp_path, name):
    write_study(tmp_path, SAVER)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path).returncode == 0
    before = dump(url)
    write_study(tmp_path, SAVER.replace('name="victim"', f"name={name!r}"), name="hostile.py")
    r = cli("run", "hostile.py", "--storage", url, "--quiet", cwd=tmp_path)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "a study name is 1 to 200 characters" in r.stderr and "Traceback" not in r.stderr
    assert dump(url) == before
    assert not os.path.exists("/elsewhere")


def test_a_study_renamed_after_it_was_made_is_checked_when_it_runs(sqlite_url):
    study = _saver()
    study.name = "../x"
    with pytest.raises(ConfigError, match="holds a path separator"):
        study.run(storage=sqlite_url)
    assert dump(sqlite_url) is None  # no database made


@pytest.mark.parametrize("stored", ["relative", "absolute"])
def test_a_hostile_name_written_into_the_database_never_leads_best_artifact_outside(tmp_path, sqlite_url, stored):
    """An attacker with write access to a shared database renames a study; another user's best_artifact (a folder
    in the temporary folder, named after the study) must not write where the name points."""
    _saver().run(storage=sqlite_url)
    target = tmp_path / "elsewhere" / "x"
    depth = len(os.path.realpath(tempfile.gettempdir()).split(os.sep)) + 3
    hostile = ("../" * depth + str(target).lstrip("/")) if stored == "relative" else str(target)
    _sql(sqlite_url, "UPDATE autotune_studies SET name = :n", n=hostile)
    result = at.load_study(hostile, storage=sqlite_url)
    with pytest.raises(StorageError, match="cannot name a folder"):
        result.best_artifact("model.txt")
    assert not (tmp_path / "elsewhere").exists()
    written = result.best_artifact("model.txt", dest=tmp_path / "mine")  # a folder of the caller's is fine
    assert written == str(tmp_path / "mine" / "model.txt")


def test_the_artifact_cache_is_a_folder_only_its_user_can_write_to(tmp_path, sqlite_url, monkeypatch):
    """Another user of the machine may have made the cache folder, as a link to a folder of the victim's."""
    _saver().run(storage=sqlite_url)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    os.makedirs(tmp_path / "tmp")
    os.makedirs(tmp_path / "victim_home")
    os.symlink(tmp_path / "victim_home", tmp_path / "tmp" / f"autotune-artifacts-{os.getuid()}")
    result = at.load_study("victim", storage=sqlite_url)
    with pytest.raises(StorageError, match="is not a folder that only you can write to"):
        result.best_artifact("model.txt")
    assert os.listdir(tmp_path / "victim_home") == []
    os.remove(tmp_path / "tmp" / f"autotune-artifacts-{os.getuid()}")
    path = result.best_artifact("model.txt")
    assert path.startswith(str(tmp_path / "tmp" / f"autotune-artifacts-{os.getuid()}" / "victim"))
    assert oct(os.stat(tmp_path / "tmp" / f"autotune-artifacts-{os.getuid()}").st_mode & 0o777) == "0o700"


def test_a_hostile_artifact_name_in_the_database_is_not_exported(tmp_path):
    write_study(tmp_path, SAVER)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path).returncode == 0
    os.makedirs(tmp_path / "work")
    _sql(url, "UPDATE autotune_artifacts SET name = '../../escaped.txt' WHERE name = 'model.txt'")
    before = dump(url)
    r = cli("best", "victim", "--storage", url, "--export", "out", cwd=tmp_path / "work")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "'../../escaped.txt', which would be written outside out" in r.stderr
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "work" / "out").exists()  # nothing written
    assert dump(url) == before


def test_an_export_never_follows_a_link_out_of_its_folder(tmp_path):
    write_study(tmp_path, SAVER)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path).returncode == 0
    os.makedirs(tmp_path / "out")
    os.makedirs(tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "sub")  # the trial saved sub/weights.bin
    r = cli("best", "victim", "--storage", url, "--export", "out", cwd=tmp_path)
    assert r.returncode == 1 and "a link in that folder leads elsewhere" in r.stderr, r.stderr
    assert os.listdir(tmp_path / "elsewhere") == [] and os.listdir(tmp_path / "out") == ["sub"]


def test_deleting_a_study_never_removes_a_file_its_database_row_was_pointed_at(tmp_path, sqlite_url):
    store = tmp_path / "store"
    study = _saver()
    study.artifact_store = f"file://{store}"
    study.run(storage=sqlite_url)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    _sql(sqlite_url, "UPDATE autotune_artifacts SET location = :loc", loc=f"file://{precious}")
    r = cli("delete", "victim", "--yes", "--storage", sqlite_url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert precious.read_text() == "keep me"


def test_names_have_the_same_limits_on_every_storage(storage):
    longest = "a" * 255 + "/" + "b" * 250 + "/" + "c" * 5  # 512 characters, no part longer than a file name's 255
    assert len(longest) == 512
    result = _saver(name="s" * 200, artifact=longest).run(storage=storage)
    assert result.artifact_names() == [longest]
    assert open(result.best_artifact(longest)).read().startswith("x=")
    with pytest.raises(ConfigError, match="the name is 201 characters long, more than 200"):
        _saver(name="s" * 201)
    before = dump(storage)
    for name, message in (("e" * 513, "the name is 513 characters long, more than 512"),
                          ("f" * 256, "has a part longer than 255 characters")):
        with pytest.raises(ObjectiveContractError, match=message):
            _saver(name="s" * 200, artifact=name, n_trials=3).run(storage=storage)
        assert dump(storage) == before


# -- hints that fit the error ---------------------------------------------------------------------------------
def test_a_full_database_gets_the_hint_for_a_full_disk(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    write_study(tmp_path, SAVER)
    assert cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path).returncode == 0
    before = dump(url)
    write_study(tmp_path, """
import sqlalchemy as sa

@sa.event.listens_for(sa.engine.Engine, "connect")
def _small(dbapi_conn, _record):  # the database may not grow past 40 pages: SQLite's "disk" is full
    dbapi_conn.execute("PRAGMA max_page_count = 40")

def objective(config, trial):
    trial.save_artifact("model.bin", b"m" * 1_000_000)
    return config["x"]

study = at.Study(name="big", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=2, sampler="random")
""", name="big.py")
    r = cli("run", "big.py", "--storage", url, "--quiet", cwd=tmp_path)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "database or disk is full" in r.stderr and "The disk that holds the database is full" in r.stderr
    assert "the password" not in r.stderr
    assert dump(url) == before


def test_a_value_too_long_for_its_column_gets_a_hint_about_its_length(pg_url):
    from autotune.database import StudyDatabase
    from autotune.database import _schema as S

    db = StudyDatabase(pg_url)
    with pytest.raises(StorageError) as err:
        db.write(lambda c: c.execute(S.meta.insert().values(key="k" * 100, value="v")))
    assert "value too long" in str(err.value) and "larger than the database column allows" in str(err.value)
    assert "the password" not in str(err.value)
    db.close()


# -- dead drivers, the -wal file, long values -------------------------------------------------------------------
def _drivers(url):
    """The registered drivers (none while the first driver has not created the tables yet)."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as c:
            return c.exec_driver_sql("SELECT id, pid FROM autotune_drivers").all()
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):
        return []
    finally:
        eng.dispose()


@pytest.mark.slow
def test_a_driver_killed_before_its_first_claim_leaves_no_row(tmp_path, sqlite_url):
    write_study(tmp_path, """
import os, time

def objective(config, trial):
    while not os.path.exists("go"):  # holds the study's only trial until the test says go
        time.sleep(0.05)
    return config["x"]

study = at.Study(name="held", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=1, sampler="random")
""")
    holder = start_driver(tmp_path, sqlite_url)
    assert wait_until(lambda: len(_drivers(sqlite_url)) == 1)
    waiter = start_driver(tmp_path, sqlite_url)  # finds the budget held by the other's trial: never claims one
    assert wait_until(lambda: len(_drivers(sqlite_url)) == 2)
    waiter.kill()
    waiter.wait()
    (tmp_path / "go").touch()
    assert holder.wait(timeout=120) == 0, holder.stderr.read()
    holder.stdout.close(), holder.stderr.close(), waiter.stdout.close(), waiter.stderr.close()
    r = cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path)  # another run notices it
    assert r.returncode == 0, r.stderr
    assert _drivers(sqlite_url) == []


def test_a_run_leaves_the_sqlite_wal_file_empty(tmp_path):
    write_study(tmp_path, SAVER)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    assert cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path).returncode == 0
    reader = sqlite3.connect(tmp_path / "studies.db")  # e.g. a dashboard: SQLite never truncates the log itself
    try:
        reader.execute("SELECT count(*) FROM autotune_trials").fetchall()
        r = cli("run", "study.py", "--storage", url, "--quiet", "--n-trials", "40", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert os.path.getsize(tmp_path / "studies.db-wal") == 0
        assert reader.execute("SELECT count(*) FROM autotune_trials").fetchone()[0] == 40
    finally:
        reader.close()


def test_a_huge_value_is_cut_short_in_human_output_and_whole_in_json(tmp_path):
    write_study(tmp_path, """
study = at.Study(name="huge", space={"x": at.uniform(0, 1), "blob": at.fixed("v" * 5_000_000)},
                 objective=lambda config, trial: config["x"], n_trials=2, sampler="random")
""")
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    r = cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path)
    assert r.returncode == 0 and len(r.stdout) < 2000 and "[5000002 characters]" in r.stdout, r.stdout[:3000]
    for args in (["best", "huge"], ["trials", "huge"]):
        r = cli(*args, "--storage", url, cwd=tmp_path)
        assert r.returncode == 0 and len(r.stdout) < 2000 and "characters]" in r.stdout, r.stdout[:3000]
    best = json.loads(cli("best", "huge", "--json", "--storage", url, cwd=tmp_path).stdout)
    assert best["params"]["blob"] == "v" * 5_000_000
    trials = json.loads(cli("trials", "huge", "--format", "json", "--storage", url, cwd=tmp_path).stdout)
    assert all(t["params"]["blob"] == "v" * 5_000_000 for t in trials)
