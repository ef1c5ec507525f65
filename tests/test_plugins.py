"""Samplers and pruners: what is particular to some of them, and every pruner name on the same checks. (Every
sampler on the same checks: test_conformance_samplers.py.)"""

import math

import numpy as np
import pytest

import autotune as at
from autotune.search import PRUNERS, resolve_auto
from autotune.spaces import Space

NUMERIC = {"x": at.uniform(-2, 2, step=0.5), "n": at.randint(0, 4)}
MIXED = {"x": at.uniform(-2, 2), "n": at.randint(0, 4), "c": at.choice(["a", "b"])}


def _space_for(sampler):
    return NUMERIC if sampler in ("grid", "cmaes") else MIXED


def _objective(config, trial):
    return config["x"] ** 2 + config["n"] + (0.5 if config.get("c") == "b" else 0.0)


def test_a_resumed_qmc_study_carries_its_sequence_on(tmp_path):
    """(What every sampler does on resuming is in test_conformance_samplers.py.) QMC's points of a study run in
    two parts are those of an uninterrupted run."""
    space = {"x": at.uniform(-2, 2), "n": at.randint(0, 4)}

    def study():
        return at.Study(name="s", space=space, objective=_objective, sampler="qmc", n_trials=12, seed=4)

    url = f"sqlite:///{tmp_path / 'parts.db'}"
    study().run(storage=url, n_trials=6)
    parts = [t.params for t in sorted(study().run(storage=url).trials, key=lambda t: t.number)]
    whole = study().run(storage=f"sqlite:///{tmp_path / 'whole.db'}").trials
    assert parts == [t.params for t in sorted(whole, key=lambda t: t.number)]


def test_a_seeded_study_resumed_after_its_driver_was_killed_is_reproducible(tmp_path):
    # a driver killed -9 stays registered on the study; the next driver must not take it for a live neighbour (and
    # mix its own random id into the seed)
    import sqlite3
    import subprocess
    import sys

    study = at.Study(name="s", space=MIXED, objective=_objective, sampler="random", n_trials=12, seed=4)
    study.run(storage=f"sqlite:///{tmp_path / 'a.db'}", n_trials=6)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    code = (f"from autotune.database import StudyDatabase; db = StudyDatabase({url!r}); "
            "db.register_driver(db.get_study('s').id)")
    subprocess.run([sys.executable, "-c", code], check=True)  # exits without unregistering, as after kill -9
    with sqlite3.connect(tmp_path / "a.db") as a, sqlite3.connect(tmp_path / "b.db") as b:
        a.backup(b)  # (a copy of the file alone may miss what is still in the write-ahead log)
    runs = [[t.params for t in sorted(study.run(storage=f"sqlite:///{tmp_path / f'{x}.db'}").trials,
                                      key=lambda t: t.number)] for x in "ab"]
    assert runs[0] == runs[1]


def test_the_grid_sampler_stops_when_the_grid_is_exhausted(sqlite_url):
    study = at.Study(name="g", space={"a": at.choice([1, 2]), "b": at.randint(0, 2)}, sampler="grid", n_trials=50,
                     objective=lambda c, t: c["a"] * 10 + c["b"])
    result = study.run(storage=sqlite_url)
    assert sorted((t.params["a"], t.params["b"]) for t in result.trials) == [(a, b) for a in (1, 2)
                                                                             for b in (0, 1, 2)]


def test_auto_picks_gp_for_small_flat_budgets_and_tpe_otherwise():
    numeric = Space({"x": at.uniform(0, 1), "n": at.randint(1, 5)})
    assert resolve_auto(numeric, 40, 1, 1) == "gp"
    assert resolve_auto(Space(MIXED), 40, 1, 1) == "gp"
    assert resolve_auto(numeric, 1000, 1, 1) == "tpe"
    assert resolve_auto(numeric, 40, 4, 1) == "tpe"
    assert resolve_auto(numeric, 40, 1, 2) == "tpe"
    assert resolve_auto(Space(CONDITIONAL), 40, 1, 1) == "tpe"
    assert resolve_auto(Space({f"x{i}": at.uniform(0, 1) for i in range(13)}), 40, 1, 1) == "tpe"


@pytest.fixture(params=[p for p in PRUNERS if p != "none"])
def pruner(request):
    return request.param


def _curve(config, trial):
    final = abs(config["x"]) + config["n"]
    for step in range(27):
        trial.report(final + 5.0 / (step + 1), step)
    return final


