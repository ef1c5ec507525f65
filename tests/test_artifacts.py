"""Best-model artifacts: stored with the study (chunked) or under an fsspec URL, checksummed, pruned to the best
k, exported from the database alone, never unpickled without trust; and the schema migration that chunked them."""

import os
import pickle

import pytest
import sqlalchemy as sa

import autotune as at
from autotune.errors import StorageError
from tests.conftest import cli, write_study

BIG = 2_500_000  # bytes: three 1 MiB chunks


def _study(**kw):
    def objective(config, trial):
        trial.save_artifact("model.bin", bytes([trial.number % 256]) * BIG)
        trial.save_object("model.pkl", {"x": config["x"]})
        return config["x"]

    kw.setdefault("n_trials", 4)
    return at.Study(name="art", space={"x": at.uniform(0, 1)}, objective=objective, sampler="random", seed=0, **kw)


def _tamper(url):
    eng = sa.create_engine(url)
    with eng.begin() as c:
        c.execute(sa.text("UPDATE autotune_artifact_chunks SET data = :d WHERE idx = 1"), {"d": b"evil" * 10})
    eng.dispose()


def test_large_artifacts_are_chunked_and_verified(storage):
    result = _study().run(storage=storage)
    data = open(result.best_artifact("model.bin"), "rb").read()
    assert data == bytes([result.best_trial.number]) * BIG
    eng = sa.create_engine(storage)
    with eng.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM autotune_artifact_chunks")).scalar() == 3 + 1
    eng.dispose()
    _tamper(storage)
    with pytest.raises(StorageError, match="fails its SHA-256 check"):
        result.best_artifact("model.bin")


def test_pickles_are_loaded_only_with_trust(sqlite_url):
    result = _study(n_trials=2).run(storage=sqlite_url)
    with pytest.raises(StorageError, match="pass trust=True if you trust it"):
        result.load_object("model.pkl")
    assert result.load_object("model.pkl", trust=True) == {"x": result.best_value}
    assert pickle.loads(open(result.best_artifact("model.pkl"), "rb").read()) == {"x": result.best_value}


def test_an_fsspec_store_holds_the_bytes_and_keeps_only_the_best(tmp_path, sqlite_url):
    store = f"file://{tmp_path / 'store'}"
    result = _study(artifact_store=store, keep_artifacts=2, n_trials=5).run(storage=sqlite_url)
    root = tmp_path / "store" / "art"
    kept = sorted(int(d) for d in os.listdir(root) if os.listdir(root / d))  # folders that still hold files
    best_two = sorted(t.number for t in sorted(result.trials, key=lambda t: t.value)[:2])
    assert kept == best_two
    assert open(result.best_artifact("model.bin"), "rb").read()[:1] == bytes([result.best_trial.number])
    with open(tmp_path / "store" / "art" / str(result.best_trial.number) / "model.bin", "r+b") as fh:
        fh.write(b"X")
    with pytest.raises(StorageError, match="fails its SHA-256 check"):
        result.best_artifact("model.bin")


