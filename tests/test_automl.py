"""AutoML's parts and its refusals: each bad input gets one message and exit code 1 and leaves the study database as
it was; the table preparation, the task and metric rules, the ensemble selection, the sampler's time rules and the
skops trust list, on real data and real models."""

import os

import numpy as np
import pandas as pd
import pytest

import autotune as at
from tests.conftest import cli, dump

pytest.importorskip("sklearn")
pytest.importorskip("lightgbm")
pytest.importorskip("skops")


def _table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"num": rng.normal(size=n), "cat": rng.choice(["a", "b", "c", None], size=n),
                          "other": rng.uniform(size=n)})
    frame.loc[rng.random(n) < 0.1, "num"] = np.nan
    frame["y"] = np.where(frame["num"].fillna(0) + (frame["cat"] == "a") > 0.3, "yes", "no")
    return frame


@pytest.fixture
def folder(tmp_path):
    """A folder holding train.csv and a study database with one (non-AutoML) study in it."""
    _table().to_csv(tmp_path / "train.csv", index=False)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    at.Study(name="other", space={"x": at.uniform(0, 1)}, objective=lambda c, t: c["x"], n_trials=2,
             sampler="random", seed=0).run(storage=url)
    return tmp_path, url


def _refused(folder, *args, expect: str):
    path, url = folder
    before = dump(url)
    r = cli("automl", *args, "--storage", url, cwd=path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("autotune: error:")]
    assert len(errors) == 1, r.stderr
    assert expect in errors[0], errors[0]
    assert dump(url) == before
    return errors[0]


# -- bad input: one message, exit 1, nothing written ----------------------------------------------------------------
def test_a_target_column_that_does_not_exist_lists_the_columns(folder):
    message = _refused(folder, "train.csv", "--target", "label", "--time", "20s", expect="no column 'label'")
    assert "'num', 'cat', 'other', 'y'" in message


@pytest.mark.parametrize("y, expect", [("yes", "one class only ('yes'"),
                                       (np.nan, "holds no values (every row is missing)")])
def test_a_target_with_one_class_or_no_values_is_refused(folder, y, expect):
    path, _ = folder
    _table().assign(y=y).to_csv(path / "bad.csv", index=False)
    _refused(folder, "bad.csv", "--target", "y", expect=expect)


@pytest.mark.parametrize("name, content, expect", [
    ("model.bin", bytes(range(256)) * 8, "is not a table autotune can read"),
    ("empty.csv", b"", "is not a table autotune can read"),
    ("missing.csv", None, "'missing.csv' does not exist"),
])
def test_a_file_that_is_not_a_table_is_refused(folder, name, content, expect):
    path, _ = folder
    if content is not None:
        (path / name).write_bytes(content)
    _refused(folder, name, "--target", "y", expect=expect)


def test_an_unknown_metric_lists_the_valid_ones(folder):
    message = _refused(folder, "train.csv", "--target", "y", "--metric", "auroc", expect="unknown metric 'auroc'")
    assert "roc_auc" in message and "rmse" in message


def test_an_unknown_estimator_lists_the_valid_ones(folder):
    message = _refused(folder, "train.csv", "--target", "y", "--estimators", "lgbm,svm",
                       expect="unknown estimator 'svm'")
    assert "lgbm, linear, hgb, rf, extra_trees, xgboost, catboost, knn" in message


def test_a_metric_that_does_not_fit_the_task_is_refused(folder):
    message = _refused(folder, "train.csv", "--target", "y", "--metric", "rmse",
                       expect="metric 'rmse' does not fit this binary task")
    assert "roc_auc" in message
    _refused(folder, "train.csv", "--target", "num", "--metric", "accuracy",
             expect="metric 'accuracy' does not fit this regression task")


def test_a_time_too_short_for_one_fit_says_how_long_one_fit_took(folder):
    message = _refused(folder, "train.csv", "--target", "y", "--time", "0.01s",
                       expect="a time budget of 0.01 s is too short")
    assert "one fit of the cheapest model" in message and " s on 240 rows" in message


def test_a_test_file_whose_columns_differ_is_refused(folder):
    path, _ = folder
    _table(seed=1).drop(columns=["other"]).assign(extra=1).to_csv(path / "test.csv", index=False)
    message = _refused(folder, "train.csv", "--target", "y", "--test", "test.csv", expect="has other columns")
    assert "it lacks 'other'" in message and "it has 'extra'" in message


