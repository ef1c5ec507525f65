"""The Python API end to end, on every storage: run, resume, totals, results, artifacts, failures."""

import math
import os
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import autotune as at
from autotune.errors import ConfigError, ObjectiveContractError, StorageError
from tests.conftest import dump, trial_rows

SPACE = {"x": at.uniform(-5, 5), "n": at.randint(1, 3), "act": at.choice(["relu", "tanh"])}


def quadratic(config, trial):
    return (config["x"] - 1) ** 2 + config["n"]


def make(name="s", objective=quadratic, **kw):
    kw.setdefault("n_trials", 8)
    kw.setdefault("sampler", "tpe")
    kw.setdefault("seed", 0)
    return at.Study(name=name, space=SPACE, objective=objective, **kw)


def test_run_persists_every_trial_and_reports_the_best(storage):
    result = make().run(storage=storage)
    assert result.counts == {"COMPLETE": 8}
    values = [t.value for t in result.trials]
    assert result.best_value == min(values)
    assert result.best_params == result.trials[values.index(min(values))].params
    again = at.load_study("s", storage=storage)
    assert again.best_value == result.best_value and len(again.trials) == 8


def test_a_finished_study_adds_nothing_and_a_larger_total_adds_the_difference(storage):
    make().run(storage=storage)
    assert make().run(storage=storage).counts == {"COMPLETE": 8}
    assert make().run(storage=storage, n_trials=11).counts == {"COMPLETE": 11}
    assert [r.number for r in trial_rows(storage)] == list(range(11))


def test_a_seeded_serial_run_is_reproducible(tmp_path):
    a = make(sampler="tpe", n_trials=15).run(storage=f"sqlite:///{tmp_path / 'a.db'}")
    b = make(sampler="tpe", n_trials=15).run(storage=f"sqlite:///{tmp_path / 'b.db'}")
    assert [t.params for t in a.trials] == [t.params for t in b.trials]


def test_failing_trials_keep_their_reason_and_the_study_goes_on(storage):
    def objective(config, trial):
        if trial.number == 3:
            sys.exit(2)  # a library that exits ends its trial, not the study
        if trial.number % 3 == 0:
            raise RuntimeError(f"boom {trial.number}")
        if trial.number % 3 == 1:
            return float("nan")
        return config["x"]

    result = make(objective=objective, n_trials=6).run(storage=storage)
    by_number = {t.number: t for t in result.trials}
    assert by_number[0].state == "FAIL" and by_number[0].error == "RuntimeError: boom 0"
    assert by_number[3].state == "FAIL" and by_number[3].error == "the objective called sys.exit(2)"
    assert by_number[1].state == "FAIL" and by_number[1].error == "returned nan"
    assert by_number[2].state == "COMPLETE"
    assert result.counts == {"FAIL": 4, "COMPLETE": 2}


def test_max_retries_reruns_a_failed_configuration(storage):
    def objective(config, trial):
        if trial.attempt == 0:
            raise ValueError("flaky")
        return config["x"]

    result = make(objective=objective, n_trials=3, max_retries=1).run(storage=storage)
    counted = [t for t in result.trials if t.counted]
    assert len(counted) == 3 and all(t.state == "COMPLETE" for t in counted)
    retried = [t for t in result.trials if not t.counted]
    assert len(retried) == 3 and all("flaky; retried as trial" in t.error for t in retried)
    for t in counted:
        assert t.params == next(r.params for r in retried if r.number == t.retry_of)


