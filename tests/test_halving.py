"""The halving pruner: successive halving with pause and promote, on real drivers, workers and databases.

The objective below checkpoints like the ready torch objective (its log of trained steps is its checkpoint, keyed
by configuration), so a continued trial must never train a step twice, and the schedule is known exactly: with
12 trials, halving 2 and rungs at 1, 2, 4 and 8 reports, 12 trials train 1 step, 6 a second, 3 two more, 2 four
more and the best one finishes: 32 steps of the 96 an unpruned study trains.
"""

import json
import os
import signal
import time
from collections import Counter

import pytest
import sqlalchemy as sa

import autotune as at
from autotune.errors import ConfigError
from autotune.search import HalvingPruner
from tests.conftest import cli, dump, rows_so_far, start_driver, trial_rows, wait_until, write_study

HALVE = """
import os, signal, time

def objective(config, trial):
    key = repr(config["x"])
    done = [l for l in open("steps.log")] if os.path.exists("steps.log") else []
    start = sum(l.split()[0] == key for l in done)  # the log is the checkpoint: continue after the last step
    for step in range(start, 8):
        time.sleep(SLEEP)
        if KILLFLAG and step == 1 and not os.path.exists("killed"):
            open("killed", "w").close()
            os.kill(os.getpid(), signal.SIGKILL)  # the driver dies in the first continued trial
        with open("steps.log", "a") as fh:
            fh.write(f"{key} {step}\\n")
        trial.report(config["x"] + 1.0 / (step + 1), step)
    return config["x"]

study = at.Study(name="halve", space={"x": at.uniform(0, 1)}, objective=objective, sampler="random",
                 pruner=PRUNER, n_trials=12, parallelism=PAR, seed=SEED)
"""


def _study(par=1, kill=False, pruner='"halving"', seed="0", sleep=0.0) -> str:
    return (HALVE.replace("PAR", str(par)).replace("KILLFLAG", str(kill)).replace("PRUNER", pruner)
            .replace("SEED", seed).replace("SLEEP", str(sleep)))


def _steps(folder) -> Counter:
    lines = (folder / "steps.log").read_text().split("\n")
    return Counter(tuple(line.split()) for line in lines if line)


def _check_finished(folder, url):
    """Every counted trial finished, the best configuration completed, no step trained twice or lost."""
    result = at.load_study("halve", storage=url)
    counted = [t for t in result.trials if t.state != "FAIL"]
    assert len(counted) == 12 and {t.state for t in counted} == {"COMPLETE", "PRUNED"}
    best = min(counted, key=lambda t: t.params["x"])
    assert result.best_trial.number == best.number and best.state == "COMPLETE"
    for t in counted:  # reports in step order, none twice; a pruned trial's value is its last report
        assert [s for s, _ in t.intermediate] == sorted({s for s, _ in t.intermediate})
        if t.state == "PRUNED":
            assert t.value == t.intermediate[-1][1]
    steps = _steps(folder)
    assert max(steps.values()) == 1, "a continued trial trained a step twice"
    trained = Counter(key for key, _ in steps)
    assert trained == {repr(t.params["x"]): t.intermediate[-1][0] + 1 for t in counted}
    return result, counted


def _check_exact_schedule(folder, url):
    result, counted = _check_finished(folder, url)
    assert result.counts == {"COMPLETE": 1, "PRUNED": 11}
    assert sorted(len(t.intermediate) for t in counted) == [1] * 6 + [2] * 3 + [4] + [8, 8]
    assert sum(_steps(folder).values()) == 32  # of 96 without pruning


