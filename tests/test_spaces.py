"""Search-space primitives: validation messages state the rule and the values; conditional spaces flatten."""

import optuna
import pytest

import autotune as at
from autotune.errors import SpaceError
from autotune.spaces import Space


@pytest.mark.parametrize("make, message", [
    (lambda: at.uniform(3, 1), "uniform: `low <= high` must hold, but got (low=3, high=1)."),
    (lambda: at.loguniform(0, 1), "loguniform: a log scale needs `low > 0`, but got (low=0, high=1)"),
    (lambda: at.loguniform(-1, 1), "a log scale needs `low > 0`"),
    (lambda: at.randint(5, 1),
     "randint: `low <= high` must hold (both bounds are inclusive), but got (low=5, high=1)."),
    (lambda: at.randint(1, 10, step=2), "use high=9"),
    (lambda: at.randint(1.5, 3), "randint: `low` must be an integer, but got 1.5 (float)."),
    (lambda: at.uniform(0, 1, step=0), "`step > 0` must hold"),
    (lambda: at.uniform(0, 1, step=0.3), "`high - low` must be a multiple of `step`"),
    (lambda: at.uniform(0, float("inf")), "`high` must be finite"),
    (lambda: at.uniform("a", 1), "`low` must be a number, but got 'a' (str)."),
    (lambda: at.choice([]), "choice: the list of values is empty"),
    (lambda: at.choice({}), "choice: the dict of sub-spaces is empty"),
    (lambda: at.choice("abc"), "expected a list of values or a dict of sub-spaces"),
    (lambda: at.choice({"a": 3}), "branch 'a' must be a dict of parameters"),
    (lambda: Space({}), "the space is empty"),
    (lambda: Space({"x": 3}), "wrap constants in at.fixed()"),
])
def test_bad_domains_raise_one_clear_message(make, message):
    with pytest.raises(SpaceError) as info:
        make()
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)  # catchable as the standard error too


def test_randint_bounds_are_inclusive():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = Space({"n": at.randint(1, 3)})
    seen = set()
    for _ in range(60):
        t = study.ask()
        seen.add(space.sample(t)[1]["n"])
        study.tell(t, 0.0)
    assert seen == {1, 2, 3}


def test_conditional_space_flattens_the_chosen_branch_into_config():
    space = Space({
        "x": at.uniform(0, 1),
        "opt": at.choice({"sgd": {"momentum": at.uniform(0, 0.9)}, "adam": {"beta1": at.uniform(0.8, 0.99)}}),
        "tag": at.fixed("v1"),
    })
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    branches = set()
    for _ in range(20):
        params, config = space.sample(study.ask())
        branches.add(config["opt"])
        expected = {"x", "opt", "tag", "momentum" if config["opt"] == "sgd" else "beta1"}
        assert set(config) == expected
        assert config["tag"] == "v1" and "tag" not in params
        assert space.config_from_params(params) == config
    assert branches == {"sgd", "adam"}
    assert sorted(space.param_names()) == ["beta1", "momentum", "opt", "x"]