@pytest.mark.parametrize("returned, message", [
    ("'abc'", "objective returned 'abc' (str); return a float or a dict holding 'loss'."),
    ("None", "objective returned nothing (None)"),
    ("{'acc': 1.0}", "objective returned a dict without 'loss'"),
])
def test_an_objective_breaking_its_contract_stops_the_run_and_changes_nothing(storage, returned, message):
    make(name="earlier", n_trials=2).run(storage=storage)
    before = dump(storage)
    bad = eval(f"lambda config, trial: {returned}")
    with pytest.raises(ObjectiveContractError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make(name="new", objective=bad).run(storage=storage)
    assert dump(storage) == before


def test_a_contract_error_leaves_no_queue_behind_and_no_gap_in_the_numbering(storage):
    make(name="earlier", n_trials=2).run(storage=storage)
    before = dump(storage)
    bad = make(name="new", objective=lambda c, t: "abc", enqueue=[{"x": 1.0, "n": 2, "act": "relu"}] * 2)
    with pytest.raises(ObjectiveContractError):
        bad.run(storage=storage)
    with pytest.raises(ObjectiveContractError):
        make(name="new", objective=lambda c, t: None, warm_start_from="earlier").run(storage=storage)
    with pytest.raises(ObjectiveContractError):  # an existing study: its trial counter is given back too
        make(name="earlier", objective=lambda c, t: "abc", n_trials=3).run(storage=storage)
    assert dump(storage) == before
    assert [t.number for t in make(name="earlier").run(storage=storage, n_trials=4).trials] == [0, 1, 2, 3]


def test_a_contract_error_on_a_fresh_sqlite_file_leaves_no_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with pytest.raises(ObjectiveContractError):
        make(objective=lambda c, t: "abc").run(storage=url)
    assert not os.path.exists(tmp_path / "fresh.db")


def test_a_study_name_reused_with_another_metric_or_space_is_refused(storage):
    make().run(storage=storage)
    before = dump(storage)
    with pytest.raises(StorageError, match=r"optimises \['loss'\] \(\['min'\]\), but the study file declares"):
        make(metric="acc", mode="max").run(storage=storage)
    other = at.Study(name="s", space={"x": at.uniform(0, 1)}, objective=quadratic, n_trials=3)
    with pytest.raises(StorageError, match=r"was created with another search space \(parameter 'x' was "
                                           r"uniform\(-5.0, 5.0\) and is now uniform\(0.0, 1.0\)\); resuming"):
        other.run(storage=storage)
    wider = at.Study(name="s", space={**SPACE, "y": at.uniform(0, 1)}, objective=quadratic, n_trials=3)
    with pytest.raises(StorageError, match=r"\(parameter 'y' is new\)"):
        wider.run(storage=storage)
    assert dump(storage) == before


def test_results_give_a_dataframe_and_the_best_artifact(storage, tmp_path):
    def objective(config, trial):
        loss = quadratic(config, trial)
        trial.save_artifact("model.txt", f"loss={loss}")
        trial.save_artifact("weights/w.bin", bytes([trial.number]) * 10)
        return {"loss": loss, "acc": 1 / (1 + loss)}

    result = make(objective=objective, n_trials=6, keep_artifacts=2).run(storage=storage)
    df = result.trials_dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == 6
    assert {"number", "state", "value", "params_x", "params_n", "params_act", "metrics_acc"} <= set(df.columns)
    path = result.best_artifact("model.txt")
    assert open(path).read() == f"loss={result.best_value}"
    written = result.export_best(tmp_path / "export")
    assert sorted(os.path.relpath(p, tmp_path / "export") for p in written) == ["model.txt", "weights/w.bin"]
    holders = {n for t in result.trials for n in [t.number] if result.artifact_names(t.number)}
    assert len(holders) == 2  # keep_artifacts=2: only the two best trials keep theirs
    with pytest.raises(StorageError, match="has no artifact named 'nope'; it has: model.txt, weights/w.bin"):
        result.best_artifact("nope")


def test_unsafe_artifact_names_are_refused(tmp_path):
    def objective(config, trial):
        trial.save_artifact("../escape.txt", "x")
        return 1.0

    with pytest.raises(ObjectiveContractError, match="'../escape.txt' is not a safe artifact name"):
        make(objective=objective).run(storage=f"sqlite:///{tmp_path / 'a.db'}")


def test_enqueued_configurations_run_first(storage):
    result = make(enqueue=[{"x": 1.0, "n": 1, "act": "tanh"}, {"x": 2.0, "n": 3, "act": "relu"}],
                  n_trials=4).run(storage=storage)
    first = sorted(result.trials, key=lambda t: t.number)[:2]
    assert [t.params for t in first] == [{"x": 1.0, "n": 1, "act": "tanh"}, {"x": 2.0, "n": 3, "act": "relu"}]
    assert result.best_value == 1.0 and all(t.origin == "queue" for t in first)


def test_a_configuration_enqueued_on_an_existing_study_runs_first_and_once(storage):
    make(n_trials=3).run(storage=storage)
    extra = {"x": 2.0, "n": 3, "act": "relu"}
    again = make(enqueue=[extra], n_trials=5).run(storage=storage)
    by_number = {t.number: t for t in again.trials}
    assert len(by_number) == 5 and by_number[3].params == extra and by_number[3].origin == "queue"
    third = make(enqueue=[{**extra, "x": 2}, by_number[0].params], n_trials=6).run(storage=storage)  # 2 is 2.0
    # both already have a trial: nothing is queued again, and the sixth trial is the sampler's
    assert [t.params for t in third.trials].count(extra) == 1 and len(third.trials) == 6
    assert sorted(third.trials, key=lambda t: t.number)[-1].origin != "queue"


def test_configurations_enqueued_beyond_a_used_budget_are_not_queued_and_said_so(storage):
    from tests.conftest import dump

    make(n_trials=3).run(storage=storage)
    before = dump(storage)
    with pytest.warns(UserWarning, match=r"1 of the configurations to run first .* budget of 3 trials"):
        result = make(enqueue=[{"x": 2.0, "n": 3, "act": "relu"}], n_trials=3).run(storage=storage)
    assert len(result.trials) == 3 and dump(storage)["autotune_trials"] == before["autotune_trials"]
    # a new study: what does not fit its budget is not queued either (it would wait for ever)
    three = [{"x": 1.0, "n": 1, "act": "tanh"}, {"x": 2.0, "n": 3, "act": "relu"}, {"x": 3.0, "n": 2, "act": "relu"}]
    with pytest.warns(UserWarning, match=r"study 'fresh': 1 of the configurations to run first"):
        fresh = make(name="fresh", enqueue=three, n_trials=2).run(storage=storage)
    assert [t.params for t in sorted(fresh.trials, key=lambda t: t.number)] == three[:2]
    assert fresh.counts == {"COMPLETE": 2}


def test_a_run_aborted_on_an_existing_study_takes_back_what_it_queued(storage):
    from tests.conftest import dump

    make(n_trials=3).run(storage=storage)
    before = dump(storage)
    with pytest.raises(ObjectiveContractError, match="returned 'abc'"):
        make(objective=lambda c, t: "abc", enqueue=[{"x": 2.0, "n": 3, "act": "relu"}], n_trials=5).run(
            storage=storage)
    after = dump(storage)
    assert after["autotune_trials"] == before["autotune_trials"]
    assert after["autotune_studies"] == before["autotune_studies"]  # its counters and numbering too


def test_timeout_stops_starting_trials(tmp_path):
    import time

    def slow(config, trial):
        time.sleep(0.3)
        return config["x"]

    result = make(objective=slow, n_trials=1000).run(storage=f"sqlite:///{tmp_path / 'a.db'}", timeout=1)
    assert 1 <= len(result.trials) < 10 and result.run_report.timed_out


@pytest.mark.parametrize("kw, message", [
    ({"sampler": "bogus"}, "unknown sampler 'bogus'; choose one of auto, tpe, gp"),
    ({"pruner": "bogus"}, "unknown pruner 'bogus'"),
    ({"backend": "slurm"}, "unknown backend 'slurm'"),
    ({"mode": "minimize"}, "`mode` must be 'min' or 'max'"),
    ({"parallelism": 0}, "`parallelism` must be an integer >= 1, but got 0."),
    ({"n_trials": -1}, "`n_trials` must be an integer >= 1"),
    ({"timeout": "soon"}, "timeout 'soon' is not a duration"),
])
def test_bad_study_settings_fail_in_the_constructor(kw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make(**kw)


def test_reports_from_the_objective_reach_the_pruner(storage):
    def curve(config, trial):
        final = abs(config["x"])
        for step in range(10):
            trial.report(final + 10.0 / (step + 1), step)
        return final

    result = make(objective=curve, pruner="median", n_trials=20, sampler="random").run(storage=storage)
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned, "the median pruner should stop some of 20 random trials"
    for t in pruned:
        assert t.intermediate and t.value == t.intermediate[-1][1] and t.last_step < 9


def test_metrics_values_must_be_numbers():
    from autotune.objectives import parse_result

    assert parse_result({"loss": "x"}, ["loss"]).contract_error
    assert parse_result(True, ["loss"]).contract_error
    assert parse_result(3, ["a", "b"]).contract_error
    out = parse_result({"a": 1, "b": float("inf")}, ["a", "b"])
    assert out.state == "FAIL" and not out.contract_error and out.error == "returned inf for 'b'"
    assert math.isclose(parse_result(__import__("numpy").float32(0.5), ["loss"]).values[0], 0.5)


@pytest.mark.parametrize("config, message", [
    ({"x": 9.0, "n": 1, "act": "relu"}, "enqueue[0]: 'x' = 9.0 is outside its domain uniform(-5.0, 5.0)"),
    ({"x": 1.0, "act": "relu"}, "has no value for 'n'"),
    ({"x": 1.0, "n": 1, "act": "relu", "y": 2}, "sets ['y'], which the space does not search"),
    ({"x": 1.0, "n": 1, "act": "gelu"}, "'act' = 'gelu' is outside its domain choice(['relu', 'tanh'])"),
])
def test_enqueued_configurations_are_checked_against_the_space(config, message):
    from autotune.errors import SpaceError

    with pytest.raises(SpaceError) as info:
        make(enqueue=[config])
    assert message in str(info.value)


def test_objectives_of_every_callable_shape_are_accepted_and_seeds_up_to_2_32_run(sqlite_url):
    import functools

    def unpack(fn):  # a decorator: what is called is the wrapper, whatever fn's own parameters are
        @functools.wraps(fn)
        def objective(config, trial):
            return fn(**config)
        return objective

    @unpack
    def train(x, n, act):
        return x ** 2 + n

    class Callable:
        def __call__(self, config, trial, extra=1):
            return config["x"]

    for objective in (train, Callable(), functools.partial(lambda config, trial, k: k, k=1.0),
                      lambda *args: 1.0):
        at.Study(name="shapes", space=SPACE, objective=objective)
    result = make(name="top", objective=train, sampler="auto", seed=2**32 - 1, n_trials=3).run(storage=sqlite_url)
    assert result.counts == {"COMPLETE": 3}
    with pytest.raises(ConfigError, match=r"`seed` must be an integer from 0 to 4294967295, but got -1"):
        make(seed=-1)


def test_a_multi_objective_study_takes_an_explicit_no_op_pruner():
    import optuna

    at.Study(name="mo", space={"x": at.uniform(0, 1)}, metric=["a", "b"], mode=["min", "max"],
             objective=lambda c, t: {"a": 1, "b": 2}, pruner=optuna.pruners.NopPruner())
    with pytest.raises(ConfigError, match="pruners compare one metric's reports"):
        at.Study(name="mo", space={"x": at.uniform(0, 1)}, metric=["a", "b"], mode=["min", "max"],
                 objective=lambda c, t: {"a": 1, "b": 2}, pruner=optuna.pruners.MedianPruner())


def test_best_params_of_a_study_with_a_fixed_object_can_be_enqueued_again(sqlite_url):
    space = {"x": at.uniform(0, 1), "act": at.fixed(math.tanh)}
    at.Study(name="first", space=space, objective=lambda c, t: c["act"](c["x"]), n_trials=2).run(storage=sqlite_url)
    first = at.load_study("first", storage=sqlite_url)
    best = first.best_params  # the fixed value read back as its repr
    second = at.Study(name="second", space=space, objective=lambda c, t: c["act"](c["x"]), enqueue=[best],
                      n_trials=1).run(storage=sqlite_url)
    [trial] = second.trials
    assert trial.origin == "queue" and trial.params["x"] == best["x"]
    assert trial.value == first.best_value == math.tanh(best["x"])  # it ran with the function itself


def test_an_enqueued_value_must_lie_on_a_float_step_and_match_a_fixed_value():
    from autotune.errors import SpaceError

    space = {"x": at.uniform(0, 1, step=0.25), "e": at.fixed(5)}
    at.Study(name="q", space=space, objective=quadratic, enqueue=[{"x": 0.75}, {"x": 0.5, "e": 5}])
    with pytest.raises(SpaceError, match=r"enqueue\[0\]: 'x' = 0.3 is outside its domain uniform\(0.0, 1.0, "
                                         r"step=0.25\)"):
        at.Study(name="q", space=space, objective=quadratic, enqueue=[{"x": 0.3}])
    with pytest.raises(SpaceError, match=r"enqueue\[0\]: 'e' = 6, but the space fixes it at 5; leave it out"):
        at.Study(name="q", space=space, objective=quadratic, enqueue=[{"x": 0.5, "e": 6}])


def test_warm_start_seeds_a_new_study_with_the_best_of_an_earlier_one(storage):
    first = make(name="first", n_trials=10).run(storage=storage)
    best3 = [t.params for t in sorted(first.trials, key=lambda t: t.value)[:3]]
    second = make(name="second", n_trials=5, warm_start_from="first", warm_start_top=3).run(storage=storage)
    opening = [t.params for t in sorted(second.trials, key=lambda t: t.number)[:3]]
    assert opening == best3 and all(t.origin == "queue" for t in second.trials[:3])
    assert second.best_value <= first.best_value


def test_warm_start_from_a_missing_study_changes_nothing(storage):
    make(name="first", n_trials=2).run(storage=storage)
    before = dump(storage)
    with pytest.raises(StorageError, match="warm_start_from='nope': no study named 'nope'"):
        make(name="second", warm_start_from="nope").run(storage=storage)
    assert dump(storage) == before


def test_a_multi_objective_study_has_a_pareto_front(sqlite_url):
    study = at.Study(name="mo", space={"x": at.uniform(0, 1)}, metric=["a", "b"], mode=["min", "max"],
                     objective=lambda c, t: {"a": c["x"], "b": c["x"] ** 2}, sampler="random", n_trials=8, seed=0)
    result = study.run(storage=sqlite_url)
    front = result.pareto_front
    assert front and all(len(t.values) == 2 for t in front)
    # a up and b up together: trading a (min) for b (max) leaves every trial on the front
    assert len(front) == 8


def test_a_multi_objective_study_records_reports_as_curves(sqlite_url):
    def objective(config, trial):
        for step in range(3):
            trial.report(config["x"] * step, step)
        return {"a": config["x"], "b": config["x"] ** 2}

    study = at.Study(name="mo", space={"x": at.uniform(0, 1)}, metric=["a", "b"], mode=["min", "max"],
                     objective=objective, sampler="tpe", n_trials=4, seed=0)
    result = study.run(storage=sqlite_url)
    assert result.counts == {"COMPLETE": 4}  # Optuna refuses reports of several objectives; they were failing
    assert all([s for s, _ in t.intermediate] == [0, 1, 2] for t in result.trials)


def _sized(config, trial):
    return {"loss": (config["x"] - 4) ** 2, "size": config["x"]}


def test_constraints_mark_infeasible_trials_and_steer_the_sampler(storage):
    def run(constraints):
        study = at.Study(name="c" if constraints else "u", space={"x": at.uniform(0, 10)}, objective=_sized,
                         sampler="tpe", n_trials=30, seed=1, constraints=constraints)
        return study.run(storage=storage)

    free = run(None)
    bound = run(lambda m: m["size"] - 2.0)  # feasible when size <= 2, away from the unconstrained optimum x=4
    assert free.best_trial.metrics["size"] > 2
    best = bound.best_trial
    assert best.metrics["size"] <= 2 and best.feasible
    assert any(not t.feasible for t in bound.trials)
    late = lambda r: [t for t in r.trials if t.number >= 15]  # noqa: E731
    feasible_late = sum(t.metrics["size"] <= 2 for t in late(bound))
    assert feasible_late > sum(t.metrics["size"] <= 2 for t in late(free))
    assert all(t.feasible for t in bound.pareto_front)


def test_a_study_whose_trials_all_break_the_constraints_says_so(sqlite_url):
    study = at.Study(name="c", space={"x": at.uniform(0, 10)}, objective=_sized, n_trials=3,
                     constraints=lambda m: 1.0)
    result = study.run(storage=sqlite_url)
    with pytest.raises(StorageError, match="study 'c' has 3 completed trials, but none meets its constraints"):
        _ = result.best_trial


def test_a_failing_constraints_function_stops_the_run(sqlite_url):
    study = at.Study(name="c", space={"x": at.uniform(0, 10)}, objective=_sized, n_trials=3,
                     constraints=lambda m: m["nope"])
    with pytest.raises(ObjectiveContractError, match="the constraints function failed"):
        study.run(storage=sqlite_url)


@pytest.mark.parametrize("constraints", [
    lambda m: np.array([m["size"] - 2.0, m["loss"] - 50.0]),  # a numpy array, as a vectorised condition gives
    lambda m: np.float32(m["size"] - 2.0),
    lambda m: (torch.tensor(m["size"] - 2.0), 0),
])
def test_numpy_and_torch_constraint_values_are_numbers(sqlite_url, constraints):
    study = at.Study(name="c", space={"x": at.uniform(0, 10)}, objective=_sized, n_trials=4, seed=0,
                     sampler="random", constraints=constraints)
    result = study.run(storage=sqlite_url)
    assert result.counts == {"COMPLETE": 4}
    assert [t.feasible for t in result.trials] == [t.metrics["size"] <= 2.0 for t in result.trials]


@pytest.mark.parametrize("constraints, shown", [
    (lambda m: m["size"] < 2, "True|False"),  # True would be stored as 1.0: infeasible, the opposite of meant
    (lambda m: float("nan"), "nan"),
    (lambda m: [], r"\[\]"),
    (lambda m: "low", "'low'"),
])
def test_a_constraints_function_returning_no_number_stops_the_run_and_changes_nothing(sqlite_url, constraints,
                                                                                       shown):
    at.Study(name="other", space={"x": at.uniform(0, 10)}, objective=_sized, n_trials=2).run(storage=sqlite_url)
    before = dump(sqlite_url)
    study = at.Study(name="c", space={"x": at.uniform(0, 10)}, objective=_sized, n_trials=3, constraints=constraints)
    with pytest.raises(ObjectiveContractError, match=f"the constraints function returned ({shown}) for .*each <= 0 "
                                                     "when the trial is feasible"):
        study.run(storage=sqlite_url)
    assert dump(sqlite_url) == before


def _napping(config, trial):
    import time

    time.sleep(0.05)
    return {"loss": (config["x"] - 1) ** 2, "size": config["n"]}


def test_to_optuna_keeps_each_trials_times_and_the_metric_names(storage):
    result = make(objective=_napping, n_trials=4).run(storage=storage)
    study = result.to_optuna()
    assert study.metric_names == ["loss"]
    stored = {t.number: t for t in result.trials}
    assert [t.user_attrs["autotune_number"] for t in study.trials] == sorted(stored)
    for t in study.trials:
        mine = stored[t.user_attrs["autotune_number"]]
        assert abs(t.datetime_start.timestamp() - mine.started_at) < 1e-5
        assert abs(t.datetime_complete.timestamp() - mine.finished_at) < 1e-5
        assert t.duration.total_seconds() >= 0.05  # the objective slept that long between the two
    starts = [t.datetime_start for t in study.trials]
    assert starts == sorted(starts) and len(set(starts)) == 4  # one after another, not one snapshot moment

    mo = at.Study(name="mo", space={"x": at.uniform(0, 1)}, metric=["a", "b"], mode=["min", "max"],
                  objective=lambda c, t: {"a": c["x"], "b": c["x"] ** 2}, sampler="random", n_trials=2, seed=0)
    assert mo.run(storage=storage).to_optuna().metric_names == ["a", "b"]


def test_to_optuna_of_a_constrained_study_has_the_same_best_trial(sqlite_url):
    # the unconstrained optimum (x near 4) breaks the constraint size <= 2: Optuna's best trial must not be it
    study = at.Study(name="c", space={"x": at.uniform(0, 10)}, objective=_sized, sampler="random", n_trials=12,
                     seed=3, constraints=lambda m: m["size"] - 2.0)
    result = study.run(storage=sqlite_url)
    unconstrained = min((t for t in result.trials if t.state == "COMPLETE"), key=lambda t: t.value)
    assert not unconstrained.feasible and result.best_trial.feasible
    assert result.to_optuna().best_trial.user_attrs["autotune_number"] == result.best_trial.number


@pytest.mark.parametrize("sampler", ["auto", "tpe", "gp", "nsga2"])
def test_constrained_samplers_use_optunas_current_api_without_future_warnings(sampler):
    import warnings

    from autotune.search import make_sampler

    space = at.Space({"x": at.uniform(0, 10), "n": at.randint(1, 3)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # what Optuna warns of deprecated arguments with
        for constraints_func in (None, lambda t: [0.0]):
            make_sampler(sampler, space, seed=0, n_trials=20, parallelism=1, n_objectives=1,
                         constraints_func=constraints_func)


def test_a_constrained_study_runs_without_future_warnings(sqlite_url):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = at.Study(name="c", space={"x": at.uniform(0, 10)}, objective=_sized, sampler="tpe", n_trials=20,
                          seed=1, constraints=lambda m: m["size"] - 2.0).run(storage=sqlite_url)
    assert not [w for w in caught if issubclass(w.category, FutureWarning)]
    assert result.best_trial.feasible and not all(t.feasible for t in result.trials)


def test_counts_is_a_property_like_the_best_values(sqlite_url):
    result = make(n_trials=2).run(storage=sqlite_url)
    assert result.counts == {"COMPLETE": 2} and "counts={'COMPLETE': 2}" in repr(result)
    assert isinstance(type(result).counts, property) and isinstance(type(result).best_value, property)


def test_the_study_docstring_documents_every_argument():
    import inspect
    import pydoc

    shown = pydoc.render_doc(at.Study, renderer=pydoc.plaintext)
    assert "see the README" not in shown and "Args:" in shown
    doc = inspect.getdoc(at.Study)
    args = doc[doc.index("Args:"):]
    for name in inspect.signature(at.Study).parameters:
        assert f"\n    {name}:" in args or f"\n    {name} " in args, name
