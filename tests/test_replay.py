"""`autotune pruning`: pruners replayed over a study's recorded learning curves.

The replayed halving schedule must be the live pruner's: the same study run unpruned and then halved (random
sampler, so both arms try the same configurations) must spend, in the replay and live, the same reports and end
with the same trials complete -- also when some trials stop early by their own rule.
"""

import json
import math

import pytest

import autotune as at
from autotune.search import HalvingPruner, replay
from tests.conftest import cli, dump, write_study


def _objective(config, trial):
    # early reports rank by the sine, the last by the square: the ranks cross, so halving can lose the best; the
    # value returned is the best report (as the torch objective returns its best epoch's), not the last
    x = config["x"]
    last = 3 if 0.3 < x < 0.45 else 4 if 0.45 <= x < 0.6 else 8  # good ones stop early by their own rule, some
    # before a rung (3 reports), some at one (4: paused there like the others, pruned if they lose)
    curve = [(x - 0.4) ** 2 + 0.3 * math.sin(9 * x) / (step + 1) ** 2 + 0.05 * (step == 7) for step in range(last)]
    for step, value in enumerate(curve):
        trial.report(value, step)
    return min(curve)


def _run(pruner, url, name):
    study = at.Study(name=name, space={"x": at.uniform(0, 1)}, objective=_objective, sampler="random",
                     pruner=pruner, n_trials=16, seed=3)
    return study.run(storage=url)


@pytest.mark.parametrize("pruner", [HalvingPruner(), HalvingPruner(reduction_factor=3, min_resource=2)])
def test_the_replayed_halving_schedule_is_the_live_one(pruner, sqlite_url):
    unpruned = _run("none", sqlite_url, "whole")
    live = _run(pruner, sqlite_url, "halved")
    assert [t.params for t in live.trials] == [t.params for t in unpruned.trials]
    curves = [[v for _, v in t.intermediate] for t in unpruned.trials]
    [row] = replay(curves, "min", [("it", pruner)], values=[t.value for t in unpruned.trials])
    assert round(row.steps * sum(map(len, curves))) == sum(len(t.intermediate) for t in live.trials)
    assert row.finished == tuple(t.number for t in live.trials if t.state == "COMPLETE")
    assert row.best == pytest.approx(live.best_value)
    assert {t.state for t in live.trials} == {"COMPLETE", "PRUNED"}
    assert {len(c) for c in curves} == {3, 4, 8}


def test_a_trial_whose_curve_ends_at_a_rung_is_paused_there_and_can_lose():
    # trial 0 ends after 2 reports with the best value (its best report, not its last); at the rung of 2 reports
    # it ranks second of two, so it is pruned there as the live pruner prunes it
    [row] = replay([[0.5, 5], [2, 1], [3, 9], [4, 9]], "min", [("h", HalvingPruner())], values=[0.5, 1, 3, 4])
    assert row.finished == (1,) and row.best == 1 and not row.kept_best


def test_a_report_that_is_not_a_number_is_not_shown_to_optuna_s_pruners():
    flat = [[1.0, 1.0, 1.0, 1.0]] * 6
    [row] = replay(flat + [[0.5, float("nan"), 0.1, 0.1]], "min", [("asha", "asha")])
    assert row.best == 0.1 and row.kept_best


def test_replayed_rules_spend_less_and_report_whether_the_best_survived():
    # eight trials whose early reports rank them as their ends do: every rule keeps the best
    curves = [[10 - k + 1.0 / (s + 1) for s in range(8)] for k in range(8)]
    rows = {r.label: r for r in replay(curves, "min")}
    assert rows["halving"].steps == pytest.approx((8 + 4 + 2 * 2 + 4) / 64)  # rungs 1, 2, 4; the last one on
    assert all(r.kept_best and r.best == curves[-1][-1] for r in rows.values())
    assert all(0 < r.steps <= 1 for r in rows.values())
    assert "halving, first rung 10" not in rows  # no rung before the curves end: nothing to halve
    # maximised, and the best trial is a slow starter: halving from the first report drops it
    slow = [[1.0, 1.1, 1.2, 1.3]] * 3 + [[0.0, 0.5, 1.0, 2.0]]
    rows = {r.label: r for r in replay(slow, "max")}
    assert not rows["halving"].kept_best and rows["halving"].best == 1.3


STUDY = """
import math

def objective(config, trial):
    for step in range(6):
        trial.report(abs(config["x"] - 0.3) + 1.0 / (step + 1), step)
    return abs(config["x"] - 0.3) + 1.0 / 6

def flat(config, trial):
    return config["x"]

def two(config, trial):
    return {"a": config["x"], "b": -config["x"]}

study = at.Study(name="curves", space={"x": at.uniform(0, 1)}, objective=objective, sampler="random",
                 pruner="none", n_trials=10, seed=0)
flat_study = at.Study(name="flat", space={"x": at.uniform(0, 1)}, objective=flat, n_trials=3, seed=0)
two_study = at.Study(name="two", space={"x": at.uniform(0, 1)}, objective=two, metric=["a", "b"],
                     mode=["min", "min"], n_trials=3, seed=0)
"""


def test_the_cli_replays_pruners_over_a_study(tmp_path, sqlite_url):
    write_study(tmp_path, STUDY)
    assert cli("run", "study.py", "--name", "curves", "--storage", sqlite_url, "--quiet", cwd=tmp_path).returncode == 0
    before = dump(sqlite_url)
    r = cli("pruning", "curves", "--storage", sqlite_url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "10 trials ran to their end, 60 reports of loss (min)" in r.stdout
    lines = {line.split()[0]: line for line in r.stdout.splitlines()[2:] if line.split()}
    assert {"none", "median", "asha", "hyperband", "halving"} <= set(lines)
    assert "kept" in lines["halving"]
    r = cli("pruning", "curves", "--storage", sqlite_url, "--json", cwd=tmp_path)
    payload = json.loads(r.stdout)
    assert payload["trials"] == 10 and payload["left_out"] == 0
    halving = next(p for p in payload["pruners"] if p["pruner"] == "halving")
    assert halving["kept_best"] and halving["reports"] == pytest.approx((10 + 5 + 3 * 2 + 2 * 2) / 60, abs=1e-4)
    assert dump(sqlite_url) == before  # a replay reads only


@pytest.mark.parametrize("name, message", [
    ("flat", "study 'flat' has 0 trial(s) that ran to their end and reported values (trial.report) along the way; "
             "a replay needs at least 2. Run the study (or a copy under another name) with pruner='none' first"),
    ("two", "study 'two' has several metrics ['a', 'b']; pruners compare trials on one"),
    ("missing", "missing"),
])
def test_the_cli_says_why_a_study_cannot_be_replayed_and_changes_nothing(tmp_path, sqlite_url, name, message):
    write_study(tmp_path, STUDY)
    for study in ("flat", "two"):
        assert cli("run", "study.py", "--name", study, "--storage", sqlite_url, "--quiet", cwd=tmp_path).returncode == 0
    before = dump(sqlite_url)
    r = cli("pruning", name, "--storage", sqlite_url, cwd=tmp_path)
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert dump(sqlite_url) == before
