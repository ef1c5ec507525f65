"""One suite for every sampler autotune offers: each name in ``autotune.search.SAMPLERS`` and each wrapper that
``make_sampler`` puts around one (``+constraints``: the samplers that steer by a study's constraints), listed from
the registry so that a new sampler joins the suite by being registered.

Our cases run real studies on SQLite: proposals inside every kind of domain (float, stepped float, integer, log
float and log integer, choice, conditional branches), reproducible with a seed, a failed and a pruned trial
taken in stride, several objectives where the sampler supports them, a study resumed. Optuna's own sampler test
cases run over the same samplers in ``test_conformance_samplers_optuna.py``."""

import math

import pytest

import autotune as at
from autotune.errors import ConfigError, SpaceError
from autotune.search import SAMPLERS, make_sampler, resolve_auto
from autotune.spaces import Space
from tests._sampler_names import ALL, COSTLY, constraints

FLAT = {"x": at.uniform(-2, 2), "s": at.uniform(0, 1, step=0.25), "n": at.randint(0, 4),
        "lr": at.loguniform(1e-4, 1), "k": at.randint(1, 64, log=True), "c": at.choice(["a", "b", "c"])}
DISCRETE = {k: v for k, v in FLAT.items() if k not in ("x", "lr")}  # what the grid sampler can search
CONDITIONAL = {"x": at.uniform(-2, 2),
               "opt": at.choice({"sgd": {"m": at.uniform(0, 1)}, "adam": {"b": at.randint(1, 3)}})}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _in_flat(p: dict) -> bool:
    checks = {"x": lambda v: isinstance(v, float) and -2 <= v <= 2,
              "s": lambda v: v in (0.0, 0.25, 0.5, 0.75, 1.0),
              "n": lambda v: _is_int(v) and 0 <= v <= 4,
              "lr": lambda v: isinstance(v, float) and 1e-4 <= v <= 1,
              "k": lambda v: _is_int(v) and 1 <= v <= 64,
              "c": lambda v: v in ("a", "b", "c")}
    return all(name in checks and checks[name](v) for name, v in p.items())


def _in_conditional(p: dict) -> bool:
    branch = {"sgd": set("m"), "adam": set("b")}.get(p.get("opt"))
    return (branch is not None and set(p) == {"x", "opt"} | branch and isinstance(p["x"], float)
            and -2 <= p["x"] <= 2 and (0 <= p["m"] <= 1 if "m" in p else _is_int(p["b"]) and 1 <= p["b"] <= 3))


def _loss(config: dict) -> float:
    extra = sum(v for k, v in config.items() if k in ("s", "n", "m", "b")) + (config.get("c") == "b")
    return config.get("x", 0.0) ** 2 + math.log(config.get("lr", 1.0)) ** 2 / 50 + extra


def _objective(config, trial):
    return _loss(config)


def _study(sampler: str, space=None, **kw) -> at.Study:
    name, _, wrapper = sampler.partition("+")
    space = space or (DISCRETE if name == "grid" else FLAT)
    if wrapper == "constraints":
        kw["constraints"] = lambda metrics: -1.0  # every trial feasible: the run is the sampler's
    kw.setdefault("n_trials", 10)
    kw.setdefault("seed", 0)
    kw.setdefault("objective", _objective)
    return at.Study(name="conf", space=space, sampler=name, **kw)


@pytest.fixture(params=[pytest.param(s, marks=pytest.mark.slow) if s.startswith(COSTLY) else s for s in ALL])
def sampler(request):
    return request.param


def _origin(sampler: str, space: dict, n_trials: int, n_objectives: int = 1) -> str:
    name = sampler.partition("+")[0]
    return f"auto:{resolve_auto(Space(space), n_trials, 1, n_objectives)}" if name == "auto" else name


# -- our cases, through real studies -------------------------------------------------------------------------


def test_the_list_names_each_sampler_that_make_sampler_wraps_for_constraints():
    """``ALL`` is listed without building a sampler; built, each is wrapped exactly when listed with its wrapper."""
    space = Space({"n": at.randint(0, 3)})  # (discrete: every sampler can be built for it)
    kw = {"seed": 0, "n_trials": 20, "parallelism": 1, "n_objectives": 1}
    for name in SAMPLERS:
        plain, _ = make_sampler(name, space, **kw)
        wrapped, _ = make_sampler(name, space, constraints_func=constraints, **kw)
        assert (type(wrapped) is not type(plain)) == (f"{name}+constraints" in ALL), name