def test_a_name_may_have_another_domain_only_in_another_branch_of_a_choice():
    same = Space({"m": at.choice({"a": {"lr": at.uniform(0, 1)}, "b": {"lr": at.uniform(0, 1)}})})
    assert same.param_names() == ["m", "lr"]  # one domain everywhere: one parameter, as always
    other = Space({"m": at.choice({"a": {"lr": at.uniform(0, 1)}, "b": {"lr": at.uniform(0, 2)}, "c": {}})})
    assert other.param_names() == ["m", "lr[m=a]", "lr[m=b]"]
    # a declaration inside a branch of a branch that declares the name already is active with it: it must agree
    chain = Space({"m": at.choice({"a": {"lr": at.uniform(0, 1), "o": at.choice({"p": {"lr": at.uniform(0, 1)}})},
                                   "b": {"lr": at.uniform(0, 2)}})})
    assert chain.param_names() == ["m", "lr[m=a]", "o", "lr[m=b]"]
    with pytest.raises(SpaceError, match=r"parameter 'lr' is declared with two domains that can be active in one "
                                         r"configuration: uniform\(0.0, 1.0\) \(in branch 'm=a'\) and "
                                         r"uniform\(0.0, 2.0\) \(in branch 'm=a, o=p'\)"):
        Space({"m": at.choice({"a": {"lr": at.uniform(0, 1), "o": at.choice({"p": {"lr": at.uniform(0, 2)}})}})})
    with pytest.raises(SpaceError, match=r"\(at the top level\) and uniform\(0.0, 2.0\) \(in branch 'm=b'\)"):
        Space({"lr": at.uniform(0, 1), "m": at.choice({"a": {}, "b": {"lr": at.uniform(0, 2)}})})
    with pytest.raises(SpaceError, match=r"\(in branch 'm=a'\) and fixed\(3\) \(in branch 'n=b'\)"):  # two choices
        Space({"m": at.choice({"a": {"k": at.randint(1, 4)}}), "n": at.choice({"b": {"k": at.fixed(3)}})})
    with pytest.raises(SpaceError, match=r"the conditional parameter 'o' is declared twice \(in branch 'm=a' and "
                                         r"in branch 'm=b'\); a choice of sub-spaces needs a name of its own"):
        Space({"m": at.choice({"a": {"o": at.choice({"x": {}})}, "b": {"o": at.choice({"x": {}})}})})
    with pytest.raises(SpaceError, match=r"the samplers know it there as 'lr\[m=a\]'; but the space declares "
                                         r"'lr\[m=a\]' as a parameter of its own too: rename that one"):
        Space({"lr[m=a]": at.uniform(0, 1),
               "m": at.choice({"a": {"lr": at.uniform(0, 1)}, "b": {"lr": at.uniform(0, 2)}})})
    with pytest.raises(SpaceError, match=r"parameter 'lr' has different domains in branch 'm=a,o=p' and in branch "
                                         r"'m=a, o=p', which the samplers would both know as 'lr\[m=a,o=p\]'"):
        Space({"m": at.choice({"a,o=p": {"lr": at.uniform(0, 1)},
                               "a": {"o": at.choice({"p": {"lr": at.uniform(0, 2)}})}})})


def test_per_branch_domains_sample_store_and_read_back_under_the_declared_name():
    from optuna.trial import FixedTrial

    space = Space({"m": at.choice({
        "rf": {"n": at.randint(50, 500), "depth": at.fixed(None), "shape": at.choice([(1,), (2, 2)])},
        "gbm": {"n": at.randint(1000, 2000), "depth": at.randint(3, 9), "shape": at.choice([(3,), (4, 4)])},
    })})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(40):
        params, config = space.sample(study.ask())
        branch = config["m"]
        seen.add(branch)
        assert set(params) == {"m", f"n[m={branch}]", f"shape[m={branch}]"} | ({"depth"} if branch == "gbm" else set())
        assert config["n"] in (range(50, 501) if branch == "rf" else range(1000, 2001))
        assert config["shape"] in ([(1,), (2, 2)] if branch == "rf" else [(3,), (4, 4)])
        assert branch == "gbm" or config["depth"] is None
        assert space.config_from_params(params) == config
        assert set(space.distributions_for(params)) == set(params)
        space.check_config(config)
        # a FixedTrial of stored params, or of the configuration (as enqueue builds it), gives the same trial back
        assert space.sample(FixedTrial(params)) == (params, config)
        assert space.sample(FixedTrial(config)) == (params, config)
    assert seen == {"rf", "gbm"}
    # an earlier study's stored params (warm start) are taken as they are (choices by index aside, as ever)
    stored = {"m": "gbm", "n[m=gbm]": 1500, "depth": 4}
    Space({"m": at.choice({"rf": {"n": at.randint(50, 500)}, "gbm": {"n": at.randint(1000, 2000),
                                                                    "depth": at.randint(3, 9)}})}).check_config(stored)
    with pytest.raises(SpaceError, match=r"sets both 'n' and 'n\[m=gbm\]', the name the samplers know it by"):
        space.check_config({**stored, "shape": (3,), "n": 1500})
    with pytest.raises(SpaceError, match=r"'n' = 1500 is outside its domain randint\(50, 500\) in branch 'm=rf'"):
        space.check_config({"m": "rf", "n": 1500, "shape": (1,)})
    with pytest.raises(SpaceError, match=r"has no value for 'n' \(randint\(1000, 2000\) in branch 'm=gbm'\)"):
        space.check_config({"m": "gbm", "depth": 4, "shape": (3,)})
    assert Space.from_dict(space.to_dict()).param_names() == space.param_names()  # as the database rebuilds it


