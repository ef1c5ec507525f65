"""A name with another domain in another branch of a choice (model families): the objective sees the name, the
samplers and the stored params one parameter per branch; such a study runs, enqueues, warm-starts, resumes and reads
back like any other, and a name with one domain everywhere is stored exactly as before."""

import json

import pytest
import sqlalchemy as sa

import autotune as at
from autotune.errors import SpaceError
from autotune.spaces import Space
from tests.conftest import cli, dump, write_study

FAMILIES = {
    "model": at.choice({
        "forest": {"n_estimators": at.randint(50, 500), "max_depth": at.fixed(None), "n_jobs": at.fixed(4)},
        "boosting": {"n_estimators": at.randint(100, 2000), "learning_rate": at.loguniform(0.01, 0.3),
                     "max_depth": at.randint(3, 10), "n_jobs": at.fixed(1)},
    }),
    "seed": at.fixed(7),
}

NESTED = {
    "model": at.choice({
        "forest": {"n_estimators": at.randint(50, 500)},
        "boosting": {"learning_rate": at.loguniform(0.01, 0.3), "booster": at.choice({
            "gbdt": {"n_estimators": at.randint(100, 2000), "leaves": at.randint(8, 64)},
            "dart": {"n_estimators": at.randint(10, 40), "drop": at.uniform(0.0, 0.5),
                     "shape": at.choice([(1, 2), (3,)])},
        })},
        "linear": {"shape": at.choice([(5,), (6, 7)])},
    }),
}


def branch_of(space: dict, config: dict) -> dict:
    """The declared domains of the branches a configuration chose, by name (the top level included)."""
    out = {}

    def walk(domains):
        for name, dom in domains.items():
            out[name] = dom
            if isinstance(dom, at.spaces.Conditional):
                walk(dom.branches[config[name]].domains)

    walk(space)
    return out


def check_in_branch(space: dict, config: dict) -> None:
    """Raise unless ``config`` holds exactly the chosen branches' names, each value inside that branch's domain."""
    declared = branch_of(space, config)
    assert set(config) == set(declared), (config, sorted(declared))
    for name, dom in declared.items():
        ok = config[name] == dom.value if isinstance(dom, at.spaces.Fixed) else dom.contains(config[name])
        assert ok, f"{name} = {config[name]!r} is outside {dom!r} in {config}"


def stored_params(url: str, study: str) -> list[dict]:
    eng = sa.create_engine(url)
    with eng.connect() as c:
        rows = c.execute(sa.text("SELECT t.params FROM autotune_trials t JOIN autotune_studies s ON s.id = t.study_id "
                                 "WHERE s.name = :n ORDER BY t.number"), {"n": study}).all()
    eng.dispose()
    return [json.loads(r.params) for r in rows]


def recording(space: dict, seen: list):
    def objective(config, trial):
        check_in_branch(space, config)  # a config outside its branch fails the trial, and the test below
        seen.append(dict(config))
        scale = 2000 if config["model"] == "boosting" else 500
        return config.get("n_estimators", 1) / scale + config.get("learning_rate", 0.0)
    return objective


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_each_branch_searches_its_own_domain_and_the_objective_sees_plain_names(tmp_path, sampler):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    seen: list[dict] = []
    result = at.Study(name="fam", space=FAMILIES, objective=recording(FAMILIES, seen), sampler=sampler,
                      n_trials=20, seed=0).run(storage=url)
    assert result.counts == {"COMPLETE": 20} and len(seen) == 20
    assert {c["model"] for c in seen} == {"forest", "boosting"}
    # boosting draws above forest's range: the branches are searched in their own domains, not in one
    assert any(c["n_estimators"] > 500 for c in seen if c["model"] == "boosting")
    # the samplers and the database know one parameter per branch
    keys = {k for p in stored_params(url, "fam") for k in p}
    assert keys == {"model", "n_estimators[model=forest]", "n_estimators[model=boosting]", "learning_rate",
                    "max_depth"}
    best = min(range(20), key=lambda i: result.trials[i].value)
    assert result.best_params == seen[best]
    # read back from the database alone (the CLI's view): plain names and the chosen branch's constants
    again = at.load_study("fam", storage=url)
    assert again.best_params == seen[best]
    assert [again.config(t.params) for t in again.trials] == seen
    assert len(again.to_optuna().trials) == 20