def test_every_pruner_stops_weak_learning_curves(pruner, sqlite_url):
    study = at.Study(name="p", space=MIXED, objective=_curve, sampler="random", pruner=pruner, n_trials=30, seed=0)
    result = study.run(storage=sqlite_url)
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert len(pruned) >= 5
    assert all(t.value == t.intermediate[-1][1] for t in pruned)
    assert result.best_trial.state == "COMPLETE"


def test_no_pruner_prunes_nothing(sqlite_url):
    study = at.Study(name="p", space=MIXED, objective=_curve, sampler="random", pruner="none", n_trials=10, seed=0)
    assert study.run(storage=sqlite_url).counts == {"COMPLETE": 10}


def test_sampler_and_pruner_instances_are_accepted(sqlite_url):
    import optuna

    study = at.Study(name="i", space=MIXED, objective=_curve, sampler=optuna.samplers.RandomSampler(seed=0),
                     pruner=optuna.pruners.MedianPruner(n_startup_trials=2), n_trials=10)
    result = study.run(storage=sqlite_url)
    assert {t.origin for t in result.trials} == {"RandomSampler"}
    assert result.counts.get("PRUNED", 0) >= 1


CONDITIONAL = {"x": at.uniform(-2, 2),
               "opt": at.choice({"sgd": {"m": at.uniform(0, 1)}, "adam": {"b": at.randint(1, 3)}}),
               "lr": at.loguniform(1e-3, 1)}


TWO_DRIVERS = """
def objective(config, trial):
    return (config["x"] - 0.2) ** 2 + config["n"]

study = at.Study(name="two", space={"x": at.uniform(0, 1), "n": at.randint(0, 3)}, objective=objective,
                 n_trials=16, sampler="SAMPLER", seed=None)
"""