def test_the_best_model_is_exported_elsewhere_from_the_database_alone(tmp_path, storage):
    os.makedirs(tmp_path / "a")
    write_study(tmp_path / "a", """
def objective(config, trial):
    trial.save_artifact("model.txt", f"x={config['x']}")
    trial.save_artifact("sub/weights.bin", b"w" * 3_000_000)
    return config["x"]

study = at.Study(name="exp", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=3, sampler="random")
""")
    assert cli("run", "study.py", "--storage", storage, "--quiet", cwd=tmp_path / "a").returncode == 0
    elsewhere = tmp_path / "b"
    os.makedirs(elsewhere)
    r = cli("best", "exp", "--storage", storage, "--export", "out", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert (elsewhere / "out" / "model.txt").read_text().startswith("x=")
    assert (elsewhere / "out" / "sub" / "weights.bin").stat().st_size == 3_000_000
    _tamper(storage)
    r = cli("best", "exp", "--storage", storage, "--export", "out2", cwd=elsewhere)
    assert r.returncode == 1 and "fails its SHA-256 check" in r.stderr and "Traceback" not in r.stderr


def _downgrade_to_v1(url):
    """Rewrite a current database into schema 1's shape: artifact bytes in one column, no chunk table."""
    eng = sa.create_engine(url)
    with eng.begin() as c:
        c.exec_driver_sql("ALTER TABLE autotune_artifacts ADD COLUMN data BYTEA" if url.startswith("postgresql")
                          else "ALTER TABLE autotune_artifacts ADD COLUMN data BLOB")
        ids = [r[0] for r in c.exec_driver_sql("SELECT id FROM autotune_artifacts").all()]
        for aid in ids:
            parts = c.execute(sa.text("SELECT data FROM autotune_artifact_chunks WHERE artifact_id = :a "
                                      "ORDER BY idx"), {"a": aid}).scalars()
            c.execute(sa.text("UPDATE autotune_artifacts SET data = :d WHERE id = :a"),
                      {"d": b"".join(bytes(p) for p in parts), "a": aid})
        c.exec_driver_sql("DROP TABLE autotune_artifact_chunks")
        c.exec_driver_sql("ALTER TABLE autotune_artifacts DROP COLUMN location")
        c.exec_driver_sql("UPDATE autotune_meta SET value = '1' WHERE key = 'schema_version'")
    eng.dispose()


def test_db_upgrade_migrates_an_older_database(tmp_path, storage):
    result = _study(n_trials=2).run(storage=storage)
    best = result.best_trial.number
    _downgrade_to_v1(storage)
    with pytest.raises(StorageError, match="has the older schema version 1; run `autotune db upgrade"):
        at.load_study("art", storage=storage)
    r = cli("db", "upgrade", "--storage", storage, cwd=tmp_path)
    assert r.returncode == 0 and "from schema version 1 to 2" in r.stdout, r.stderr
    again = at.load_study("art", storage=storage)
    assert open(again.best_artifact("model.bin"), "rb").read() == bytes([best]) * BIG
    r = cli("db", "upgrade", "--storage", storage, cwd=tmp_path)
    assert "nothing to do" in r.stdout


def test_to_optuna_gives_the_same_trials(sqlite_url):
    space = {"x": at.uniform(0, 1), "opt": at.choice({"a": {"m": at.randint(1, 3)}, "b": {}}),
             "shape": at.choice([(1, 2), (3,)])}
    study = at.Study(name="o", space=space, objective=lambda c, t: c["x"], n_trials=6, sampler="random", seed=0)
    result = study.run(storage=sqlite_url)
    for source in (result, at.load_study("o", storage=sqlite_url)):  # with and without the study file at hand
        ostudy = source.to_optuna()
        assert len(ostudy.trials) == 6
        assert ostudy.best_value == result.best_value
        assert ostudy.best_trial.user_attrs["autotune_number"] == result.best_trial.number


def test_dashboard_serves_the_study(tmp_path, sqlite_url):
    import json
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.conftest import ROOT

    at.Study(name="dash", space={"x": at.uniform(0, 1)}, objective=lambda c, t: c["x"], n_trials=3,
             sampler="random").run(storage=sqlite_url)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "autotune.cli", "dashboard", "dash", "--storage", sqlite_url,
                             "--port", str(port)], env={**os.environ, "PYTHONPATH": ROOT},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body, deadline = None, time.monotonic() + 60  # a busy 2-core machine starts the server slowly
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as r:
                    body = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.1)
        assert body is not None, proc.stderr.read() if proc.poll() is not None else "no answer"
        assert "dash" in json.dumps(body), body
    finally:
        proc.kill()
        proc.wait()


def test_kept_artifacts_are_those_of_the_best_feasible_trials(sqlite_url):
    """With constraints, keep_artifacts keeps the models of the best *feasible* trials: an infeasible trial with a
    lower loss must not push the best feasible trial's model out (it is the one `autotune best --export` writes)."""
    def objective(config, trial):
        trial.save_artifact("model.bin", bytes([trial.number]))
        return {"loss": config["x"], "size": 1.0 - config["x"]}  # the lowest losses are the largest models

    study = at.Study(name="feas", space={"x": at.uniform(0, 1)}, objective=objective, sampler="random", seed=0,
                     n_trials=8, keep_artifacts=1, constraints=lambda m: m["size"] - 0.5)  # feasible: x >= 0.5
    result = study.run(storage=sqlite_url)
    assert any(not t.feasible for t in result.trials) and any(t.feasible for t in result.trials)
    assert min(t.value for t in result.trials) < result.best_value  # an infeasible trial had a lower loss
    assert open(result.best_artifact("model.bin"), "rb").read() == bytes([result.best_trial.number])


def test_a_string_naming_a_file_is_kept_as_text_and_the_user_is_told(tmp_path, sqlite_url):
    weights = tmp_path / "weights.txt"
    weights.write_text("the file's own bytes")

    def objective(config, trial):
        trial.save_artifact("as_text.txt", str(weights))  # text, as documented: with a warning naming the fix
        trial.save_artifact("as_file.txt", weights)  # a path object: the file
        trial.save_artifact("note.txt", "just a note")  # plain text: no warning
        return config["x"]

    study = at.Study(name="paths", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=1, sampler="random")
    with pytest.warns(UserWarning, match=r"keeps this text, not the file it names; to keep the file, pass "
                                         r"pathlib.Path\(") as caught:
        result = study.run(storage=sqlite_url)
    assert len([w for w in caught if "keeps this text" in str(w.message)]) == 1
    with open(result.best_artifact("as_text.txt")) as fh:
        assert fh.read() == str(weights)
    with open(result.best_artifact("as_file.txt")) as fh:
        assert fh.read() == "the file's own bytes"