def test_an_enqueued_configuration_with_a_plain_name_runs_as_given_and_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    given = {"model": "boosting", "n_estimators": 1234, "learning_rate": 0.05, "max_depth": 4}
    seen: list[dict] = []
    study = dict(name="fam", space=FAMILIES, objective=recording(FAMILIES, seen), sampler="tpe", seed=0)
    result = at.Study(**study, n_trials=3, enqueue=[given]).run(storage=url)
    first = sorted(result.trials, key=lambda t: t.number)[0]
    assert seen[0] == {**given, "n_jobs": 1, "seed": 7} and first.origin == "queue"
    assert first.params == {"model": "boosting", "n_estimators[model=boosting]": 1234, "learning_rate": 0.05,
                            "max_depth": 4}
    # on the existing study the same configuration has a trial already: it is not queued again
    result = at.Study(**study, n_trials=5, enqueue=[given, {"model": "forest", "n_estimators": 60}]).run(storage=url)
    assert [t.params for t in result.trials].count(first.params) == 1
    assert {"model": "forest", "n_estimators": 60, "max_depth": None, "n_jobs": 4, "seed": 7} in seen
    # a value inside the other branch's domain only is refused, naming the branch's domain
    with pytest.raises(SpaceError, match=r"enqueue\[0\]: 'n_estimators' = 1500 is outside its domain "
                                         r"randint\(50, 500\) in branch 'model=forest'"):
        at.Study(**study, enqueue=[{"model": "forest", "n_estimators": 1500}])