@pytest.mark.parametrize("sampler", ["tpe", "random", "skopt-gp", "skopt-rf", "skopt-et", "skopt-gbrt"])
def test_two_drivers_share_a_study_with_every_sampler(sampler, tmp_path, sqlite_url):
    from tests.conftest import start_driver, trial_rows, write_study

    write_study(tmp_path, TWO_DRIVERS.replace("SAMPLER", sampler))
    procs = [start_driver(tmp_path, sqlite_url) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0 and err == "", err
    rows = trial_rows(sqlite_url)
    assert [r.number for r in rows] == list(range(16)) and all(r.state == "COMPLETE" for r in rows)


def test_two_drivers_started_together_with_one_seed_propose_different_configurations(tmp_path, sqlite_url):
    from tests.conftest import start_driver, trial_rows, write_study

    # parallelism 1: each driver runs its trials in its own process, which logs its pid
    write_study(tmp_path, TWO_DRIVERS.replace("SAMPLER", "random").replace("seed=None", "seed=0, parallelism=1")
                .replace("return (", "import os, time; time.sleep(0.3); open('pids', 'a').write(f'{os.getpid()}\\n');"
                                     " return ("))
    procs = [start_driver(tmp_path, sqlite_url) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0 and err == "", err
    assert len(trial_rows(sqlite_url)) == 16
    assert len(set((tmp_path / "pids").read_text().split())) == 2  # both drivers ran trials
    xs = [t.params["x"] for t in at.load_study("two", storage=sqlite_url).trials]
    assert len(set(xs)) == 16, "the two drivers proposed the same configurations"


def _bowl(config, trial):
    return (config["a"] - 2) ** 2 + (config["b"] - 1) ** 2 + (0.0 if config["c"] == "x" else 0.5)


@pytest.mark.parametrize("sampler", ["skopt-gp", "skopt-rf"])
def test_skopt_samplers_repeat_quietly_on_a_space_they_have_exhausted(sampler, sqlite_url):
    # two points, twelve trials: skopt proposes points it has seen, swaps them for random ones and warns; the swap
    # is fine (the study may repeat a point), the warning reached drivers' stderr and is kept from users
    import warnings

    study = at.Study(name="two_points", space={"c": at.choice(["a", "b"])}, n_trials=12, seed=0, sampler=sampler,
                     objective=lambda config, trial: 0.0 if config["c"] == "a" else 1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = study.run(storage=sqlite_url)
    assert result.counts == {"COMPLETE": 12}
    assert [str(w.message) for w in caught if "skopt" in w.filename or "sklearn" in w.filename] == []


def test_auto_never_spends_a_trial_on_a_configuration_it_has_seen(sqlite_url):
    # 5 x 3 x 2 = 30 points; the GP's optimum (2, 1, "x") is found early and then proposed again and again
    space = {"a": at.randint(0, 4), "b": at.randint(0, 2), "c": at.choice(["x", "y"])}
    result = at.Study(name="d", space=space, objective=_bowl, n_trials=20, seed=0).run(storage=sqlite_url)
    configs = [tuple(sorted(t.params.items())) for t in result.trials]
    assert len(set(configs)) == 20
    origins = {t.origin for t in result.trials}
    assert "auto:gp" in origins and origins & {"auto:gp>tpe", "auto:gp>random"}, origins
    assert result.best_value == 0.0


def test_warp_keeps_the_order_of_the_values_and_tames_a_heavy_tail():
    from scipy import stats

    from autotune.search._auto import warp

    values = np.exp(np.random.default_rng(0).normal(0, 2, 40))  # log-normal: a few values dwarf the rest
    warped = warp(values)
    assert list(np.argsort(warped)) == list(np.argsort(values))
    assert abs(stats.skew(warped)) < stats.skew(values) / 4  # 0.62 against 2.56
    assert list(warp(np.array([1.0, 2.0]))) == [1.0, 2.0]  # too few to fit a transform
    assert list(warp(np.array([3.0, 3.0, 3.0]))) == [3.0, 3.0, 3.0]
    assert np.isinf(warp(np.array([1.0, 2.0, np.inf]))).any()  # left as given; the GP clips infinities itself


def test_warp_bounds_the_exponent_a_lone_outlier_would_drive_to_extremes():
    from scipy import stats

    from autotune.search._auto import warp

    # like elastic net's cross-validated losses: a tight cluster of good values and one far-off bad trial
    values = np.r_[-0.49 + 1e-4 * np.random.default_rng(1).random(30), -0.39]
    z = (values - values.mean()) / values.std()
    assert stats.yeojohnson_normmax(z) < -5  # what maximum likelihood alone would choose
    assert warp(values) == pytest.approx(stats.yeojohnson(z, lmbda=-2.0))


@pytest.mark.parametrize("mode", ["min", "max"])
def test_autos_gp_sees_warped_values_and_the_database_keeps_the_real_ones(mode, sqlite_url):
    import optuna

    from autotune.search._auto import _GPView, warp

    def steep(config, trial):  # heavy-tailed towards the bad side in either direction
        v = math.exp(4 * abs(config["x"] - 0.3))
        return v if mode == "min" else -v

    study = at.Study(name="w", space={"x": at.uniform(-2, 2)}, objective=steep, mode=mode, n_trials=10, seed=0)
    result = study.run(storage=sqlite_url)
    assert {t.origin for t in result.trials[5:]} == {"auto:gp"}
    for t in result.trials:
        assert t.value == pytest.approx(steep(t.params, None))
    ostudy = result.to_optuna()
    view = _GPView(ostudy)
    seen = view._get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    raw = np.array([t.value for t in ostudy.trials])
    sign = 1.0 if mode == "min" else -1.0
    assert [t.value for t in seen] == pytest.approx(list(sign * warp(sign * raw)))
    assert np.argmin(sign * np.array([t.value for t in seen])) == np.argmin(sign * raw)
    assert [t.value for t in ostudy.trials] == list(raw)  # the view copied the trials; the study's are untouched


@pytest.mark.slow  # trains for seconds
def test_a_gp_repeat_is_echoed_back_to_the_gp_which_then_proposes_a_new_point_itself():
    # without the echo the GP, which learns nothing from a refused proposal, repeats itself and TPE/random search
    # propose in its place; with it the GP moves on (on benchmarks/quality.py's kNN problem, 64 trials: 45
    # proposed by TPE or random search without echoes, 4 with)
    import optuna

    from autotune.search._auto import AutoGPSampler

    def by_the_gp(echoes: int, seed: int) -> int:
        sampler = AutoGPSampler(seed=seed, n_startup_trials=5, echoes=echoes)
        proposers = []

        def objective(trial):
            config = {"a": trial.suggest_int("a", 0, 4), "b": trial.suggest_int("b", 0, 2),
                      "c": trial.suggest_categorical("c", ["x", "y"])}
            proposers.append(sampler.fallback)
            return _bowl(config, trial)

        study = optuna.create_study(sampler=sampler)
        study.optimize(objective, n_trials=20)
        assert len({tuple(t.params.values()) for t in study.trials}) == 20
        assert (sum(sampler._echoes.values()) > 0) == (echoes > 0)
        return proposers[5:].count(None)

    with_echoes = sum(by_the_gp(3, seed) for seed in range(3))
    without = sum(by_the_gp(0, seed) for seed in range(3))
    assert with_echoes >= without + 6, (with_echoes, without)  # 21 against 12 when written


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_auto_asks_the_unwarped_gp_once_the_best_value_has_stalled(direction):
    import optuna

    from autotune.search._auto import AutoGPSampler

    sign = 1.0 if direction == "minimize" else -1.0
    dist = {"x": optuna.distributions.FloatDistribution(0, 1)}

    def stalled(values: list[float], number: int, tolerance: float = 0.01, infeasible=()) -> bool:
        study = optuna.create_study(direction=direction)
        for i, v in enumerate(values):
            attrs = {"constraints": [1.0 if i in infeasible else 0.0]}
            study.add_trial(optuna.trial.create_trial(params={"x": i / 100}, distributions=dist, value=sign * v,
                                                      system_attrs=attrs))
        sampler = AutoGPSampler(seed=0, n_startup_trials=4, stall_tolerance=tolerance,
                                constraints_func=(lambda t: [0.0]) if infeasible else None)
        return sampler._stalled(study, optuna.trial.FixedTrial({}, number))

    start = [5.0, 3.0, 4.0, 6.0, 2.0, 7.0, 3.5, 4.5, 5.5, 2.5]  # the first ten: median 4.25
    # the best (1.0) is 3.25 below that median; the last 8 trials moved it by 0.02, within 1% of 3.25 (0.0325)
    flat = start + [1.5, 1.02, 1.7, 1.6, 1.8, 1.9] + [1.2] * 3 + [1.0] + [1.2] * 4
    assert stalled(flat, 24)
    assert not stalled(flat, 25)  # only every third trial, by number
    assert not stalled(flat, 24, tolerance=0.005)  # 0.02 is more than 0.5% of 3.25
    assert not stalled(flat[:15], 24)  # fewer than 16 finished trials
    moving = start + [1.5, 1.05, 1.7, 1.6, 1.8, 1.9] + [1.2] * 7 + [1.0]  # 1.05 -> 1.0: 1.5% of the lead
    assert not stalled(moving, 24)
    assert not stalled([3.0] * 24, 24)  # no lead at all: nothing to stall on
    # an infeasible trial's low value is not the best: without it, 1.02 -> 1.0 in the window is still a stall, and
    # with it counted, the window's 0.5 would be a large move
    assert stalled(flat[:20] + [0.5] + flat[21:], 24, infeasible={20})
    assert not stalled(flat[:20] + [0.5] + flat[21:], 24)


def test_a_stalled_auto_study_takes_every_third_trial_from_the_unwarped_gp(sqlite_url):
    # a loss in steps of 0.05: once the GP has found the best step the best value cannot move, and the rule fires
    def steps(config, trial):
        return round(abs(config["x"] - 0.3) * 20) / 20

    result = at.Study(name="s", space={"x": at.uniform(0, 1)}, objective=steps, n_trials=28, seed=0).run(
        storage=sqlite_url)
    second = [t.number for t in result.trials if t.origin == "auto:gp>plain-gp"]
    assert second and all(n % 3 == 0 and n >= 16 for n in second), second
    assert result.best_value == 0.0
    import optuna

    from autotune.search._auto import _GPView, warp

    ostudy = result.to_optuna()
    raw = [t.value for t in ostudy.trials]
    done = optuna.trial.TrialState.COMPLETE
    assert [t.value for t in _GPView(ostudy, warped=False)._get_trials(states=(done,))] == raw  # the second GP's
    assert [t.value for t in _GPView(ostudy)._get_trials(states=(done,))] == pytest.approx(list(warp(np.array(raw))))


def test_a_sampler_object_proposing_outside_the_space_stops_the_run_and_changes_nothing(sqlite_url):
    import optuna

    from autotune.errors import ConfigError
    from tests.conftest import dump

    at.Study(name="other", space={"x": at.uniform(-5, 5)}, objective=lambda c, t: c["x"], n_trials=2,
             sampler="random").run(storage=sqlite_url)
    before = dump(sqlite_url)
    fixed = optuna.samplers.PartialFixedSampler({"x": 100.0}, optuna.samplers.RandomSampler(seed=0))
    study = at.Study(name="fixed", space={"x": at.uniform(-5, 5)}, objective=lambda c, t: c["x"], n_trials=2,
                     sampler=fixed)
    with pytest.raises(ConfigError, match=r"the sampler PartialFixedSampler proposed a configuration: 'x' = 100.0 is "
                                          r"outside its domain uniform\(-5.0, 5.0\); a sampler object must keep"):
        study.run(storage=sqlite_url)
    assert dump(sqlite_url) == before