@pytest.mark.parametrize("par", [1, 2])
def test_halving_keeps_the_best_half_at_each_rung_and_trains_each_step_once(tmp_path, storage, par):
    write_study(tmp_path, _study(par))
    r = cli("run", "study.py", "--storage", storage, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "PAUSED: paused at" in r.stderr
    # each line's count of finished trials counts the trials its rung pruned (rung 0's PRUNED lines said 0/12)
    finished = 0
    for line in r.stderr.splitlines():
        if " COMPLETE: " in line or " PRUNED: " in line:
            finished += 1
            assert f"| {finished}/12 done |" in line, line
    assert finished == 12
    _check_exact_schedule(tmp_path, storage)
    assert not [t for t in trial_rows(storage) if t.state in ("RUNNING", "PAUSED", "WAITING")]
    status = cli("status", "--storage", storage, cwd=tmp_path)
    assert "complete=1 pruned=11" in status.stdout


def test_a_driver_killed_between_rungs_resumes_the_schedule_exactly(tmp_path, sqlite_url):
    """Killed while continuing the first winner of rung 0: the paused trials wait in the database, the killed one
    is re-queued and continues from its checkpoint, the schedule goes on, and no step is trained twice or lost."""
    write_study(tmp_path, _study(kill=True))
    first = cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert first.returncode == -9 and (tmp_path / "killed").exists()
    states = Counter(r.state for r in trial_rows(sqlite_url))
    assert states == {"PAUSED": 5, "PRUNED": 6, "RUNNING": 1}  # rung 0 was halved; one winner was running
    second = cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    _check_finished(tmp_path, sqlite_url)
    rows = trial_rows(sqlite_url)
    assert [r.state for r in rows if not r.counted] == ["FAIL"]
    assert not [r for r in rows if r.state in ("RUNNING", "PAUSED", "WAITING")]


def test_ctrl_c_pauses_the_running_trials_that_reported_and_the_study_resumes(tmp_path, sqlite_url):
    write_study(tmp_path, _study(par=2, sleep=0.1))
    proc = start_driver(tmp_path, sqlite_url)
    assert wait_until(lambda: sum(r.state == "PRUNED" for r in rows_so_far(sqlite_url)) >= 6)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    states = Counter(r.state for r in trial_rows(sqlite_url))
    assert "RUNNING" not in states and states["PAUSED"] >= 1
    r = cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    _check_finished(tmp_path, sqlite_url)


def test_paused_trials_of_a_study_resumed_without_halving_run_to_their_end(tmp_path, sqlite_url):
    write_study(tmp_path, _study(kill=True))
    assert cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path).returncode == -9
    write_study(tmp_path, _study(pruner='"none"'))
    r = cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    result = at.load_study("halve", storage=sqlite_url)
    assert result.counts == {"COMPLETE": 6, "PRUNED": 6, "RETRIED": 1}
    assert all(t.intermediate[-1][0] == 7 for t in result.trials if t.state == "COMPLETE")
    steps = _steps(tmp_path)
    assert max(steps.values()) == 1 and sum(steps.values()) == 6 * 1 + 6 * 8


def test_ctrl_c_pauses_a_continued_trial_of_a_study_resumed_without_halving(tmp_path, sqlite_url):
    write_study(tmp_path, _study(kill=True))
    assert cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path).returncode == -9
    paused = {r.number for r in trial_rows(sqlite_url) if r.state == "PAUSED"}
    write_study(tmp_path, _study(pruner='"none"', sleep=0.2))
    proc = start_driver(tmp_path, sqlite_url)
    assert wait_until(lambda: any(r.state == "RUNNING" and r.number in paused for r in rows_so_far(sqlite_url)))
    logged = sum(_steps(tmp_path).values())
    assert wait_until(lambda: sum(_steps(tmp_path).values()) >= logged + 2)  # two steps into the continued trial
    [number] = [r.number for r in trial_rows(sqlite_url) if r.state == "RUNNING"]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    rows = {r.number: r for r in trial_rows(sqlite_url)}
    # cut short, it is paused again with its reports, not failed and its configuration queued from scratch
    assert rows[number].state == "PAUSED" and "WAITING" not in {r.state for r in rows.values()}
    trial = next(t for t in at.load_study("halve", storage=sqlite_url).trials if t.number == number)
    assert len(trial.intermediate) > 1
    r = cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert at.load_study("halve", storage=sqlite_url).counts == {"COMPLETE": 6, "PRUNED": 6, "RETRIED": 1}
    assert max(_steps(tmp_path).values()) == 1