def test_proposals_lie_in_their_domains_and_the_trials_name_their_sampler(sampler, sqlite_url):
    study = _study(sampler, n_trials=12)
    result = study.run(storage=sqlite_url)
    assert result.counts == {"COMPLETE": 12}
    assert sorted(t.number for t in result.trials) == list(range(12))
    space = DISCRETE if sampler.startswith("grid") else FLAT
    for t in result.trials:
        assert set(t.params) == set(space) and _in_flat(t.params), t.params
        assert t.value == pytest.approx(_loss(t.params))
    # the sampler's name on each trial; a sampler that handed a proposal on says to whom after ">"
    expected = _origin(sampler, space, 12)
    assert {t.origin.split(">")[0] for t in result.trials} == {expected}
    assert result.best_value == min(t.value for t in result.trials)


def test_proposals_of_a_conditional_space_hold_exactly_their_branch(sampler, sqlite_url):
    try:
        study = _study(sampler, space=CONDITIONAL, n_trials=14)
        result = study.run(storage=sqlite_url)
    except SpaceError as exc:  # the sampler cannot search such a space, and says so before anything is stored
        assert sampler.startswith("grid"), exc
        pytest.skip(str(exc))
    assert result.counts == {"COMPLETE": 14}
    assert all(_in_conditional(t.params) for t in result.trials), [t.params for t in result.trials]
    assert {t.params["opt"] for t in result.trials} == {"sgd", "adam"}


def test_a_seeded_study_is_reproducible(sampler, tmp_path):
    runs = [[t.params for t in sorted(_study(sampler).run(storage=f"sqlite:///{tmp_path / f'{i}.db'}").trials,
                                      key=lambda t: t.number)] for i in range(2)]
    assert runs[0] == runs[1]
    other = _study(sampler, seed=1).run(storage=f"sqlite:///{tmp_path / 'other.db'}").trials
    assert [t.params for t in sorted(other, key=lambda t: t.number)] != runs[0], "the seed changed nothing"


def test_a_resumed_study_carries_on_without_repeating_itself_and_as_reproducibly(sampler, tmp_path):
    runs = []
    for i in range(2):
        url = f"sqlite:///{tmp_path / f'{i}.db'}"
        first = _study(sampler, n_trials=12).run(storage=url, n_trials=6)
        assert first.counts == {"COMPLETE": 6}
        result = _study(sampler, n_trials=12).run(storage=url)
        assert result.counts == {"COMPLETE": 12} and sorted(t.number for t in result.trials) == list(range(12))
        runs.append([t.params for t in sorted(result.trials, key=lambda t: t.number)])
    first, resumed = runs[0][:6], runs[0][6:]
    assert not [p for p in resumed if p in first], "the resumed run proposed the first run's configurations again"
    assert runs[0] == runs[1]


def _fails_and_prunes(config, trial):
    if trial.number == 2:
        raise ValueError("no good")
    if trial.number == 3:
        trial.report(5.0, 0)
        raise at.TrialPruned()
    return _loss(config)


def test_a_failed_and_a_pruned_trial_are_taken_in_stride(sampler, sqlite_url):
    result = _study(sampler, n_trials=12, objective=_fails_and_prunes).run(storage=sqlite_url)
    by_number = {t.number: t for t in result.trials}
    assert by_number[2].state == "FAIL" and by_number[2].error == "ValueError: no good"
    assert by_number[3].state == "PRUNED"
    later = [t for t in result.trials if t.number > 3]
    assert len(later) >= 8 and all(t.state == "COMPLETE" and _in_flat(t.params) for t in later)


def _two(config, trial):
    return {"a": _loss(config), "b": (config.get("s", 0.5) - 1) ** 2 + config["n"] / 4}


def test_several_objectives_where_the_sampler_supports_them(sampler, sqlite_url):
    try:
        result = _study(sampler, objective=_two, metric=["a", "b"], mode=["min", "min"], n_trials=10).run(
            storage=sqlite_url)
    except ConfigError as exc:  # a sampler for one metric refuses the study before its first trial, and says why
        assert "optimises one metric" in str(exc), exc
        pytest.skip(str(exc))
    assert result.counts == {"COMPLETE": 10}
    assert all(len(t.values) == 2 and _in_flat(t.params) for t in result.trials)
    front = result.pareto_front
    assert front and not [(p, q) for p in front for q in result.trials
                          if all(b <= a for a, b in zip(p.values, q.values, strict=True)) and q.values != p.values]
    expected = _origin(sampler, DISCRETE if "grid" in sampler else FLAT, 10, n_objectives=2)
    assert {t.origin.split(">")[0] for t in result.trials} == {expected}