def test_choices_of_non_primitive_values_round_trip_by_index():
    space = Space({"shape": at.choice([(32, 32), (64,)])})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        params, config = space.sample(study.ask())
        assert params["shape"] in (0, 1)
        seen.add(config["shape"])
    assert seen == {(32, 32), (64,)}


def test_grid_needs_discrete_parameters():
    assert Space({"n": at.randint(1, 3), "x": at.uniform(0, 1, step=0.5)}).grid() == {
        "n": [1, 2, 3], "x": [0.0, 0.5, 1.0]}
    with pytest.raises(SpaceError, match="give it a `step`, or use `choice`"):
        Space({"x": at.uniform(0, 1)}).grid()


def test_domains_are_immutable_and_compare_by_value():
    d = at.uniform(0, 1)
    with pytest.raises(AttributeError):
        d.low = 5
    assert d == at.uniform(0.0, 1.0) and d != at.loguniform(0.1, 1)
    assert at.randint(1, 4).distribution() == optuna.distributions.IntDistribution(1, 4)


def test_a_changed_space_is_described_by_its_first_difference():
    from autotune.spaces import space_change

    def spec(low=1e-2, branches=("svm", "rf"), extra=None):
        space = {"m": at.choice({"svm": {"C": at.loguniform(low, 10)}, "rf": {}} if len(branches) == 2
                                else {"svm": {"C": at.loguniform(low, 10)}}), "x": at.uniform(0, 1), **(extra or {})}
        return at.Space(space).to_dict()

    assert space_change(spec(), spec()) is None
    assert space_change(spec(), spec(low=1e-3)) == ("parameter 'C' (in branch 'svm' of 'm') was loguniform(0.01, 10.0) "
                                                    "and is now loguniform(0.001, 10.0)")
    assert space_change(spec(), spec(branches=("svm",))) == ("parameter 'm' had the branches ['svm', 'rf'] and now "
                                                              "has ['svm']")
    assert space_change(spec(), spec(extra={"n": at.randint(1, 9, step=2)})) == "parameter 'n' is new"
    assert space_change(spec(extra={"n": at.randint(1, 9, step=2)}), spec()) == "parameter 'n' is no longer declared"
    # the defaults are left out of a domain's description, and only they: True == 1 and 1.0 == 1 are not defaults
    assert space_change({"s": at.uniform(0, 10).to_dict()}, {"s": at.uniform(0, 10, step=1.0).to_dict()}) == (
        "parameter 's' was uniform(0.0, 10.0) and is now uniform(0.0, 10.0, step=1.0)")
    assert space_change({"n": at.randint(1, 9).to_dict()}, {"n": at.randint(1, 9, log=True).to_dict()}) == (
        "parameter 'n' was randint(1, 9) and is now randint(1, 9, log=True)")
    # branches listed in another order are the same branches: the one that changed is named
    reordered = at.Space({"m": at.choice({"rf": {}, "svm": {"C": at.loguniform(1e-3, 10)}}),
                          "x": at.uniform(0, 1)}).to_dict()
    assert space_change(spec(), reordered).startswith("parameter 'C' (in branch 'svm' of 'm') was")
    assert space_change({"c": at.choice(["poke at 0x1000", "noop"]).to_dict()},  # a plain string is left alone
                        {"c": at.choice(["poke at 0x2000", "noop"]).to_dict()}) is not None
    # a function's repr carries its address, which differs in every process; stored spaces had it
    stored = {"f": {"kind": "fixed", "value": "<function loss at 0x7f3a2c1e0d30>"}}
    assert space_change(stored, {"f": {"kind": "fixed", "value": "<function loss at 0x7f00000000aa>"}}) is None