def test_an_objective_that_pauses_on_its_own_fails_its_trial_with_the_reason(sqlite_url):
    def objective(config, trial):
        trial.report(config["x"], 0)
        raise at.TrialPaused("I would like a break")

    study = at.Study(name="self_pause", space={"x": at.uniform(0, 1)}, objective=objective, n_trials=2, seed=0)
    result = study.run(storage=sqlite_url)
    assert result.counts == {"FAIL": 2}
    assert all("only the halving pruner pauses a trial" in t.error for t in result.trials)


def test_three_drivers_share_the_halving_of_one_study(tmp_path, storage):
    """Each driver decides from what it read; a decision read before another driver continued the trial (and it
    paused again, a rung further) must not apply: three drivers race to make that happen."""
    write_study(tmp_path, _study(seed="None"))
    procs = [start_driver(tmp_path, storage) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    _check_exact_schedule(tmp_path, storage)


TORCH = """
import torch
from autotune.objectives.torch import torch_objective

torch.manual_seed(0)
X = torch.randn(300, 8)
y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()
model = lambda c: torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(c["dropout"]),
                                      torch.nn.Linear(16, 2))
study = at.Study(name="mlp", space={"lr": at.loguniform(1e-3, 1e-1), "dropout": at.uniform(0, 0.5),
                                    "batch_size": at.fixed(32)},
                 objective=torch_objective(model, (X[:200], y[:200]), (X[200:], y[200:]), epochs=6,
                                           lr_schedule="cosine"),
                 metric="val_loss", sampler="random", pruner="halving", n_trials=6, seed=3)
"""


def _halved_and_full(tmp_path, url, body, name):
    """Run a study file with halving and (as study "full") without: the halved result, the unpruned trials."""
    write_study(tmp_path, body)
    write_study(tmp_path, body.replace('pruner="halving"', 'pruner="none"').replace(f'"{name}"', '"full"'), "full.py")
    for file in ("study.py", "full.py"):
        r = cli("run", file, "--storage", url, "--quiet", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    return at.load_study(name, storage=url), {t.number: t for t in at.load_study("full", storage=url).trials}


@pytest.mark.slow  # trains for seconds
def test_a_continued_torch_trial_trains_exactly_as_an_uninterrupted_one(tmp_path, sqlite_url):
    """Model, optimiser, schedule, and the random state of dropout and of the batch order are checkpointed."""
    halved, full = _halved_and_full(tmp_path, sqlite_url, TORCH, "mlp")
    assert sorted(len(t.intermediate) for t in halved.trials) == [1, 1, 1, 2, 4, 6]
    for t in halved.trials:
        assert t.params == full[t.number].params
        assert [v for _, v in t.intermediate] == [v for _, v in full[t.number].intermediate[:len(t.intermediate)]]
    (done,) = [t for t in halved.trials if t.state == "COMPLETE"]
    assert done.value == full[done.number].value and done.metrics["resumed_from"] == 4
    assert not os.listdir(tmp_path / ".autotune" / "checkpoints" / "mlp")  # pruned ones' removed by the pruner


def test_a_wrapped_torch_objective_leaves_no_checkpoint_of_a_pruned_trial(tmp_path, sqlite_url):
    """A study file that wraps the ready objective in its own function, without passing ``forget`` on: the pruner
    still removes the pruned trials' checkpoints (the ready objective made by the study file is known)."""
    body = TORCH.replace("objective=torch_objective(", "objective=lambda config, trial: ready(config, trial), _=(")
    body = body.replace("study = at.Study(", "ready = torch_objective(model, (X[:200], y[:200]), (X[200:], y[200:]), "
                                             "epochs=6, lr_schedule='cosine')\nstudy = at.Study(")
    body = body.replace(", _=(model, (X[:200], y[:200]), (X[200:], y[200:]), epochs=6,\n"
                        "                                           lr_schedule=\"cosine\"),", ",")
    assert "ready(config, trial)" in body and "_=" not in body
    write_study(tmp_path, body)
    r = cli("run", "study.py", "--storage", sqlite_url, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    result = at.load_study("mlp", storage=sqlite_url)
    assert result.counts == {"COMPLETE": 1, "PRUNED": 5}
    assert not os.listdir(tmp_path / ".autotune" / "checkpoints" / "mlp")


# -- bad input: a clear error, and nothing changes ---------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    ({"reduction_factor": 1}, "HalvingPruner: reduction_factor must be an integer >= 2, but got 1."),
    ({"min_resource": 0}, "HalvingPruner: min_resource must be an integer >= 1, but got 0."),
    ({"min_resource": 1.5}, "HalvingPruner: min_resource must be an integer >= 1, but got 1.5."),
    ({"cohort": 1}, "HalvingPruner: cohort must be an integer >= 2 or None (the whole budget), but got 1."),
])
def test_bad_halving_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError) as err:
        HalvingPruner(**kwargs)
    assert str(err.value) == message


