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
