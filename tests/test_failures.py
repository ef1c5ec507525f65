"""Failed trials: a region where the objective fails is learnt and left, a broken study file stops the run early,
and failures do not use up the budget of a study none of whose trials ran well."""

import json
from collections import Counter

import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState, create_trial

import autotune as at
from autotune.database import SET_ASIDE
from autotune.search._history import UNCOUNTED_ATTR, failed_as_worst
from tests.conftest import cli, dump, trial_rows, write_study

REGION = """
def objective(config, trial):
    if config["x"] > 0.5:
        raise ValueError("diverged")
    return (config["x"] - 0.4) ** 2 + (config["y"] - 0.3) ** 2

study = at.Study(name="region", space={"x": at.uniform(0, 1), "y": at.uniform(0, 1)}, objective=objective,
                 n_trials=20, sampler=SAMPLER)
"""


def _trials(tmp_path, url, name):
    out = cli("trials", name, "--storage", url, "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_auto_leaves_a_region_where_the_objective_fails(tmp_path, seed):
    """x > 0.5 raises: auto proposed nearly one failing point over and over (6 of 20 trials COMPLETE), as its GP
    never saw the failures. Now no configuration is proposed twice and most trials complete."""
    write_study(tmp_path, REGION.replace("SAMPLER", '"auto"'))
    url = f"sqlite:///{tmp_path / 'region.db'}"
    out = cli("run", "study.py", "--storage", url, "--seed", seed, "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    trials = _trials(tmp_path, url, "region")
    configs = Counter(json.dumps(t["params"], sort_keys=True) for t in trials)
    assert len(trials) == 20 and max(configs.values()) == 1
    assert sum(t["state"] == "COMPLETE" for t in trials) >= 10


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["gp", "tpe", "skopt-gp"])
def test_every_model_based_sampler_learns_a_failing_region(sqlite_url, sampler):
    """Optuna's GP proposed the same failing point 9 times and skopt's GP 6 times; TPE completed 11 of 20."""
    ns = {"at": at}
    exec(REGION.replace("SAMPLER", repr(sampler)), ns)
    result = ns["study"].run(storage=sqlite_url, seed=1)
    configs = Counter(tuple(t.params.values()) for t in result.trials)
    assert max(configs.values()) == 1
    complete = sum(t.state == "COMPLETE" for t in result.trials)
    assert complete >= (12 if sampler == "tpe" else 14)


def test_failed_trials_reach_a_model_as_the_worst_finished_value():
    dist = optuna.distributions.FloatDistribution(0, 1)

    def trial(state, x, value=None, attrs=None):
        return create_trial(state=state, params={"x": x}, distributions={"x": dist}, value=value,
                            system_attrs=attrs)

    done = [trial(TrialState.COMPLETE, 0.1, 3.0), trial(TrialState.COMPLETE, 0.2, 5.0)]
    failed = [trial(TrialState.FAIL, 0.9), trial(TrialState.FAIL, 0.8, attrs={UNCOUNTED_ATTR: True})]
    for direction, worst in ((StudyDirection.MINIMIZE, 5.0), (StudyDirection.MAXIMIZE, 3.0)):
        shown = failed_as_worst(done + failed, done, [direction])
        # the set-aside failure (a retried configuration, a broken study file) says nothing of its region
        assert [(t.params["x"], t.state, t.values) for t in shown] == [(0.9, TrialState.COMPLETE, [worst])]
    assert failed[0].state == TrialState.FAIL  # copies: the study's own trials are untouched
    assert failed_as_worst(failed, [], [StudyDirection.MINIMIZE]) == []  # nothing finished: no value to use
    constrained = [create_trial(state=TrialState.COMPLETE, params={"x": 0.1}, distributions={"x": dist}, value=1.0,
                                system_attrs={"constraints": [-1.0, 0.0]})]
    shown = failed_as_worst(constrained + failed[:1], constrained, [StudyDirection.MINIMIZE])
    assert shown[0].constraints == {"0": 1.0, "1": 1.0}  # breaks every constraint


TYPO = """
def objective(config, trial):
    return config[KEY] * config["x"]

study = at.Study(name="typo", space={"x": at.uniform(0, 1), "learning_rate": at.loguniform(1e-4, 1)},
                 objective=objective, n_trials=30, sampler="random", seed=0)
"""


def test_a_broken_study_file_stops_after_five_alike_failures_and_the_fix_gets_the_whole_budget(tmp_path, storage):
    """A typo failed all 30 trials and exited 0; the fixed file's rerun then added nothing (30 FAIL counted)."""
    write_study(tmp_path, TYPO.replace("KEY", '"lr"'))
    out = cli("run", "study.py", "--storage", storage, cwd=tmp_path)
    assert out.returncode == 1
    assert "the first 5 trials of this run (0, 1, 2, 3, 4) all failed with the same error" in out.stderr
    assert "KeyError: 'lr'" in out.stderr and 'study.py", line 4, in objective' in out.stderr
    assert "Traceback" not in out.stderr and "autotune/objectives" not in out.stderr  # the study file's frames only
    assert [(r.number, r.state) for r in trial_rows(storage)] == [(n, "FAIL") for n in range(5)]

    write_study(tmp_path, TYPO.replace("KEY", '"learning_rate"'))  # fixed
    out = cli("run", "study.py", "--storage", storage, "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "none of its 5 earlier trials ran well" in out.stderr
    rows = trial_rows(storage)
    assert Counter((r.state, r.counted) for r in rows) == {("COMPLETE", True): 30, ("FAIL", False): 5}
    assert all(r.error == "KeyError: 'lr'" + SET_ASIDE for r in rows if r.state == "FAIL")
    status = json.loads(cli("status", "typo", "--storage", storage, "--json", cwd=tmp_path).stdout)[0]
    assert status["counts"] == {"COMPLETE": 30, "UNCOUNTED": 5} and status["finished"] == 30
    before = dump(storage)
    out = cli("run", "study.py", "--storage", storage, "--quiet", cwd=tmp_path)
    assert out.returncode == 0 and "earlier trials" not in out.stderr
    assert dump(storage) == before  # finished: adds nothing


def test_failures_that_differ_or_follow_a_good_trial_do_not_stop_the_run(tmp_path, sqlite_url):
    write_study(tmp_path, """
    def objective(config, trial):
        raise ValueError(f"bad point {trial.number}")  # failures that differ: a bad region, not a broken file

    study = at.Study(name="differ", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=8,
                     sampler="random", seed=0)
    ok_first = at.Study(name="ok_first", space={"x": at.uniform(0, 1)},
                        objective=lambda c, t: c["x"] if t.number == 0 else 1 / 0, n_trials=8, sampler="random")
    """)
    out = cli("run", "study.py", "--name", "differ", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr  # all 8 failed, each its own way
    out = cli("run", "study.py", "--name", "ok_first", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr  # 7 alike failures after a trial that ran: a region, not a broken file
    counts = {s["study"]: s["counts"] for s in json.loads(
        cli("status", "--storage", sqlite_url, "--json", cwd=tmp_path).stdout)}
    assert counts == {"differ": {"FAIL": 8}, "ok_first": {"COMPLETE": 1, "FAIL": 7}}


def test_failures_count_once_a_trial_of_the_study_ran_well(tmp_path, sqlite_url):
    """The budget rule: only a study none of whose trials ran well gets its failures set aside."""
    write_study(tmp_path, """
    def objective(config, trial):
        if trial.number % 2:
            raise RuntimeError(f"odd trial {trial.number}")
        return config["x"]

    study = at.Study(name="mixed", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=6,
                     sampler="random", seed=0)
    """)
    assert cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path).returncode == 0
    before = dump(sqlite_url)
    out = cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert out.returncode == 0 and dump(sqlite_url) == before