def test_halving_a_multi_objective_study_is_refused():
    with pytest.raises(ConfigError, match=r"pruner='halving' ranks trials by one metric, but this study has 2"):
        at.Study(name="mo", space={"x": at.uniform(0, 1)}, objective=lambda c, t: {"a": 1, "b": 2},
                 metric=["a", "b"], mode=["min", "min"], pruner="halving", n_trials=4)


@pytest.mark.parametrize("body, args, message", [
    (_study().replace("n_trials=12", "n_trials=None"), ("--timeout", "5"),
     "pruner='halving' halves a cohort of trials once all of them reached a rung, but this study has no n_trials"),
    (_study().replace('pruner="halving"', 'pruner="halving", metric=["a", "b"], mode=["min", "min"]'), (),
     "pruner='halving' ranks trials by one metric, but this study has 2"),
])
def test_the_cli_refuses_a_halving_study_it_cannot_run_and_changes_nothing(tmp_path, sqlite_url, body, args, message):
    write_study(tmp_path, body)
    other = at.Study(name="other", space={"x": at.uniform(0, 1)}, objective=lambda c, t: c["x"], n_trials=2,
                     sampler="random", seed=0)
    other.run(storage=sqlite_url)
    before = dump(sqlite_url)
    r = cli("run", "study.py", "--storage", sqlite_url, *args, cwd=tmp_path)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr
    assert dump(sqlite_url) == before


def test_a_halving_pruner_instance_sets_the_rungs(tmp_path, sqlite_url):
    """Reduction factor 3 from 2 reports: 9 trials train 2 steps, 3 of them 4 more (rung 6), the best the rest."""
    calls = []

    def objective(config, trial):
        for step in range(8):
            calls.append((trial.number, step))
            trial.report(config["x"] + 1.0 / (step + 1), step)
        return config["x"]

    study = at.Study(name="eta3", space={"x": at.uniform(0, 1)}, objective=objective, sampler="random",
                     pruner=HalvingPruner(reduction_factor=3, min_resource=2), n_trials=9, seed=1)
    result = study.run(storage=sqlite_url)
    assert sorted(len(t.intermediate) for t in result.trials) == [2] * 6 + [6] * 2 + [8]
    # an objective without a checkpoint starts over when continued: its repeated reports are not stored twice
    assert len(calls) == 9 * 2 + 3 * 6 + 8
    eng = sa.create_engine(sqlite_url)
    with eng.connect() as c:
        inter = [json.loads(v) for (v,) in c.exec_driver_sql("SELECT intermediate FROM autotune_trials")]
    eng.dispose()
    assert all(len({s for s, _ in i}) == len(i) for i in inter)