def test_warm_start_takes_an_earlier_studys_configurations_by_branch(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    seen: list[dict] = []
    first = at.Study(name="first", space=FAMILIES, objective=recording(FAMILIES, seen), sampler="random",
                     n_trials=10, seed=1).run(storage=url)
    best3 = [t.params for t in sorted(first.trials, key=lambda t: t.value)[:3]]
    # every stored configuration names n_estimators after its branch: the new study takes them as they are stored
    assert all(("n_estimators" in p) is False for p in best3)
    second = at.Study(name="second", space=FAMILIES, objective=recording(FAMILIES, seen), sampler="random",
                      n_trials=4, seed=2, warm_start_from="first", warm_start_top=3).run(storage=url)
    opening = sorted(second.trials, key=lambda t: t.number)[:3]
    assert [t.params for t in opening] == best3 and all(t.origin == "queue" for t in opening)


def test_nested_choices_give_each_branch_its_own_domain(tmp_path):
    assert Space(NESTED).param_names() == [
        "model", "n_estimators[model=forest]", "learning_rate", "booster",
        "n_estimators[model=boosting,booster=gbdt]", "leaves", "n_estimators[model=boosting,booster=dart]", "drop",
        "shape[model=boosting,booster=dart]", "shape[model=linear]"]
    url = f"sqlite:///{tmp_path / 'b.db'}"
    seen: list[dict] = []
    result = at.Study(name="nest", space=NESTED, objective=recording(NESTED, seen), sampler="random", n_trials=24,
                      seed=0).run(storage=url)
    assert result.counts == {"COMPLETE": 24} and len(seen) == 24
    assert {(c["model"], c.get("booster")) for c in seen} == {
        ("forest", None), ("boosting", "gbdt"), ("boosting", "dart"), ("linear", None)}
    # choices by index decode to their own branch's values; the database holds indices under per-branch names
    assert {c["shape"] for c in seen if c["model"] == "linear"} <= {(5,), (6, 7)}
    assert {c["shape"] for c in seen if c.get("booster") == "dart"} <= {(1, 2), (3,)}
    assert all(p.get("shape[model=linear]", 0) in (0, 1) for p in stored_params(url, "nest"))
    assert [result.config(t.params) for t in result.trials] == seen
    # a plain-name configuration in a nested branch runs as given
    given = {"model": "boosting", "learning_rate": 0.1, "booster": "dart", "n_estimators": 33, "drop": 0.25,
             "shape": (3,)}
    again = at.Study(name="nest", space=NESTED, objective=recording(NESTED, seen), sampler="tpe", n_trials=25,
                     seed=0, enqueue=[given]).run(storage=url)
    assert seen[-1] == given and again.counts == {"COMPLETE": 25}
    assert again.trials[-1].params["n_estimators[model=boosting,booster=dart]"] == 33


@pytest.mark.slow
def test_the_skopt_samplers_search_each_branch_in_its_domain(tmp_path):
    seen: list[dict] = []
    result = at.Study(name="sk", space=FAMILIES, objective=recording(FAMILIES, seen), sampler="skopt-rf",
                      n_trials=12, seed=0).run(storage=f"sqlite:///{tmp_path / 'b.db'}")
    assert result.counts == {"COMPLETE": 12} and len(seen) == 12
    assert all(t.origin == "skopt-rf" for t in result.trials)


def test_a_name_with_one_domain_in_every_branch_is_stored_as_before(tmp_path):
    """A study database written before per-branch domains existed still matches its space, and its trials read
    back as they were: such a name stays one parameter under its own name."""
    from optuna.trial import FixedTrial

    from autotune.spaces import space_change

    space = {"model": at.choice({"forest": {"n_estimators": at.randint(50, 500), "depth": at.randint(2, 8)},
                                 "boosting": {"n_estimators": at.randint(50, 500), "lr": at.loguniform(0.01, 0.3)}}),
             "seed": at.fixed(0)}
    # as autotune stored this space and two of its trials before
    stored_space = json.loads(
        '{"model": {"kind": "conditional", "branches": {"forest": {"n_estimators": {"kind": "randint", "low": 50, '
        '"high": 500, "step": 1, "log": false}, "depth": {"kind": "randint", "low": 2, "high": 8, "step": 1, "log": '
        'false}}, "boosting": {"n_estimators": {"kind": "randint", "low": 50, "high": 500, "step": 1, "log": false}, '
        '"lr": {"kind": "loguniform", "low": 0.01, "high": 0.3, "step": null}}}}, "seed": {"kind": "fixed", '
        '"value": 0}}')
    old_trials = [{"model": "boosting", "n_estimators": 321, "lr": 0.06380556092044458},
                  {"model": "forest", "n_estimators": 407, "depth": 5}]
    declared = Space(space)
    assert space_change(stored_space, json.loads(json.dumps(declared.to_dict()))) is None
    assert declared.param_names() == ["model", "n_estimators", "depth", "lr"]
    for params in old_trials:
        assert declared.sample(FixedTrial(params)) == (params, {**params, "seed": 0})
    url = f"sqlite:///{tmp_path / 'b.db'}"
    at.Study(name="shared", space=space, objective=lambda c, t: float(c["n_estimators"]), sampler="random",
             n_trials=6, seed=0).run(storage=url)
    eng = sa.create_engine(url)
    with eng.connect() as c:
        assert json.loads(c.execute(sa.text("SELECT space FROM autotune_studies")).scalar()) == stored_space
    eng.dispose()
    assert stored_params(url, "shared")[:1] == old_trials[:1]  # the seeded first draw, as before
    assert all(set(p) <= {"model", "n_estimators", "depth", "lr"} for p in stored_params(url, "shared"))


CLI_SPACE = ('{"model": at.choice({"forest": {"n_estimators": at.randint(50, 500), "n_jobs": at.fixed(4)}, '
             '"boosting": {"n_estimators": at.randint(100, 2000), "learning_rate": at.loguniform(0.01, 0.3), '
             '"n_jobs": at.fixed(1)}})}')

STUDY_FILE = """
    import json, os

    def objective(config, trial):
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "seen.jsonl"), "a") as fh:
            fh.write(json.dumps(config) + "\\n")
        return config["n_estimators"] / (2000 if config["model"] == "boosting" else 500)

    study = at.Study(name="fam", space=SPACE, objective=objective, sampler="tpe", n_trials=6, seed=0)
"""


@pytest.mark.slow
def test_the_cli_runs_resumes_and_reads_back_a_space_with_per_branch_domains(tmp_path):
    write_study(tmp_path, STUDY_FILE.replace("SPACE", CLI_SPACE))
    url = f"sqlite:///{tmp_path / 'b.db'}"
    r = cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("run", "study.py", "--storage", url, "--quiet", "--n-trials", "10", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "another search space" not in r.stderr and "study 'fam': 10 COMPLETE" in r.stdout
    seen = [json.loads(line) for line in (tmp_path / "seen.jsonl").read_text().splitlines()]
    assert len(seen) == 10
    for config in seen:
        check_in_branch(eval(CLI_SPACE, {"at": at}), config)
    trials = json.loads(cli("trials", "fam", "--storage", url, "--format", "json", cwd=tmp_path).stdout)
    assert [t["params"] for t in trials] == seen
    best = json.loads(cli("best", "fam", "--storage", url, "--json", cwd=tmp_path).stdout)
    assert best["params"] == seen[best["trial"]] and "n_estimators" in best["params"]


def test_a_name_with_two_domains_active_at_once_is_refused_by_the_cli(tmp_path):
    write_study(tmp_path, """
        space = {"lr": at.uniform(0, 1), "opt": at.choice({"sgd": {}, "adam": {"lr": at.uniform(0, 2)}})}
        study = at.Study(name="bad", space=space, objective=lambda c, t: c["lr"], n_trials=2)
    """)
    url = f"sqlite:///{tmp_path / 'b.db'}"
    r = cli("run", "study.py", "--storage", url, cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert ("parameter 'lr' is declared with two domains that can be active in one configuration: uniform(0.0, 1.0) "
            "(at the top level) and uniform(0.0, 2.0) (in branch 'opt=adam')") in r.stderr
    assert dump(url) is None
