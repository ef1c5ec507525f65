"""Reading a study back: ``Result`` (what ``run()`` returns) and ``load_study`` (the same view from a URL alone).

Everything here reads the study database, so a result obtained on one machine is the same on any other.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from typing import Any

from autotune import _names
from autotune._names import ARTIFACT_NAME_RULE, artifact_name_problem, study_name_problem
from autotune.database import CONSTRAINTS, FINISHED, StudyDatabase, TrialState, feasible, resolve_storage
from autotune.errors import StorageError
from autotune.spaces import Space


@dataclass
class TrialRecord:
    """One trial as stored."""

    number: int
    state: str
    value: float | None
    values: list[float] | None
    params: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    intermediate: list[list[float]] = field(default_factory=list)
    error: str | None = None
    origin: str = ""
    attempt: int = 0
    retry_of: int | None = None
    counted: bool = True
    started_at: float | None = None
    finished_at: float | None = None
    owner: str | None = None  # the id of the driver that ran it (kept since schema 2's finished trials keep it)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def feasible(self) -> bool:
        """False when the study's constraints rejected this trial's metrics."""
        return feasible(self.metrics)

    @property
    def last_step(self) -> int | None:
        return int(self.intermediate[-1][0]) if self.intermediate else None

    @classmethod
    def from_row(cls, r) -> TrialRecord:
        return cls(
            number=r.number, state=r.state, value=r.value,
            values=json.loads(r.objective_values) if r.objective_values else None,
            params=json.loads(r.params), metrics=json.loads(r.metrics) if r.metrics else {},
            intermediate=json.loads(r.intermediate) if r.intermediate else [], error=r.error, origin=r.origin,
            attempt=r.attempt, retry_of=r.retry_of, counted=bool(r.counted), started_at=r.started_at,
            finished_at=r.finished_at, owner=getattr(r, "owner", None))


class Result:
    """A study's trials and best trial, read from its database."""

    def __init__(self, db: StudyDatabase, name: str, space=None) -> None:
        self.db = db
        self.space = space
        self.row = db.get_study(name)
        self.name = name
        self.run_report = None

    @property
    def metrics(self) -> list[str]:
        return self.row.metrics

    @property
    def modes(self) -> list[str]:
        return self.row.modes

    def config(self, params: dict[str, Any]) -> dict[str, Any]:
        """The config the objective saw for a trial's stored ``params``: the params plus the space's constants
        (choices by index decoded when the study's space is at hand)."""
        if self.space is not None:
            try:
                return self.space.config_from_params(params)
            except (KeyError, IndexError, TypeError):
                pass
        try:  # the stored space: names as the objective saw them, the chosen branches' constants; indices kept
            return self._stored_space.config_from_params(params, decode=False)
        except (KeyError, IndexError, TypeError, ValueError):  # (SpaceError is a ValueError)
            pass
        out = dict(params)
        for name, desc in _flat_space(self.row.space).items():
            if desc.get("kind") == "fixed":
                out.setdefault(name, desc["value"])
        return out


    @functools.cached_property
    def _stored_space(self) -> Space:
        return Space.from_dict(self.row.space)

    @property
    def trials(self) -> list[TrialRecord]:
        return [TrialRecord.from_row(r) for r in self.db.all_trials(self.row.id)]

    @property
    def best_trial(self) -> TrialRecord:
        if len(self.metrics) > 1:
            raise StorageError(f"study '{self.name}' has several metrics {self.metrics}: there is no single best "
                               "trial; look at the Pareto front instead.")
        row = self.db.best_trial(self.row.id, self.modes[0])
        if row is None:
            done = self.counts.get(TrialState.COMPLETE, 0)
            if done:
                raise StorageError(f"study '{self.name}' has {done} completed trial{'s' * (done > 1)}, but none meets "
                                   "its constraints, so it has no best trial; their constraint values are in "
                                   "result.trials_dataframe() (metrics__constraints): loosen the constraints or "
                                   "widen the space.")
            raise StorageError(f"study '{self.name}' has no completed trial yet, so it has no best trial.")
        return TrialRecord.from_row(row)

    @property
    def pareto_front(self) -> list[TrialRecord]:
        """The completed trials no other completed trial beats on every metric (ordered by trial number).

        With one metric it holds the best trial (and any ties).
        """
        done = [t for t in self.trials if t.state == TrialState.COMPLETE and t.values and t.feasible]
        signs = [1.0 if m == "min" else -1.0 for m in self.modes]
        keys = {t.number: [s * v for s, v in zip(signs, t.values, strict=True)] for t in done}

        def dominated(a: list[float]) -> bool:
            return any(all(x <= y for x, y in zip(b, a, strict=True)) and b != a for b in keys.values())

        return [t for t in done if not dominated(keys[t.number])]

    @property
    def best_value(self) -> float:
        return self.best_trial.value

    @property
    def best_params(self) -> dict[str, Any]:
        return self.config(self.best_trial.params)

    @property
    def counts(self) -> dict[str, int]:
        """Trials by state, e.g. ``{"COMPLETE": 48, "PRUNED": 2}`` (failures superseded by a retry: ``RETRIED``)."""
        return self.db.counts().get(self.row.id, {})

    def trials_dataframe(self):
        """One row per trial: number, state, value(s), params_*, metrics, duration, error."""
        import pandas as pd

        rows = []
        for t in self.trials:
            row: dict[str, Any] = {"number": t.number, "state": t.state}
            if len(self.metrics) == 1:
                row["value"] = t.value
            else:
                for i, m in enumerate(self.metrics):
                    row[f"values_{m}"] = t.values[i] if t.values else None
            for k, v in self.config(t.params).items():
                row[f"params_{k}"] = v
            for k, v in t.metrics.items():
                if k not in self.metrics:
                    row[f"metrics_{k}"] = v
            row.update({"duration": t.duration, "origin": t.origin, "error": t.error})
            rows.append(row)
        return pd.DataFrame(rows)

    def artifact_names(self, trial: int | None = None) -> list[str]:
        number = self.best_trial.number if trial is None else trial
        return self.db.artifact_names(self.row.id, number)

    def best_artifact(self, name: str, dest: str | os.PathLike | None = None) -> str:
        """The best trial's artifact ``name``, checksum-verified, written to a local file; returns its path
        (under ``dest``, else under a folder of this user's in the temporary folder)."""
        problem = artifact_name_problem(name)
        if problem:
            raise StorageError(f"best_artifact: {problem}; {ARTIFACT_NAME_RULE}.")
        number = self.best_trial.number
        folder = os.fspath(dest) if dest is not None else os.path.join(self._cache(), str(number))
        path = self._path_in(folder, name, number)
        data = self.db.load_artifact(self.row.id, number, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        return path

    def _cache(self) -> str:
        """This study's folder in this user's cache of artifacts, in the temporary folder: a folder only this user
        can write to (another user of the machine could otherwise link it elsewhere), named after the study."""
        problem = study_name_problem(self.name)
        if problem:  # a name stored by another version, or written into a shared database by hand
            raise StorageError(f"study {self.name!r} cannot name a folder ({problem}); pass dest= to best_artifact "
                               "to choose where its artifacts go.")
        base = os.path.join(tempfile.gettempdir(), f"autotune-artifacts-{os.getuid()}")
        os.makedirs(base, mode=0o700, exist_ok=True)
        info = os.lstat(base)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
            raise StorageError(f"{base} is not a folder that only you can write to; remove it, or pass dest= to "
                               "best_artifact.")
        folder = _names.inside(base, self.name)
        if folder is None:
            raise StorageError(f"study {self.name!r} would place its artifacts outside {base}; pass dest= to "
                               "best_artifact.")
        return folder

    def _path_in(self, folder: str, name: str, number: int) -> str:
        """``folder/name``, refused unless it stays inside ``folder`` with every link resolved: a shared database
        may hold any name."""
        problem = artifact_name_problem(name)
        path = None if problem else _names.inside(folder, name)
        if path is None:
            raise StorageError(f"trial {number} of study {self.name!r} in {self.db.shown_url} has an artifact named "
                               f"{name!r}, which would be written outside {folder}"
                               + (f" ({problem})" if problem else " (a link in that folder leads elsewhere)")
                               + "; refusing to write it. Nothing was written.")
        return path

    def load_object(self, name: str, *, trust: bool = False, trial: int | None = None) -> Any:
        """Unpickle an object saved with ``trial.save_object`` (the best trial's, by default).

        Unpickling runs whatever code the pickle names, and anyone who can write to a shared study database can
        put a pickle there: pass ``trust=True`` only for a database you trust.
        """
        import pickle

        if trust is not True:
            raise StorageError(f"load_object('{name}') unpickles data from {self.db.shown_url}, which runs code "
                               "that anyone able to write to that database could have put there; pass trust=True "
                               "if you trust it, or use best_artifact() to get the file without loading it.")
        number = self.best_trial.number if trial is None else trial
        return pickle.loads(self.db.load_artifact(self.row.id, number, name))

    def to_optuna(self, trials: list[TrialRecord] | None = None):
        """An ``optuna.Study`` (in memory) holding this study's finished trials (or the finished ones of
        ``trials``), for existing Optuna code: visualisation, importance, or optuna-dashboard.

        Each trial keeps its stored start and finish times (so durations and timelines are real), the study's
        metric names, and, in a study with constraints, its constraint values (so the Optuna study's best trial
        and Pareto front hold feasible trials only, as here)."""
        import warnings

        import optuna

        space = self.space or self._stored_space
        directions = ["minimize" if m == "min" else "maximize" for m in self.modes]
        study = optuna.create_study(directions=directions, study_name=self.name)
        with warnings.catch_warnings():  # set_metric_names is marked experimental in Optuna
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(self.metrics))
        frozen = [self.frozen_trial(t, space) for t in (self.trials if trials is None else trials)
                  if t.state in FINISHED]
        study.add_trials(frozen)
        return study

    def frozen_trial(self, t: TrialRecord, space: Space | None = None):
        """One trial as an ``optuna.trial.FrozenTrial`` (what ``to_optuna`` and the live dashboard hold): its real
        start and finish times, a pruned trial with its last report as its value, a PAUSED trial (halving) as
        RUNNING with the user attribute ``autotune_state``."""
        import optuna
        from optuna.trial import TrialState as OptunaState

        space = space or self.space or self._stored_space
        paused = t.state == TrialState.PAUSED
        state = OptunaState.RUNNING if paused else OptunaState[t.state]
        values = t.values if state == OptunaState.COMPLETE else None
        if state == OptunaState.PRUNED and t.value is not None and len(self.metrics) == 1:
            values = [t.value]
        cons = t.metrics.get(CONSTRAINTS) if state == OptunaState.COMPLETE else None
        extra = {"autotune_state": t.state} if paused else {}
        ft = optuna.trial.create_trial(
            state=state, values=values, params=t.params, distributions=space.distributions_for(t.params),
            intermediate_values={int(s): v for s, v in t.intermediate}, user_attrs={
                "autotune_number": t.number, "origin": t.origin, **({"error": t.error} if t.error else {}), **extra,
                **{k: v for k, v in t.metrics.items() if k not in self.metrics}},
            constraints={str(i): float(v) for i, v in enumerate(cons)} if cons else None)
        if state.is_finished():
            finished = t.finished_at if t.finished_at is not None else t.started_at
            if t.started_at is not None and finished is not None:  # (create_trial stamps both with "now")
                ft.datetime_start = datetime.datetime.fromtimestamp(t.started_at)
                ft.datetime_complete = datetime.datetime.fromtimestamp(max(finished, t.started_at))
        else:
            ft.datetime_start = (datetime.datetime.fromtimestamp(t.started_at)
                                 if t.started_at is not None and state != OptunaState.WAITING else None)
        return ft

    def export_best(self, folder: str | os.PathLike) -> list[str]:
        """Write every artifact of the best trial under ``folder``; returns the paths written."""
        folder = os.fspath(folder)
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise StorageError(f"cannot export into {folder}: it is a file, not a folder; give a folder path.")
        names = self.artifact_names()
        number = self.best_trial.number
        for n in names:  # every name checked before anything is written
            self._path_in(folder, n, number)
        try:
            return [self.best_artifact(n, dest=folder) for n in names]
        except OSError as exc:
            inside = exc.filename is not None and os.path.abspath(os.fspath(exc.filename)).startswith(
                os.path.abspath(folder))
            if not inside:  # reading the artifact store failed, not writing the export
                raise
            what = exc.strerror or type(exc).__name__
            raise StorageError(f"cannot export into {folder}: {what} ({exc.filename}); give a folder you can write "
                               "to.") from None

    def plot(self, kind: str, **options):
        """A plotly figure of the study (a notebook shows it; ``fig.write_html(path)`` saves it). ``kind``:
        ``"history"`` (optimisation history with best-so-far), ``"importances"``, ``"parallel"`` (parallel
        coordinates of the best trials), ``"slice"``, ``"contour"`` (the two most important parameters),
        ``"curves"`` (learning curves, pruned and paused trials marked), ``"timeline"`` (by driver and worker
        slot, failures marked) or ``"pareto"`` (multi-objective studies). Options: ``metric=`` (which metric of a
        multi-objective study), ``params=``, ``evaluator=`` (importances). Needs plotly (the ``plots`` extra)."""
        from autotune.plots import plot

        return plot(self, kind, **options)

    def report(self, path: str | os.PathLike) -> str:
        """Write the study's self-contained HTML report (what ``autotune report`` writes) to ``path``."""
        from autotune.report import write_report

        return write_report(self, path)["path"]

    def importances(self, evaluator=None, metric: str | None = None, params: list[str] | None = None):
        """Each parameter's importance for the study's metric (``metric=`` picks one of several), as a pandas
        Series summing to 1, most important first; computed by Optuna's PED-ANOVA (``evaluator="fanova"``,
        ``"mdi"`` or an Optuna evaluator for another)."""
        from autotune.plots import importances

        return importances(self, evaluator=evaluator, metric=metric, params=params)

    def __repr__(self) -> str:
        return f"Result(study={self.name!r}, counts={self.counts})"


def _flat_space(space: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}

    def walk(s: dict[str, Any]) -> None:
        for name, desc in s.items():
            flat.setdefault(name, desc)
            if desc.get("kind") == "conditional":
                for sub in desc["branches"].values():
                    walk(sub)

    walk(space)
    return flat


def load_study(name: str, storage: str | None = None) -> Result:
    """Open a study from its database alone (``storage`` > ``$AUTOTUNE_STORAGE`` > ``sqlite:///autotune.db``)."""
    return Result(StudyDatabase(resolve_storage(storage), create=False), name)