def test_pause_is_answered_to_the_objective_as_trial_paused():
    from autotune.objectives import PAUSE, Trial, run_objective

    class Channel:
        def report(self, step, value):
            return PAUSE if step == 2 else False

        def artifact(self, name, data):
            pass

    seen = []

    def objective(config, trial):
        for step in range(5):
            seen.append(step)
            trial.report(1.0, step)
        return 1.0

    outcome = run_objective(objective, Trial(0, {}, Channel()), ["loss"])
    assert outcome.state == "PAUSED" and seen == [0, 1, 2]
    assert issubclass(at.TrialPaused, Exception) and not issubclass(at.TrialPaused, at.TrialPruned)


def test_later_proposals_learn_from_paused_trials_as_from_finished_ones(tmp_path):
    """Paused trials reach the sampler as pruned at their rung: where the first rung ranks trials as their ends
    do, TPE's proposals after its 10 random start-up trials are those of the same study without pruning."""
    def objective(config, trial):
        for step in range(4):
            trial.report((config["x"] - 0.3) ** 2 + config["y"] ** 2 + 1.0 / (step + 1), step)
        return (config["x"] - 0.3) ** 2 + config["y"] ** 2

    params = {}
    for pruner in ("none", "halving"):
        study = at.Study(name=pruner, space={"x": at.uniform(-1, 1), "y": at.uniform(-1, 1)}, objective=objective,
                         sampler="tpe", pruner=pruner, n_trials=14, seed=5)
        params[pruner] = [t.params for t in study.run(storage=f"sqlite:///{tmp_path / 'h.db'}").trials]
    assert params["halving"] == params["none"]


