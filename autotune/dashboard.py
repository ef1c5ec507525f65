"""``autotune dashboard NAME``: optuna-dashboard, live, on a study that drivers are running.

:class:`LiveStorage` is a read-only Optuna storage over one study of an autotune study database: every read goes
to the database, so the dashboard shows each trial as a driver saves it, with no restart, however many drivers
run the study and wherever they run. It never writes: what the dashboard would change (notes, a rename, a new
study, a trial told by hand) is refused with a message saying the view is read-only. Trials keep their autotune
numbers and real start and finish times; a trial paused by the halving pruner shows as running, with the user
attribute ``autotune_state`` = ``PAUSED``. Trials already converted are reused while their row is unchanged, so a
refresh of a large study costs one read.
"""

from __future__ import annotations

import threading
from typing import Any

from autotune.errors import AutotuneError

READ_ONLY = ("autotune dashboard is a read-only view of the study database; run the study with autotune to change "
             "it")
_METRIC_NAMES = "study:metric_names"  # where Optuna keeps a study's metric names among its system attributes


def _storage_base():
    import optuna

    return optuna.storages.BaseStorage


class LiveStorage(_storage_base()):  # type: ignore[misc]
    """A read-only ``optuna.storages.BaseStorage`` over one autotune study (``result``: an ``autotune.Result``).
    It holds one Optuna study, of id 0; trial ids are the trials' row ids in the database."""

    def __init__(self, result) -> None:
        self.result = result
        self.study_id = 0
        self._lock = threading.Lock()
        self._cache: dict[int, tuple[tuple, Any]] = {}  # row id: (row's changing columns, FrozenTrial)

    # -- studies ---------------------------------------------------------------------------------------------
    def _check(self, study_id: int) -> None:
        if study_id != self.study_id:
            raise KeyError(f"no study with id {study_id} (this dashboard serves study {self.result.name!r}, id "
                           f"{self.study_id})")

    def _directions(self):
        from optuna.study import StudyDirection

        return [StudyDirection.MINIMIZE if m == "min" else StudyDirection.MAXIMIZE for m in self.result.modes]

    def get_all_studies(self):
        from autotune.search import frozen_study

        return [frozen_study(name=self.result.name, directions=self._directions(),
                             system_attrs=self.get_study_system_attrs(self.study_id), study_id=self.study_id)]

    def get_study_id_from_name(self, study_name: str) -> int:
        if study_name != self.result.name:
            raise KeyError(f"no study named {study_name!r} here (this dashboard serves {self.result.name!r})")
        return self.study_id

    def get_study_name_from_id(self, study_id: int) -> str:
        self._check(study_id)
        return self.result.name

    def get_study_directions(self, study_id: int):
        self._check(study_id)
        return self._directions()

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        self._check(study_id)
        return {}

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        self._check(study_id)
        return {_METRIC_NAMES: list(self.result.metrics)}

    # -- trials ----------------------------------------------------------------------------------------------
    def _frozen(self, row):
        """A row as a FrozenTrial, converted again only when the row changed."""
        from autotune.result import TrialRecord
        from autotune.search import set_trial_id

        key = (row.state, row.finish_seq, row.intermediate, row.value, row.started_at, row.finished_at)
        hit = self._cache.get(row.id)
        if hit is not None and hit[0] == key:
            return hit[1]
        ft = self.result.frozen_trial(TrialRecord.from_row(row))
        ft.number = row.number
        set_trial_id(ft, row.id)
        self._cache[row.id] = (key, ft)
        return ft

    def get_all_trials(self, study_id: int, deepcopy: bool = True, states=None):
        import copy

        self._check(study_id)
        rows = self.result.db.all_trials(self.result.row.id)  # by number
        with self._lock:
            frozen = [self._frozen(r) for r in rows]
            alive = {r.id for r in rows}
            for gone in [k for k in self._cache if k not in alive]:
                del self._cache[gone]
        if states is not None:
            frozen = [t for t in frozen if t.state in states]
        return copy.deepcopy(frozen) if deepcopy else list(frozen)

    def get_trial(self, trial_id: int):
        import copy

        row = self.result.db.trial_by_id(self.result.row.id, trial_id)
        if row is None:
            raise KeyError(f"no trial with id {trial_id} in study {self.result.name!r}")
        with self._lock:
            return copy.deepcopy(self._frozen(row))

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        self._check(study_id)
        row = self.result.db.trial(self.result.row.id, trial_number)
        if row is None:
            raise KeyError(f"no trial {trial_number} in study {self.result.name!r}")
        return row.id

    # -- writes: refused -------------------------------------------------------------------------------------
    def _refuse(self, *args: Any, **kwargs: Any):
        raise AutotuneError(READ_ONLY + ".")

    create_new_study = delete_study = set_study_user_attr = set_study_system_attr = _refuse
    create_new_trial = set_trial_param = set_trial_state_values = set_trial_intermediate_value = _refuse
    set_trial_user_attr = set_trial_system_attr = _refuse


def read_only(app):
    """The dashboard's WSGI app with every request that could change something (POST, PUT, DELETE, PATCH)
    answered ``403`` and the reason, before it reaches the app."""
    import json

    body = json.dumps({"reason": READ_ONLY + "."}).encode()

    def guarded(environ, start_response):
        if environ.get("REQUEST_METHOD", "GET").upper() in ("GET", "HEAD", "OPTIONS"):
            return app(environ, start_response)
        start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return guarded


def serve(result, host: str, port: int) -> None:
    """Serve optuna-dashboard on the study, live and read-only, until interrupted."""
    import bottle
    import optuna_dashboard

    bottle.run(read_only(optuna_dashboard.wsgi(LiveStorage(result))), host=host, port=port, quiet=True)
