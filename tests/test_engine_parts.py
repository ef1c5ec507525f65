"""The study engine's parts, each on its own against a real SQLite study database."""

import logging

import optuna
import pytest

import autotune as at
from autotune.database import StudyDatabase, TrialState
from autotune.engine._constraints import Constraints
from autotune.engine._failures import BROKEN_AFTER, FailureWatch
from autotune.engine._halving import HalvingCoordinator
from autotune.engine._heartbeat import Heartbeat
from autotune.engine._interrupts import Interrupts
from autotune.engine._ledger import Ledger
from autotune.engine._mirror import Mirror
from autotune.engine._seeds import stored_params, warm_start_configs
from autotune.engine._tally import Tally
from autotune.errors import ObjectiveContractError
from autotune.objectives import Outcome
from autotune.search import HalvingPruner

SPACE = at.Space({"x": at.uniform(0.0, 1.0)})


def _open(url: str, name: str = "parts", n_trials: int = 4):
    db = StudyDatabase(url)
    row, _ = db.ensure_study(name, ["loss"], ["min"], SPACE.to_dict(), n_trials)
    driver = db.register_driver(row.id)
    ledger = Ledger(db, row.id, driver, n_trials, keep_artifacts=1, mode="min", stale_after=60.0)
    return db, row.id, driver, ledger


def _run_to_end(ledger: Ledger, x: float, state: str = "COMPLETE", reports=None) -> int:
    number = ledger.claim_new({"x": x}, "random")
    values = [x] if state == "COMPLETE" else None
    outcome = Outcome(state, values=values, metrics={"loss": x} if values else None,
                      error="boom" if state == "FAIL" else None)
    ledger.finish(number, state, outcome, values=values, intermediate=reports, artifacts={})
    return number


def test_the_ledger_claims_up_to_the_budget_and_requeues_what_an_interrupted_run_held(sqlite_url):
    db, sid, _, ledger = _open(sqlite_url, n_trials=3)
    assert [_run_to_end(ledger, x) for x in (0.1, 0.2)] == [0, 1]
    held = ledger.claim_new({"x": 0.3}, "random")
    assert held == 2
    assert ledger.claim_new({"x": 0.4}, "random") is None  # the budget of 3 is taken
    ledger.abandon({}, "interrupted; re-queued as trial {new}", created=False, queued_here=[])
    states = {r.number: r.state for r in db.all_trials(sid)}
    assert states[2] == TrialState.FAIL and TrialState.WAITING in states.values()
    claimed = ledger.claim_waiting()
    assert claimed is not None and claimed["params"] == {"x": 0.3}


def test_the_mirror_reads_back_other_drivers_trials_once_each_and_learns_failures(sqlite_url):
    db, sid, _, other = _open(sqlite_url)
    mirror = Mirror("parts", SPACE, ["minimize"], optuna.samplers.RandomSampler(seed=0), optuna.pruners.NopPruner(),
                    learn_failures=True)
    _run_to_end(other, 0.25)
    assert [r.number for r in mirror.sync(db, sid)] == [0]
    assert mirror.sync(db, sid) == []  # nothing new: nothing read twice
    _run_to_end(other, 0.5, state="FAIL")
    mirror.sync(db, sid)
    trials = mirror.ostudy.get_trials(deepcopy=False)
    assert [(t.params["x"], t.state) for t in trials] == [(0.25, optuna.trial.TrialState.COMPLETE),
                                                          (0.5, optuna.trial.TrialState.FAIL)]
    assert mirror.ostudy.sampler.failed and mirror.known == {0, 1}


def test_the_mirror_shows_the_sampler_only_a_trials_latest_entry():
    mirror = Mirror("parts", SPACE, ["minimize"], optuna.samplers.RandomSampler(seed=0), optuna.pruners.NopPruner(),
                    learn_failures=False)
    otrial = mirror.ask()
    mirror.running(7, otrial)
    mirror.tell(otrial, TrialState.PRUNED, None)  # paused at a rung: told as pruned there
    mirror.add_finished(7, otrial.params, TrialState.COMPLETE, [0.5], [[0, 0.9]], None)  # then it finished
    assert mirror.latest.entry[7] == 1 and mirror.latest.hidden == {0}