def test_cohorts_are_halved_one_after_another(sqlite_url):
    """``cohort=4``: trials 0-3 are halved among themselves and finished before trial 4 starts, so the next
    cohort's proposals learn from a finished one."""
    calls = []

    def objective(config, trial):
        for step in range(len([c for c in calls if c[0] == trial.number]), 8):
            calls.append((trial.number, step))
            trial.report(config["x"] + 1.0 / (step + 1), step)
        return config["x"]

    study = at.Study(name="cohorts", space={"x": at.uniform(0, 1)}, objective=objective, sampler="random",
                     pruner=HalvingPruner(cohort=4), n_trials=8, seed=2)
    result = study.run(storage=sqlite_url)
    by_cohort = [sorted(len(t.intermediate) for t in result.trials if t.number // 4 == c) for c in (0, 1)]
    assert by_cohort == [[1, 1, 2, 8], [1, 1, 2, 8]]
    first_of_next = calls.index((4, 0))
    assert all(n < 4 for n, _ in calls[:first_of_next]) and all(n >= 4 for n, _ in calls[first_of_next:])
    assert result.counts == {"COMPLETE": 2, "PRUNED": 6}


def test_the_sampler_learns_from_each_trial_once_as_it_finished(sqlite_url):
    """A paused trial is told to the sampler as pruned at its rung, and again when it finishes: the sampler must see
    the second entry only (else it counts the continued trials, the good ones, twice)."""
    import optuna
    from optuna.trial import TrialState

    seen = []

    class Recording(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, param_name, param_distribution):
            done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
            seen.append([(t.params["x"], t.state.name, len(t.intermediate_values)) for t in done])
            return super().sample_independent(study, trial, param_name, param_distribution)

    def objective(config, trial):
        for step in range(8):
            trial.report(config["x"] + 1.0 / (step + 1), step)
        return config["x"]

    study = at.Study(name="once", space={"x": at.uniform(0, 1)}, objective=objective, sampler=Recording(seed=0),
                     pruner=HalvingPruner(cohort=4), n_trials=12)
    result = study.run(storage=sqlite_url)
    assert all(len({x for x, _, _ in view}) == len(view) for view in seen), "a trial was seen twice"
    last = {x: (state, reports) for x, state, reports in seen[-1]}  # the last ask: cohorts 0 and 1 are finished
    assert len(last) == 11
    for t in result.trials:
        if t.number < 8:  # as the trial finished: its state and all its reports
            assert last[t.params["x"]] == (t.state, len(t.intermediate))


def test_a_resumed_run_s_sampler_learns_from_the_trials_an_earlier_run_paused(sqlite_url):
    """Paused trials reach the sampler at once, as pruned at their rung; a run that continues the study (or a
    second driver) must see the trials paused before it too, not only those it paused itself."""
    import optuna
    from optuna.trial import TrialState

    seen = []

    class Recording(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, param_name, param_distribution):
            pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
            seen.append(sorted((t.params["x"], len(t.intermediate_values)) for t in pruned))
            return super().sample_independent(study, trial, param_name, param_distribution)

    def objective(config, trial):
        for step in range(4):
            time.sleep(0.05)
            trial.report(config["x"] + 1.0 / (step + 1), step)
        return config["x"]

    def study(sampler):
        return at.Study(name="later", space={"x": at.uniform(0, 1)}, objective=objective, sampler=sampler,
                        pruner="halving", n_trials=40, seed=0)

    first = study("random").run(storage=sqlite_url, timeout=1.0)  # stops at the first rung, trials paused
    paused = sorted((t.params["x"], 1) for t in first.trials if t.state == "PAUSED")
    assert paused and len(paused) == len(first.trials)
    study(Recording(seed=1)).run(storage=sqlite_url, timeout=1.0)
    assert seen[0] == paused


@pytest.mark.slow  # trains for seconds
def test_a_cohort_with_a_retried_trial_is_halved_once_later_trials_exist(sqlite_url):
    """A member that fails and is retried comes back under a later number: its cohort is one short for good, and
    with no n_trials (a timeout) it must still be halved rather than wait until the run ends."""
    failed = []

    def objective(config, trial):
        if trial.number == 1 and not failed:
            failed.append(1)
            raise RuntimeError("a flaky first attempt")
        for step in range(4):
            trial.report(config["x"] + 1.0 / (step + 1), step)
        return config["x"]

    study = at.Study(name="retried", space={"x": at.uniform(0, 1)}, objective=objective, sampler="random",
                     pruner=HalvingPruner(cohort=4), max_retries=1, seed=0)
    result = study.run(storage=sqlite_url, timeout=3)
    first = [t for t in result.trials if t.number < 4]
    assert {t.state for t in first} == {"FAIL", "COMPLETE", "PRUNED"}, [(t.number, t.state) for t in first]
    assert max(t.number for t in result.trials) >= 8  # later cohorts ran too


# -- the ready objectives continue a paused trial --------------------------------------------------------------
@pytest.mark.parametrize("task, metric", [("binary", "binary_logloss"), ("regression", "l2")])
def test_the_lightgbm_objective_folds_are_lgb_cv_s_round_for_round(task, metric):
    import lightgbm as lgb
    from sklearn.datasets import load_breast_cancer, load_diabetes

    from autotune.objectives import Trial
    from autotune.objectives.lightgbm import lightgbm_objective

    X, y = (load_breast_cancer if task == "binary" else load_diabetes)(return_X_y=True)
    reported = []

    class Channel:
        def report(self, step, value):
            reported.append((step, value))
            return False

        def artifact(self, name, data):
            pass

    config = {"learning_rate": 0.1, "num_leaves": 15, "feature_fraction": 0.8, "bagging_fraction": 0.8,
              "bagging_freq": 1}
    out = lightgbm_objective(X, y, task=task, folds=4, report_every=5, seed=3)(config, Trial(0, config, Channel()))
    base = {"objective": task, "metric": metric, "verbosity": -1, "seed": 3, "deterministic": True,
            "num_threads": 1, **config}
    rounds = out["rounds_trained"]  # lgb.cv without early stopping, as far: every round's mean over the folds
    cv = lgb.cv(base, lgb.Dataset(X, y), rounds, nfold=4, seed=3, stratified=task != "regression")
    cv = cv[f"valid {metric}-mean"]
    assert len(reported) == rounds // 5
    assert reported == [(r, pytest.approx(cv[r - 1], rel=1e-12)) for r in range(5, rounds + 1, 5)]
    best = min(range(rounds), key=lambda i: (cv[i], i))
    assert rounds == best + 1 + 30  # LightGBM's rule: stopped 30 rounds after the best
    assert out["best_iteration"] == best + 1 and out[metric] == pytest.approx(cv[best], rel=1e-12)


LGB = """
from sklearn.datasets import load_breast_cancer
from autotune.objectives.lightgbm import lightgbm_objective

X, y = load_breast_cancer(return_X_y=True)
study = at.Study(name="lgb", space=at.spaces.lightgbm(feature_fraction=at.fixed(1.0), bagging_fraction=at.fixed(1.0),
                                                      bagging_freq=at.fixed(0), lambda_l1=None, lambda_l2=None),
                 objective=lightgbm_objective(X, y, folds=3, report_every=5, num_boost_round=80),
                 metric="binary_logloss", sampler="random", pruner="halving", n_trials=4, seed=1)
"""


@pytest.mark.slow  # trains for seconds
@pytest.mark.parametrize("extra", ["", "n_estimators=at.fixed(40), early_stopping_round=at.fixed(8), "])
def test_a_continued_lightgbm_trial_carries_on_from_its_boosters(tmp_path, sqlite_url, extra):
    """Without bagging or feature sampling (whose random draws restart), a continued trial's boosters train as
    an uninterrupted run's: the same curve, every report, and none of its rounds trained twice. A round count or
    patience in the configuration (LightGBM's names) caps this trial's rounds, also when it continues."""
    halved, full = _halved_and_full(tmp_path, sqlite_url, LGB.replace("lambda_l1=None", extra + "lambda_l1=None"),
                                    "lgb")
    (done,) = [t for t in halved.trials if t.state == "COMPLETE"]
    if extra:
        assert all(t.metrics["rounds_trained"] <= 40 for t in full.values())
    assert done.metrics["resumed_from"] == 10  # paused at 5 and 10 rounds, then continued to its end
    assert done.value == pytest.approx(full[done.number].value, rel=1e-9)
    assert [v for _, v in done.intermediate] == pytest.approx([v for _, v in full[done.number].intermediate],
                                                              rel=1e-9)
    assert not os.listdir(tmp_path / ".autotune" / "checkpoints" / "lgb")


@pytest.mark.slow  # trains for seconds
def test_lightgbm_trials_of_one_configuration_share_boosters_without_gaps_in_their_curves(tmp_path, sqlite_url):
    """Checkpoints are kept per configuration: a promoted trial may find the boosters of another trial of the same
    configuration that went further; it reports the stored rounds it has not, so every curve is whole."""
    body = LGB.replace("lambda_l1=None", "num_leaves=at.fixed(15), learning_rate=at.fixed(0.1), "
                       "min_child_samples=at.fixed(20), lambda_l1=None")
    halved, full = _halved_and_full(tmp_path, sqlite_url, body, "lgb")
    reference = [v for _, v in full[0].intermediate]
    for t in halved.trials:
        steps = [s for s, _ in t.intermediate]
        assert steps == list(range(5, 5 * len(steps) + 1, 5)), (t.number, steps)
        assert [v for _, v in t.intermediate] == pytest.approx(reference[:len(steps)], rel=1e-9)
    (done,) = [t for t in halved.trials if t.state == "COMPLETE"]
    assert done.value == pytest.approx(full[0].value, rel=1e-9)


def test_a_continued_sklearn_trial_fits_only_the_folds_it_has_not(sqlite_url):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from autotune.objectives.sklearn import sklearn_objective

    fits = []

    class Counted(LogisticRegression):
        def fit(self, X, y):
            fits.append(len(y))
            return super().fit(X, y)

    X, y = load_iris(return_X_y=True)
    runs = {}
    for pruner in ("none", "halving"):
        fits.clear()
        study = at.Study(name=pruner, space={"C": at.loguniform(1e-3, 10.0)}, metric="accuracy", mode="max",
                         objective=sklearn_objective(Counted(max_iter=500), X, y, cv=4, save_model=False),
                         sampler="random", pruner=pruner, n_trials=4, seed=0)
        runs[pruner] = (study.run(storage=sqlite_url), len(fits))
    (halved, n_halved), (full, n_full) = runs["halving"], runs["none"]
    assert n_full == 4 * 4 and n_halved == 4 + 2 + 2  # 4 trials fit 1 fold, 2 of them 1 more, the best the last 2
    (done,) = [t for t in halved.trials if t.state == "COMPLETE"]
    assert done.value == pytest.approx(next(t.value for t in full.trials if t.number == done.number), abs=1e-12)


@pytest.mark.parametrize("mode", ["min", "max"])
def test_a_trial_that_reported_nan_ranks_last_at_its_rung(mode):
    from types import SimpleNamespace

    from autotune.search._halving import plan

    firsts = [float("nan"), 0.3, 0.1, 0.2]  # trial 0 diverged
    rows = [SimpleNamespace(number=n, state="PAUSED", counted=True, intermediate=json.dumps([[0, v]]))
            for n, v in enumerate(firsts)]
    decided = plan(HalvingPruner(), rows, 1.0 if mode == "min" else -1.0, starting=False)
    kept = [n for n, _ in decided.promote]
    assert sorted(kept) == ([2, 3] if mode == "min" else [1, 3]) and 0 in decided.prune


@pytest.mark.slow  # trains for seconds
def test_a_driver_waiting_on_a_slow_trial_does_not_reread_the_study_every_tick(tmp_path, sqlite_url, monkeypatch):
    """While a slow trial holds up a rung nothing changes; the plan is not recomputed from a full read each tick."""
    from autotune.database import StudyDatabase

    reads = []
    real = StudyDatabase.all_trials
    monkeypatch.setattr(StudyDatabase, "all_trials", lambda self, sid: reads.append(sid) or real(self, sid))
    write_study(tmp_path, """
import time

def objective(config, trial):
    if trial.number == 3 and not trial.reports:
        time.sleep(4)  # the last trial of the cohort is slow to its first rung
    for step in range(2):
        trial.report(config["x"], step)
    return config["x"]

study = at.Study(name="slow", space={"x": at.uniform(0, 1)}, objective=objective, sampler="random",
                 pruner="halving", n_trials=4, parallelism=2, seed=0)
""")
    from autotune._study_file import load_study_file

    study = load_study_file(str(tmp_path / "study.py"), None)
    result = study.run(storage=sqlite_url)
    assert result.counts == {"COMPLETE": 1, "PRUNED": 3}
    assert len(reads) <= 8, len(reads)  # 5 here; 13 without the check: one more per half-second tick of the wait


def test_a_lightgbm_trial_that_fails_after_a_pause_leaves_no_checkpoint(tmp_path, monkeypatch):
    from sklearn.datasets import load_breast_cancer

    from autotune.errors import TrialPaused
    from autotune.objectives.lightgbm import lightgbm_objective

    monkeypatch.chdir(tmp_path)
    X, y = load_breast_cancer(return_X_y=True)
    objective = lightgbm_objective(X, y, folds=3, report_every=5, num_boost_round=40)

    class Trial:
        study_name = "lgbfail"

        def __init__(self, reports, answer):
            self.reports, self.answer = reports, answer

        def report(self, value, step):
            self.reports = [*self.reports, [step, value]]
            if self.answer is not None:
                raise self.answer

        def save_artifact(self, name, data):
            pass

    first = Trial([], TrialPaused("paused"))
    with pytest.raises(TrialPaused):
        objective({"num_leaves": 7}, first)
    folder = tmp_path / ".autotune" / "checkpoints" / "lgbfail"
    assert len(os.listdir(folder)) == 1  # kept for the continuation
    with pytest.raises(RuntimeError):
        objective({"num_leaves": 7}, Trial(first.reports, RuntimeError("the node ran out of memory")))
    assert os.listdir(folder) == []  # a failed trial is not continued: its boosters go
