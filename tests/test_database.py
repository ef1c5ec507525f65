"""The study database on every storage: schema versions, many drivers opening it at once, no secrets stored."""

import threading

import pytest
import sqlalchemy as sa

import autotune as at
from autotune.database import StudyDatabase
from autotune.errors import StorageError
from tests.conftest import dump


def test_a_newer_schema_is_refused_and_left_alone(storage):
    StudyDatabase(storage)
    eng = sa.create_engine(storage)
    with eng.begin() as c:
        c.execute(sa.text("UPDATE autotune_meta SET value='99' WHERE key='schema_version'"))
    eng.dispose()
    before = dump(storage)
    with pytest.raises(StorageError, match="has schema version 99, newer than this autotune understands"):
        StudyDatabase(storage)
    assert dump(storage) == before


def test_many_drivers_opening_a_new_database_at_once_create_it_once(storage):
    errors = []

    def open_it():
        try:
            StudyDatabase(storage).close()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    from autotune.database._schema import SCHEMA_VERSION

    assert dump(storage)["autotune_meta"] == [f"('schema_version', '{SCHEMA_VERSION}')"]


def test_claims_never_exceed_the_budget_under_concurrency(storage):
    db = StudyDatabase(storage)
    row, _ = db.ensure_study("s", ["loss"], ["min"], {}, 25)
    got: list[int] = []
    lock = threading.Lock()

    def claimer():
        drv = db.register_driver(row.id)
        while True:
            number, _ = db.claim_new(row.id, drv, 25, {"x": 1}, "random")
            if number is None:
                return
            with lock:
                got.append(number)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(25))


def test_the_database_never_holds_the_storage_password(pg_url):
    url = sa.engine.make_url(pg_url).set(password="hunter2pw").render_as_string(hide_password=False)
    study = at.Study(name="s", space={"x": at.uniform(0, 1)}, objective=lambda c, t: c["x"], n_trials=2,
                     sampler="random")
    study.run(storage=url)  # trust authentication here: the password is accepted and ignored
    assert "hunter2pw" not in repr(dump(pg_url))


@pytest.mark.parametrize("url, shown", [
    ("postgresql://me:pw9secret@db/x", "postgresql://me:***@db/x"),
    ("postgresql://me@db/x?password=pw9secret&sslmode=require", "postgresql://me@db/x?password=***&sslmode=require"),
    ("postgresql://me@db/x?sslmode=require&PWD=pw9secret", "postgresql://me@db/x?PWD=***&sslmode=require"),
    ("sqlite:///plain.db", "sqlite:///plain.db"),
    ("host=db user=me password=pw9secret", "host=db user=me password=***"),  # a libpq keyword string, not a URL
])
def test_a_storage_url_is_shown_and_scrubbed_without_its_password(url, shown):
    from urllib.parse import quote_plus

    from autotune.database import mask_url, scrub

    assert mask_url(url) == shown
    echoed = f"connection to {url} failed for password pw9secret ({quote_plus('pw9secret')})"
    assert "pw9secret" not in scrub(echoed, url) or "pw9secret" not in url


def test_a_role_without_rights_gets_one_message_and_changes_nothing(pg_url, tmp_path):
    """Database errors other than contention or a lost connection (here: permission denied, for a role that may
    not read, and for one that may read but not write) are one line naming the database, exit status 1, no
    traceback, and the study is left as it was."""
    from tests.conftest import cli, write_study

    study = at.Study(name="s", space={"x": at.uniform(0, 1)}, objective=lambda c, t: c["x"], n_trials=2,
                     sampler="random")
    study.run(storage=pg_url)
    write_study(tmp_path, """
        study = at.Study(name="s", space={"x": at.uniform(0, 1)}, objective=lambda c, t: c["x"], n_trials=4,
                         sampler="random")
    """)
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for role in ("autotune_no_rights", "autotune_read_only"):
            if not c.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").first():
                c.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        c.exec_driver_sql("GRANT SELECT ON ALL TABLES IN SCHEMA public TO autotune_read_only")
    admin.dispose()
    before = dump(pg_url)
    url = {role: sa.engine.make_url(pg_url).set(username=role).render_as_string(hide_password=False)
           for role in ("autotune_no_rights", "autotune_read_only")}
    for args, doing in ((["status", "s", "--storage", url["autotune_no_rights"]], "open"),
                        (["run", "study.py", "--storage", url["autotune_read_only"]], "write to")):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 1, r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert f"cannot {doing} the study database postgresql" in r.stderr and "permission denied" in r.stderr
        assert "needs the rights to create, read and write autotune's tables" in r.stderr
    assert cli("status", "s", "--storage", url["autotune_read_only"], cwd=tmp_path).returncode == 0  # reading is fine
    assert dump(pg_url) == before


def test_drivers_queueing_the_same_configurations_at_once_queue_each_once(storage):
    import json

    db = StudyDatabase(storage)
    row, _ = db.ensure_study("s", ["loss"], ["min"], {}, 50)
    configs = [{"x": i / 10} for i in range(8)]
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def driver():
        mine = StudyDatabase(storage)
        try:
            start.wait()
            mine.enqueue(row.id, configs, only_new=True)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            mine.close()

    threads = [threading.Thread(target=driver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    trials = db.all_trials(row.id)
    assert sorted(json.loads(t.params)["x"] for t in trials) == [c["x"] for c in configs]
    assert sorted(t.number for t in trials) == list(range(8)) and db.peek(row.id).n_waiting == 8
    # a budget of 10 holds 2 more: the third new configuration is left out, and said so
    assert db.enqueue(row.id, [{"x": 1.0}, {"x": 1.1}, {"x": 0.0}, {"x": 1.2}], only_new=True, budget=10) == ([8, 9], 1)


def test_the_storage_url_is_the_argument_else_the_environment_else_the_study_s_else_the_default(monkeypatch):
    from autotune.database import DEFAULT_STORAGE, resolve_storage

    monkeypatch.delenv("AUTOTUNE_STORAGE", raising=False)
    assert resolve_storage(None) == DEFAULT_STORAGE == "sqlite:///autotune.db"
    assert resolve_storage(None, "sqlite:///study.db") == "sqlite:///study.db"
    monkeypatch.setenv("AUTOTUNE_STORAGE", "sqlite:///env.db")
    assert resolve_storage(None, "sqlite:///study.db") == "sqlite:///env.db"
    assert resolve_storage("sqlite:///arg.db", "sqlite:///study.db") == "sqlite:///arg.db"
    study = at.Study(name="s", space={"x": at.uniform(0, 1)}, objective=lambda c, t: c["x"], n_trials=1,
                     storage="sqlite:///study.db")
    assert study.resolve_storage() == "sqlite:///env.db"
    monkeypatch.setenv("AUTOTUNE_STORAGE", "")  # an empty variable counts as unset
    assert study.resolve_storage() == "sqlite:///study.db"


@pytest.mark.parametrize(("metrics", "ok"), [
    (None, True), ("", True), ({}, True), ('{"loss": 0.5}', True), ({"loss": 0.5}, True),
    ('{"loss": 0.5, "_feasible": true}', True), ({"_feasible": True}, True),
    ('{"loss": 0.5, "_feasible": false}', False), ({"_feasible": False}, False),
    ('{"loss": 0.5, "_constraints": [1.0], "_feasible": false}', False),
    ('{"note": {"_feasible": false}}', True),  # a user's metric holding the key, not the study's verdict
])
def test_one_feasibility_rule_reads_metrics_as_stored_and_as_a_dict(metrics, ok):
    from autotune.database import feasible

    assert feasible(metrics) is ok
