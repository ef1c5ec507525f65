"""Each use of Optuna's private API (``autotune.search._optuna_private``) against the installed Optuna: a release
that renames or changes one fails here, by name."""

import optuna
import pytest
from optuna.trial import TrialState

from autotune.search import _optuna_private as private


def _study():
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for x in (0.1, 0.2):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        study.tell(trial, x)
    study.tell(study.ask(), state=TrialState.FAIL)
    return study


def test_read_trials_returns_the_trials_as_samplers_read_them():
    study = _study()
    assert [t.number for t in private.read_trials(study)] == [0, 1, 2]
    assert [t.number for t in private.read_trials(study, states=(TrialState.COMPLETE,), use_cache=True)] == [0, 1]
    copied = private.read_trials(study, deepcopy=True)
    assert copied[0] is not study.get_trials(deepcopy=False)[0]


def test_n_entries_is_the_number_the_next_trial_gets():
    study = _study()
    assert private.n_entries(study) == 3
    assert study.ask().number == private.n_entries(study) - 1


def test_a_trial_id_and_a_system_attribute_set_through_the_storage():
    study = _study()
    trial = study.ask()
    assert isinstance(private.trial_id(trial), int)
    frozen = study.get_trials(deepcopy=True)[0]
    private.set_trial_id(frozen, 41)
    assert private.trial_id(frozen) == 41
    private.set_trial_system_attr(study, trial, "autotune:mark", True)
    study.tell(trial, state=TrialState.FAIL)
    assert study.get_trials(deepcopy=False)[-1].system_attrs["autotune:mark"] is True


def test_a_frozen_study_is_the_record_a_storage_lists():
    directions = [optuna.study.StudyDirection.MINIMIZE, optuna.study.StudyDirection.MAXIMIZE]
    record = private.frozen_study(name="s", directions=directions, system_attrs={"k": 1}, study_id=3)
    assert (record.study_name, record.directions, record.system_attrs, record._study_id) == ("s", directions,
                                                                                             {"k": 1}, 3)
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(storage=storage, study_name="s", directions=["minimize", "maximize"])
    assert type(storage.get_all_studies()[0]) is type(record)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_the_continued_qmc_sampler_carries_its_sequence_on_from_an_offset():
    space = {"x": optuna.distributions.FloatDistribution(0, 1)}

    def draws(offset: int, n: int) -> list[float]:
        sampler = private.ContinuedQMCSampler(seed=0, scramble=True, warn_independent_sampling=False)
        sampler.offset = offset
        study = optuna.create_study(sampler=sampler)
        out = []
        for _ in range(n):
            trial = study.ask(space)
            out.append(trial.params["x"])
            study.tell(trial, 0.0)
        return out

    first = draws(0, 6)
    # a study's first trial is a random draw; the sequence follows, here from its point 3 on
    assert draws(3, 3)[1:] == first[4:6] != draws(0, 3)[1:]


def test_optunas_samplers_read_the_trials_through_the_view_that_hides_superseded_entries():
    """The views in ``_history`` and ``_auto`` stand in for ``Study._get_trials``: Optuna's samplers must read the
    trials through it, or a trial told twice (paused, then continued) would count twice."""
    from autotune.search import Latest, LatestOnly

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = {"x": optuna.distributions.FloatDistribution(0, 1), "y": optuna.distributions.FloatDistribution(0, 1)}
    entries = [({"x": 0.97, "y": 0.98}, -1000.0)]  # trial 0 as first told: by far the best value
    entries += [({"x": 0.1 * i, "y": 0.1 * (6 - i)}, float(i)) for i in range(1, 6)]
    entries += [({"x": 0.97, "y": 0.98}, 50.0)]  # trial 0 told again: this entry supersedes the first

    def proposals(sampler, told) -> list[dict]:
        study = optuna.create_study(sampler=sampler)
        for params, value in told:
            study.add_trial(optuna.trial.create_trial(params=params, distributions=space, value=value))
        out = []
        for _ in range(4):
            trial = study.ask(space)
            out.append(trial.params)
            study.tell(trial, trial.params["x"] + trial.params["y"])
        return out

    def tpe():
        return optuna.samplers.TPESampler(seed=0, multivariate=True, n_startup_trials=3)

    latest = Latest()
    latest.point(0, 0)
    latest.point(0, len(entries) - 1)
    assert latest.hidden == {0}
    through_view = proposals(LatestOnly(tpe(), latest), entries)
    assert through_view == proposals(tpe(), entries[1:]), "the sampler read the hidden entry"
    assert through_view != proposals(tpe(), entries)  # (the hidden entry changes the proposals it is read into)