def test_the_tally_counts_each_trial_once_and_keeps_the_best_of_either_mode():
    low, high = Tally(["min"]), Tally(["max"])
    for tally in (low, high):
        for state, value, number in [("COMPLETE", 2.0, 0), ("COMPLETE", 1.0, 1), ("FAIL", None, 2),
                                     ("COMPLETE", 1.0, 1), ("PAUSED", None, 3)]:
            tally.count(state, True, value, number)
        assert tally.counted_done == 3
    assert low.best == (1.0, 1) and high.best == (-2.0, 0)


def test_the_halving_coordinator_prunes_the_worse_half_and_continues_the_best(sqlite_url):
    db, sid, driver, ledger = _open(sqlite_url, n_trials=4)
    study = at.Study(name="parts", space=SPACE, objective=lambda c, t: 0.0, n_trials=4, pruner="halving")
    for x in (0.4, 0.1, 0.3, 0.2):
        number = ledger.claim_new({"x": x}, "random")
        assert ledger.pause(number, [[0, x]])
    coordinator = HalvingCoordinator(HalvingPruner(), db, sid, driver, study)
    step = coordinator.step(db.peek(sid).log_seq, starting=False)
    assert sorted(step.pruned) == [0, 2]  # 0.4 and 0.3 lose at the first rung
    assert step.job is not None and step.job.number == 1  # the best, 0.1, continues to the next rung
    assert step.job.engine_state.limit == 2 and step.job.reports == [[0, 0.1]]
    assert coordinator.first_limit() == 1


def test_the_failure_watch_stops_after_the_same_failure_repeats_and_not_otherwise():
    watch = FailureWatch("parts", watching=True)
    for n in range(BROKEN_AFTER):
        watch.see(n, "FAIL", "NameError: x", 'Traceback:\n  File "study.py", line 3, in f\nNameError: x')
    assert watch.verdict and "the first 5 trials of this run (0, 1, 2, 3, 4)" in watch.verdict
    varied = FailureWatch("parts", watching=True)
    varied.see(0, "FAIL", "a", "tb")
    varied.see(1, "FAIL", "b", "tb")
    assert not varied.watching and varied.verdict is None
    well = FailureWatch("parts", watching=True)
    well.see(0, "COMPLETE", None, None)
    assert not well.watching


def test_constraints_record_the_verdict_and_refuse_what_is_not_numbers():
    constraints = Constraints(lambda m: [m["loss"] - 1.0, m["loss"] - 3.0])
    metrics = {"loss": 2.0}
    assert constraints.evaluate(0, metrics) == [1.0, -1.0]
    assert metrics["_feasible"] is False and constraints.n == 2
    with pytest.raises(ObjectiveContractError, match="returned True"):
        Constraints(lambda m: True).evaluate(1, {"loss": 0.0})


def test_a_heartbeat_registers_a_driver_again_once_its_row_was_taken_and_none_after_stop(sqlite_url, caplog):
    db, sid, driver, _ = _open(sqlite_url)
    beat = Heartbeat(db, driver, sid, every=60.0, stale_after=1.0, study_name="parts")
    db.unregister_driver(driver)  # as another driver does with one silent past stale_after
    with caplog.at_level(logging.WARNING, logger="autotune"):
        beat.beat()
    assert "registered again" in caplog.text and db.other_drivers(sid, "someone else", 60.0) == 1
    beat.stop()
    db.unregister_driver(driver)
    beat.beat()  # stopped: no beat registers it again
    assert db.other_drivers(sid, "someone else", 60.0) == 0


def test_interrupts_reach_an_objective_at_once_and_the_loop_at_its_check():
    interrupts = Interrupts()
    interrupts.check()  # nothing asked
    interrupts.on_sigint(2, None)  # outside an objective: only noted
    with pytest.raises(KeyboardInterrupt):
        interrupts.check()
    with pytest.raises(KeyboardInterrupt), interrupts.objective_running():
        pass
    assert not interrupts.in_objective


def test_warm_start_takes_the_best_configurations_that_fit_and_encodes_choices_by_index(sqlite_url):
    db, sid, _, ledger = _open(sqlite_url, name="donor", n_trials=5)
    for x in (0.9, 0.2, 0.5):
        _run_to_end(ledger, x)
    narrow = at.Space({"x": at.uniform(0.0, 0.6)})
    assert warm_start_configs(db, db.get_study("donor"), narrow, top=5) == [{"x": 0.2}, {"x": 0.5}]
    objects = at.Space({"act": at.choice([len, abs])})  # values that are not primitives are stored by index
    assert stored_params(objects, {"act": abs}) == {"act": 1}
