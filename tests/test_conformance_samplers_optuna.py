"""Optuna's own sampler test cases (``optuna.testing.pytest_samplers``) over every sampler autotune offers, as the
sampler objects autotune builds (the names from ``tests/_sampler_names.py``, as in ``test_conformance_samplers.py``).

That module is not part of Optuna's public API: should a release move it, this file alone is skipped. The ids name
every sampler; where a group of cases does not apply to one, its cases are skipped with the reason."""

import pytest

import autotune as at
from autotune.errors import ConfigError
from autotune.search import make_sampler, resolve_auto
from autotune.spaces import Space
from tests._sampler_names import ALL, constraints

optuna_cases = pytest.importorskip("optuna.testing.pytest_samplers")

SPACE = {"x": at.uniform(0, 1), "y": at.uniform(0, 1)}
N_TRIALS = 20

# Samplers built for one autotune space: the grid sampler proposes the points of its grid only, and the skopt
# samplers fit a model over the space's dimensions, so they cannot answer for parameters outside it
GRID = "it proposes only the points of the grid built from the study's space, never values of Optuna's"
SKOPT = "fits its model over the dimensions of the space it was built for, so it cannot propose parameters of "
# Optuna's cases that run studies over parameters of their own (the others ask for one parameter at a time, which
# the skopt samplers leave to random search)
OVER_OPTUNAS_OWN = ("test_single_parameter_objective", "test_conditional_parameter_objective",
                    "test_dynamic_range_objective")


def _not_applying(sampler: str) -> str | None:
    name = sampler.partition("+")[0]
    if name == "grid":
        return f"{sampler}: {GRID}"
    if name.startswith("skopt-"):
        return f"{sampler}: {SKOPT}Optuna's"
    return None


def _factory(sampler: str, n_objectives: int = 1):
    name, _, wrapper = sampler.partition("+")

    def build():
        obj, _ = make_sampler(name, Space(SPACE), seed=0, n_trials=N_TRIALS, parallelism=1, n_objectives=n_objectives,
                              constraints_func=constraints if wrapper else None)
        return obj

    return build


def _constrained(inner, wrapper: str):
    from autotune.search._wrappers import ConstrainedSampler

    return ConstrainedSampler(inner, constraints) if wrapper else inner


def _tpe(wrapper: str):
    import optuna

    return _constrained(optuna.samplers.TPESampler(seed=0, multivariate=True, n_startup_trials=0), wrapper)


def _gp(wrapper: str):
    import optuna

    return _constrained(optuna.samplers.GPSampler(seed=0, n_startup_trials=0, warn_independent_sampling=False),
                        wrapper)


def _auto(wrapper: str):
    if resolve_auto(Space(SPACE), N_TRIALS, 1, 1) != "gp":  # (no PyTorch: auto stands for TPE)
        return _tpe(wrapper)
    from autotune.search._auto import AutoGPSampler

    return _constrained(AutoGPSampler(seed=0, n_startup_trials=0, constraints_func=constraints if wrapper else None),
                        wrapper)


# Optuna's relative cases ask a sampler for a joint proposal of every parameter once its study holds one finished
# trial. The samplers that start with random trials are built here as autotune builds them, minus that start;
# those that cannot propose jointly say why; the others (cmaes, qmc) are built as autotune builds them, and checked
# to propose jointly from the first finished trial on
NO_RANDOM_START = {"tpe": _tpe, "gp": _gp, "auto": _auto}
NOT_RELATIVE = {
    "random": "it proposes each parameter on its own, never jointly",
    "nsga2": "its first generation (at least two trials) is drawn at random, and its later proposals leave "
             "the mutated parameters to be drawn one by one",
}


# The 6 x 6 pairs of distributions of Optuna's numerical case fit the auto sampler's GP 36 times; its constrained
# form (the same GP, plus one for the constraint) runs the 6 pairs of one distribution with itself, which reach
# every distribution: the mixed pairs are the unconstrained form's to cover
PAIRS_ONCE = {"auto+constraints"}