def test_predict_on_a_study_that_is_not_automl_is_refused(folder):
    path, url = folder
    before = dump(url)
    r = cli("predict", "other", "train.csv", "--storage", url, cwd=path)
    assert r.returncode == 1 and "is not an AutoML study" in r.stderr and "Traceback" not in r.stderr
    assert dump(url) == before


def test_a_bad_input_on_a_new_database_creates_no_file(tmp_path):
    _table().to_csv(tmp_path / "train.csv", index=False)
    r = cli("automl", "train.csv", "--target", "nope", cwd=tmp_path)
    assert r.returncode == 1 and "no column 'nope'" in r.stderr
    assert not os.path.exists(tmp_path / "autotune.db")


# -- the table ---------------------------------------------------------------------------------------------------
def test_the_table_preparation_reads_dates_groups_rare_levels_and_drops_identifiers():
    from autotune.automl._data import MAX_LEVELS, TablePrep

    n = 600
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"when": pd.date_range("2021-01-01", periods=n, freq="7h").astype(str),
                      "zip": [f"z{i % 400}" for i in range(n)], "user": [f"u{i}" for i in range(n)],
                      "flag": rng.choice([True, False], n), "row": np.arange(n), "const": "x",
                      "x": rng.normal(size=n)})
    prep = TablePrep().fit(X)
    assert prep.kinds_ == {"when": "datetime", "zip": "categorical", "user": "dropped", "flag": "categorical",
                           "row": "dropped", "const": "dropped", "x": "numeric"}
    assert "when.hour" in prep.feature_names_ and "when.epoch" in prep.feature_names_
    assert any("400 distinct values" in note for note in prep.notes_)
    zip_codes = prep.transform(X)[:, prep.feature_names_.index("zip")]
    assert zip_codes.max() == MAX_LEVELS  # the rare levels share one code
    new = X.head(3).astype({"flag": object})
    new.loc[0, "flag"] = None
    new.loc[1, "zip"] = "never-seen"
    out = prep.transform(new)
    assert np.isnan(out[0, prep.feature_names_.index("flag")])
    assert out[1, prep.feature_names_.index("zip")] == MAX_LEVELS
    bad = X.head(2).copy()
    bad["x"] = ["1.5", "oops"]
    with pytest.raises(at.AutotuneError, match="column 'x' was numeric in the training data, but holds 'oops'"):
        prep.transform(bad)
    with pytest.raises(at.AutotuneError, match="lack the column"):
        prep.transform(X.drop(columns=["x"]))


@pytest.mark.parametrize("y, task", [
    (["a", "b", "a"], "binary"), ([1, 2, 3, 1, 2, 3] * 10, "multiclass"), ([0.5, 1.25, 3.0, 2.0], "regression"),
    (list(range(100)), "regression"), ([True, False, True], "binary"),
])
def test_the_task_is_read_from_the_target(y, task):
    from autotune.automl._data import detect_task

    assert detect_task(pd.Series(y)) == task


def test_a_real_valued_target_is_not_a_classification_task():
    from autotune.automl._data import detect_task

    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        detect_task(pd.Series([0.5, 1.5, 2.25]), "classification")


# -- ensemble selection ------------------------------------------------------------------------------------------
def test_greedy_ensemble_selection_beats_its_members_when_they_err_apart():
    from autotune.automl._metrics import METRICS
    from autotune.automl._objective import caruana

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    noisy = [np.clip(y + rng.normal(0, 0.6, 400), 0, 1) for _ in range(3)]
    preds = [np.c_[1 - p, p] for p in noisy]
    metric = METRICS["log_loss"]
    weights, score = caruana(preds, y, metric)
    assert len(weights) == 3 and abs(sum(weights) - 1) < 1e-9 and sum(w > 0 for w in weights) >= 2
    assert score < min(metric.score(y, p) for p in preds)


def test_an_ensemble_too_costly_to_refit_is_chosen_again_without_its_costliest_member():
    from autotune.automl._metrics import METRICS
    from autotune.automl._objective import caruana, caruana_within

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 600)
    noisy = [np.clip(y + rng.normal(0, sd, 600), 0.01, 0.99) for sd in (0.45, 0.6, 0.6, 0.6)]
    preds = [np.c_[1 - p, p] for p in noisy]
    metric = METRICS["log_loss"]
    costs = [10.0, 1.0, 1.0, 1.0]  # the best model is the costly one
    unbounded, _ = caruana(preds, y, metric)
    assert unbounded[0] > 0  # without a limit the selection takes it

    weights, score = caruana_within(preds, y, metric, costs, budget=3.0)
    assert weights[0] == 0 and sum(w > 0 for w in weights) >= 2
    assert sum(c for c, w in zip(costs, weights, strict=True) if w > 0) <= 3.0
    assert score < min(metric.score(y, p) for p in preds[1:])  # still an ensemble that beats its members
    assert caruana_within(preds, y, metric, costs, budget=100.0) == caruana(preds, y, metric)  # fits: unchanged
    weights, _ = caruana_within(preds, y, metric, costs, budget=0.5)  # nothing fits: one model is left
    assert sum(w > 0 for w in weights) == 1


