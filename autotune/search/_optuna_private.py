"""Every use of Optuna's private API, in one place.

autotune drives an in-memory Optuna study and wraps Optuna's samplers, and a few things it needs have no public
form: the study's storage (to mark a told trial, to count its entries), the trial list as samplers read it
(``Study._get_trials``, which the views in ``_history`` and ``_auto`` stand in for), a trial's storage id, the
QMC sampler's sample counter, and the study record a storage lists (``FrozenStudy``, for the dashboard's
storage). Each is reached through one function here, and ``tests/test_optuna_private.py`` calls each against the
installed Optuna, so that an Optuna release that changes one fails by name.
"""

from __future__ import annotations

from typing import Any

from optuna.samplers import QMCSampler


def read_trials(study, *, deepcopy: bool = False, states=None, use_cache: bool = False) -> list:
    """The study's trials as Optuna's samplers read them (``Study._get_trials``; a view's own when ``study`` is a
    view standing in for the study)."""
    return study._get_trials(deepcopy=deepcopy, states=states, use_cache=use_cache)


def n_entries(study) -> int:
    """How many trials the study's storage holds: the number the next added trial gets."""
    return study._storage.get_n_trials(study._study_id)


def set_trial_system_attr(study, trial, key: str, value: Any) -> None:
    """Set a system attribute of a trial of ``study`` in its storage (a running or a told one)."""
    study._storage.set_trial_system_attr(trial_id(trial), key, value)


def trial_id(trial) -> int:
    """A trial's id in its study's storage (not its number)."""
    return trial._trial_id


def set_trial_id(trial, value: int) -> None:
    """Give a ``FrozenTrial`` built outside a storage the id a storage knows it by."""
    trial._trial_id = value


def frozen_study(*, name: str, directions: list, system_attrs: dict[str, Any], study_id: int):
    """The record of one study that an Optuna storage's ``get_all_studies`` lists (``optuna.study._frozen``)."""
    from optuna.study._frozen import FrozenStudy

    return FrozenStudy(study_name=name, direction=None, user_attrs={}, system_attrs=system_attrs, study_id=study_id,
                       directions=directions)


class ContinuedQMCSampler(QMCSampler):
    """Optuna's QMC sampler, able to continue its sequence where an earlier run of the study left it.

    Optuna numbers the points by a counter kept in the (here in-memory) study, so each run would start the sequence
    again; ``offset``, the points drawn by the runs before this one, carries it on."""

    offset = 0

    def _find_sample_id(self, study, search_space) -> int:
        return super()._find_sample_id(study, search_space) + self.offset