def _pair_covered_elsewhere(sampler: str, request) -> str | None:
    if sampler not in PAIRS_ONCE or request.function.__name__ != "test_sample_relative_numerical":
        return None
    params = request.node.callspec.params
    x, y = params["x_distribution"], params["y_distribution"]
    if x == y:
        return None
    return (f"{sampler}: the mixed pair {x} / {y} runs on the unconstrained form; this form runs each distribution "
            "paired with itself")


def _relative(sampler: str, request=None):
    name, _, wrapper = sampler.partition("+")
    if reason := _not_applying(sampler):
        pytest.skip(reason)
    if request is not None and (reason := _pair_covered_elsewhere(sampler, request)):
        pytest.skip(reason)
    if name in NOT_RELATIVE:
        pytest.skip(f"{sampler}: {NOT_RELATIVE[name]}")
    if name in NO_RANDOM_START:
        return lambda: NO_RANDOM_START[name](wrapper)
    build = _factory(sampler)
    if not _proposes_jointly_after_one_trial(build()):
        pytest.fail(f"{sampler} proposes nothing jointly in a study of one finished trial: add it to NO_RANDOM_START "
                    "(built without its random start) or to NOT_RELATIVE (with the reason its cases do not apply)")
    return build


def _proposes_jointly_after_one_trial(sampler) -> bool:
    import optuna

    from autotune.search._optuna_private import read_trials, trial_id

    study = optuna.create_study(sampler=sampler)
    space = {"x": optuna.distributions.FloatDistribution(0, 1), "y": optuna.distributions.FloatDistribution(0, 1)}
    study.tell(study.ask(space), 1.0)
    running = trial_id(study.ask())
    frozen = next(t for t in read_trials(study) if trial_id(t) == running)
    return set(sampler.sample_relative(study, frozen, space)) == set(space)


def _multi_objective(sampler: str) -> bool:
    name, _, wrapper = sampler.partition("+")
    try:  # autotune refuses some samplers for several metrics when the study is declared, others when built
        at.Study(name="mo", space=SPACE, sampler=name, objective=lambda config, trial: {"a": 0.0, "b": 0.0},
                 metric=["a", "b"], mode=["min", "min"], constraints=(lambda m: -1.0) if wrapper else None)
        _factory(sampler, n_objectives=2)()
    except ConfigError:
        return False
    return True


# Optuna's cases run on the samplers that autotune builds its own way or implements (its configuration of TPE, the
# auto sampler, QMC that continues its sequence, the scikit-optimize samplers, and the constrained forms it builds);
# Optuna's GP, random, CMA-ES and NSGA-II samplers are built exactly as Optuna ships them (a seed, at most a warning
# turned off), and Optuna's own suite runs these cases on them.
AS_SHIPPED = ("gp", "gp+constraints", "random", "cmaes", "nsga2", "nsga2+constraints")
OURS = [name for name in ALL if name not in AS_SHIPPED]


@pytest.mark.slow  # some 2,000 cases
class TestOptunaBasicSamplerCases(optuna_cases.BasicSamplerTestCase):
    @pytest.fixture(params=OURS)
    def sampler(self, request):
        name = request.param.partition("+")[0]
        if name == "grid":
            pytest.skip(f"{request.param}: {GRID}")
        if name.startswith("skopt-") and request.function.__name__ in OVER_OPTUNAS_OWN:
            pytest.skip(f"{request.param}: {SKOPT}this case's study")
        return _factory(request.param)


@pytest.mark.slow  # some 2,000 cases
class TestOptunaRelativeSamplerCases(optuna_cases.RelativeSamplerTestCase):
    @pytest.fixture(params=OURS)
    def sampler(self, request):
        return _relative(request.param, request)


@pytest.mark.slow  # some 2,000 cases
class TestOptunaMultiObjectiveSamplerCases(optuna_cases.MultiObjectiveSamplerTestCase):
    @pytest.fixture(params=OURS)
    def sampler(self, request):
        if request.param.startswith("grid"):
            pytest.skip(f"{request.param}: {GRID}")
        if not _multi_objective(request.param):
            pytest.skip(f"{request.param} optimises one metric: autotune refuses it for several")
        return _factory(request.param, n_objectives=2)