# -- the sampler's time rules ---------------------------------------------------------------------------------------
def _sampler(**kw):
    from autotune.automl._families import study_space
    from autotune.automl._sampler import AutoMLSampler
    from autotune.spaces import Space

    space = Space(study_space("binary", {"task": "binary"}))
    return AutoMLSampler(space, ["lgbm", "rf"], "binary", "max", **kw)


def test_the_sampler_cuts_the_trees_of_a_configuration_to_fit_the_time_left():
    sampler = _sampler(costs={"lgbm": [(100 * 31 ** 0.5 / 8, 2.0)]})  # 100 trees of 31 leaves took 2 s
    config = {"n_estimators": 1000, "num_leaves": 31, "learning_rate": 0.05, "min_child_samples": 20,
              "feature_fraction": 1.0, "bagging_fraction": 1.0, "lambda_l1": 1e-3, "lambda_l2": 1.0,
              "class_weight": None}
    assert sampler.estimate("lgbm", config) == pytest.approx(20.0)
    cut = sampler._fit_in("lgbm", config, limit=5.0)
    assert cut["n_estimators"] == 250 and sampler.estimate("lgbm", cut) <= 5.0
    assert sampler._fit_in("lgbm", {**config, "n_estimators": 4}, limit=0.01) is None


def test_the_sampler_stops_the_search_when_no_trial_can_finish(sqlite_url):
    import time

    import optuna

    from autotune.automl._sampler import StopSearch

    sampler = _sampler(base_cost=5.0)
    sampler.deadline = time.time() + 1.0  # every family's cheapest trial takes 5 s or more
    study = optuna.create_study(sampler=sampler, direction="maximize")
    with pytest.raises(StopSearch):
        _ = study.ask().relative_params  # (Optuna samples on first use)
    sampler.deadline = time.time() + 600
    trial = study.ask()
    assert trial.relative_params["estimator"] in ("lgbm", "rf")


# -- the saved pipeline ---------------------------------------------------------------------------------------------
class Unknown:
    """A type autotune does not write."""


def test_a_pipeline_with_a_type_autotune_does_not_write_is_refused_unless_trusted():
    from autotune.automl._data import TablePrep
    from autotune.automl._pipeline import AutoMLPipeline, dump_pipeline, load_pipeline

    X = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    pipe = AutoMLPipeline(TablePrep().fit(X), [["odd", Unknown()]], [1.0], "regression", [], "y", "r2")
    data = dump_pipeline(pipe)
    with pytest.raises(at.AutotuneError, match="holds types autotune does not write .*test_automl.Unknown"):
        load_pipeline(data)
    assert isinstance(load_pipeline(data, trust=True).members[0][1], Unknown)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_family_saves_and_loads_without_unpickling(task):
    from autotune.automl._data import TablePrep
    from autotune.automl._families import FAMILIES, FitContext, fit_family
    from autotune.automl._pipeline import AutoMLPipeline, dump_pipeline, load_pipeline

    frame = _table(200)
    X = frame.drop(columns=["y"])
    y = {"binary": (frame["y"] == "yes").astype(int), "multiclass": np.arange(200) % 3,
         "regression": frame["other"] * 3}[task]
    y = np.asarray(y)
    prep = TablePrep().fit(X)
    Xm = prep.transform(X)
    classes = [] if task == "regression" else sorted(set(y.tolist()))
    ctx = FitContext(task=task, n_classes=len(classes), categorical=prep.categorical_)
    members = [[name, fit_family(name, fam.portfolio(task)[0], Xm, y, ctx)] for name, fam in FAMILIES.items()
               if fam.available()]
    pipe = AutoMLPipeline(prep, members, [1.0] * len(members), task, classes, "y", "auto")
    back = load_pipeline(dump_pipeline(pipe))
    np.testing.assert_allclose(back.predict_values(X), pipe.predict_values(X))


def test_parquet_and_semicolon_separated_files_are_read_as_tables(tmp_path):
    from autotune.automl._data import read_table

    frame = _table(50)
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_csv(tmp_path / "t.csv", sep=";", index=False)
    for name in ("t.parquet", "t.csv"):
        back = read_table(str(tmp_path / name))
        assert list(back.columns) == list(frame.columns) and len(back) == 50


def test_the_mlp_family_learns_stops_at_its_deadline_and_keeps_no_torch_object():
    import time

    from autotune.automl._families import FAMILIES, FitContext, OutOfTime, fit_family, predict_matrix

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    labels = (X[:, 0] + X[:, 1] > 0).astype(int)
    config = FAMILIES["mlp"].portfolio("binary")[0] | {"class_weight": "balanced"}
    ctx = FitContext(task="binary", n_classes=2, categorical=[0] * 5)
    model = fit_family("mlp", config, X[:400], labels[:400], ctx)
    proba = predict_matrix(model, X[400:], "binary", 2)
    assert ((proba[:, 1] > 0.5) == labels[400:]).mean() > 0.9
    kept = model[-1].__dict__.values()
    assert not any(type(v).__module__.startswith("torch") for v in kept)
    values = X @ np.array([1.0, -2.0, 0.5, 0.0, 0.0]) + 3.0
    reg = fit_family("mlp", FAMILIES["mlp"].portfolio("regression")[0], X[:400], values[:400],
                     FitContext(task="regression", n_classes=0, categorical=[0] * 5))
    residual = predict_matrix(reg, X[400:], "regression", 0) - values[400:]
    assert np.mean(residual ** 2) < 0.2 * np.var(values[400:])
    with pytest.raises(OutOfTime):
        fit_family("mlp", config, X, labels, ctx, deadline=time.time() - 1)


def test_the_catboost_family_learns_categories_and_missing_values_stops_at_its_deadline_and_keeps_only_bytes():
    import time

    pytest.importorskip("catboost")
    import skops.io as sio

    from autotune.automl._families import FAMILIES, FitContext, OutOfTime, fit_family, predict_matrix
    from autotune.automl._pipeline import TRUSTED

    rng = np.random.default_rng(0)
    n = 800
    codes = rng.integers(0, 5, size=n).astype(np.float64)
    codes[rng.random(n) < 0.15] = np.nan
    number = rng.normal(size=n)
    number[rng.random(n) < 0.1] = np.nan
    X = np.column_stack([number, codes, rng.uniform(size=n)])
    # the label is the category's (a missing one counts as positive), unless the number is far from zero
    labels = (np.isin(codes, [1.0, 3.0]) | np.isnan(codes)).astype(int)
    labels = np.where(np.nan_to_num(number) > 1.5, 1, np.where(np.nan_to_num(number) < -1.5, 0, labels))
    ctx = FitContext(task="binary", n_classes=2, categorical=[0, 5, 0])
    config = FAMILIES["catboost"].portfolio("binary")[0] | {"class_weight": "balanced"}
    model = fit_family("catboost", config, X[:600], labels[:600], ctx)
    assert isinstance(model.model_, bytes) and model.cat_columns_ == [1]
    assert not any(type(v).__module__.startswith("catboost") for v in model.__dict__.values())
    proba = predict_matrix(model, X[600:], "binary", 2)
    assert ((proba[:, 1] > 0.5) == labels[600:]).mean() > 0.95
    assert type(model._booster).__module__.startswith("catboost")  # rebuilt from the bytes, cached...
    data = sio.dumps(model)  # ...and never saved
    assert all(t in TRUSTED for t in sio.get_untrusted_types(data=data))
    back = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert "_booster" not in back.__dict__ and "_booster" in model.__dict__
    np.testing.assert_allclose(predict_matrix(back, X[600:], "binary", 2), proba)

    values = 2.0 * np.nan_to_num(number) + np.nan_to_num(codes, nan=5.0) ** 1.5
    reg = fit_family("catboost", FAMILIES["catboost"].portfolio("regression")[0], X[:600], values[:600],
                     FitContext(task="regression", n_classes=0, categorical=[0, 5, 0]))
    residual = predict_matrix(reg, X[600:], "regression", 0) - values[600:]
    assert np.mean(residual ** 2) < 0.1 * np.var(values[600:])

    with pytest.raises(OutOfTime):
        fit_family("catboost", config, X, labels, ctx, deadline=time.time() - 1)
    started = time.time()
    with pytest.raises(OutOfTime):  # stopped by CatBoost's callback between iterations
        fit_family("catboost", config | {"n_estimators": 1_000_000}, X, labels, ctx, deadline=started + 0.5)
    assert time.time() - started < 10
