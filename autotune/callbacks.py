"""Callbacks: code of yours that the driver calls while it runs a study, e.g. to log each trial elsewhere.

Subclass :class:`Callback`, override the hooks you need, and pass instances as ``Study(callbacks=[...])``. The
driver (the process that runs ``study.run()`` or ``autotune run``) calls them, never the worker processes:

- ``on_run_start(result)`` once the study is open, before the first trial starts. ``result`` is the study as
  this run found it (an ``autotune.Result``: ``result.name``, ``result.metrics``, ``result.modes``, its trials).
  An exception here stops the run before any trial starts, with the study left as it was.
- ``on_trial_end(study_name, trial)`` after each trial this run finished (COMPLETE, PRUNED or FAIL) is saved.
  ``trial`` is an ``autotune.TrialRecord`` read back from the study database (number, state, value(s),
  metrics, intermediate values, error, start and finish times), its ``params`` being the configuration as the
  objective saw it. Trials other drivers finish are theirs to report.
- ``on_run_end(result, error)`` when the run ends: ``result`` holds every trial of the study, ``error`` is None
  when the run finished (or ran out of time), else the exception that stopped it (``KeyboardInterrupt`` for
  Ctrl-C).

A callback that raises in ``on_trial_end`` or ``on_run_end`` does not stop the study (its trials are safe in the
study database): autotune warns once, naming the callback and the error, and calls that callback no more in
this run.

:class:`MLflow` is the callback for an MLflow tracking store (``autotune run study.py --mlflow URI``).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from typing import Any

from autotune.database import TrialState
from autotune.errors import ConfigError

HOOKS = ("on_run_start", "on_trial_end", "on_run_end")


class Callback:
    """The base class of callbacks: every hook does nothing until overridden (see the module's doc)."""

    def on_run_start(self, result) -> None:
        """The study is open and no trial of this run has started."""

    def on_trial_end(self, study_name: str, trial) -> None:
        """A trial this run ran has finished and is saved (``trial``: an ``autotune.TrialRecord``)."""

    def on_run_end(self, result, error: BaseException | None) -> None:
        """The run ended (``error`` None), or stopped with ``error``."""


def check_callbacks(callbacks: Any) -> list[Any]:
    """``Study(callbacks=)``: a list of :class:`Callback` instances (or objects with at least one of its hooks)."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise ConfigError(f"`callbacks` must be a list of autotune.callbacks.Callback instances, but got "
                          f"{callbacks!r}.")
    for i, cb in enumerate(callbacks):
        if isinstance(cb, type) or not (isinstance(cb, Callback) or any(callable(getattr(cb, h, None))
                                                                          for h in HOOKS)):
            raise ConfigError(f"callbacks[{i}] is {cb!r}, which is not a callback: subclass "
                              "autotune.callbacks.Callback and pass an instance (e.g. at.callbacks.MLflow(uri)).")
    return list(callbacks)


def _name(cb: Any) -> str:
    return type(cb).__name__


class MLflow(Callback):
    """Log a study to MLflow: one run for the study (named after it, in an experiment named after it unless
    ``experiment`` is given), and nested under it one run per finished trial, with the trial's parameters, its
    metrics (the study's metric(s) and whatever else the objective returned that is a number), its intermediate
    values (``trial.report``) as the metric ``intermediate``, one step each, its state as the run's status
    (COMPLETE: FINISHED, PRUNED: KILLED, FAIL: FAILED) and as the tag ``autotune.state``, its error, and its real
    start and end times. At the end of a run the study's run gets the best trial (tags ``autotune.best_trial``
    and ``autotune.best_value``, the metric ``best_<metric>``) and its artifacts under ``best_trial/``, with
    ``best_trial/params.json``; a multi-objective study gets its Pareto front as ``pareto_front.json``.

    A study run again (resumed, or continued by more trials) logs under the same study run, found by its tags.

    Args:
        tracking_uri: where MLflow keeps runs: ``sqlite:///mlflow.db``, ``file:///path/mlruns``, ``http://host:5000``
            (default: MLflow's own, ``$MLFLOW_TRACKING_URI``).
        experiment: the MLflow experiment (default: the study's name).
        artifacts: log the best trial's artifacts at the end of each run (default True).
    """

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None, *,
                 artifacts: bool = True) -> None:
        if tracking_uri is not None and (not isinstance(tracking_uri, str) or not tracking_uri.strip()):
            raise ConfigError(f"MLflow(tracking_uri=) must be a URI such as 'sqlite:///mlflow.db' or "
                              f"'http://localhost:5000', but got {tracking_uri!r}.")
        if experiment is not None and (not isinstance(experiment, str) or not experiment.strip()):
            raise ConfigError(f"MLflow(experiment=) must be a non-empty name, but got {experiment!r}.")
        self.tracking_uri, self.experiment, self.artifacts = tracking_uri, experiment, bool(artifacts)
        self._client = None
        self.parent_id: str | None = None
        self.experiment_id: str | None = None

    def __getstate__(self) -> dict[str, Any]:  # a study sent to worker processes carries no client
        return {**self.__dict__, "_client": None}

    def __repr__(self) -> str:
        return f"MLflow(tracking_uri={self.tracking_uri!r}, experiment={self.experiment!r})"

    # -- hooks ---------------------------------------------------------------------------------------------
    def on_run_start(self, result) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise ConfigError("logging to MLflow needs the mlflow package: pip install mlflow-skinny (or, in the "
                              "autotune checkout, pip install -e '.[mlflow]').") from None
        self.metrics = list(result.metrics)
        uri = self.tracking_uri
        if uri is not None and ":" not in uri.split("/")[0]:  # a plain folder: MLflow's file store there
            uri = "file://" + os.path.abspath(uri)
        try:
            self._client = client = MlflowClient(tracking_uri=uri)
            name = self.experiment or result.name
            exp = client.get_experiment_by_name(name)
            self.experiment_id = exp.experiment_id if exp is not None else client.create_experiment(name)
            found = client.search_runs(
                [self.experiment_id], max_results=1,
                filter_string=f"tags.`autotune.study` = '{_quote(result.name)}' and tags.`autotune.role` = 'study'")
            if found:
                self.parent_id = found[0].info.run_id
                client.update_run(self.parent_id, status="RUNNING")  # (an MLflow run status)
            else:
                run = client.create_run(self.experiment_id, run_name=result.name, tags={
                    "autotune.study": result.name, "autotune.role": "study",
                    "autotune.metrics": json.dumps(result.metrics), "autotune.modes": json.dumps(result.modes),
                    "autotune.storage": result.db.shown_url})
                self.parent_id = run.info.run_id
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - MLflow's errors are many; one message for all
            where = uri or os.environ.get("MLFLOW_TRACKING_URI") or "MLflow's default tracking store"
            raise ConfigError(f"cannot log to MLflow at {where}: {type(exc).__name__}: {_first_line(exc)}; check "
                              "the tracking URI (e.g. sqlite:///mlflow.db, http://localhost:5000).") from None

    def on_trial_end(self, study_name: str, trial) -> None:
        from mlflow.entities import Metric, Param, RunTag

        client = self._client
        tags = {"mlflow.parentRunId": self.parent_id, "autotune.study": study_name, "autotune.role": "trial",
                "autotune.trial": str(trial.number), "autotune.state": trial.state, "autotune.origin": trial.origin}
        if trial.error:
            tags["autotune.error"] = trial.error[:5000]
        start = _ms(trial.started_at)
        run = client.create_run(self.experiment_id, start_time=start, run_name=f"trial {trial.number}", tags=tags)
        rid = run.info.run_id
        end = _ms(trial.finished_at) or _ms(time.time())
        metrics = [Metric(k, v, end, 0) for k, v in self._numbers(trial).items()]
        metrics += [Metric("intermediate", float(v), end, int(s)) for s, v in trial.intermediate
                    if isinstance(v, (int, float)) and math.isfinite(v)]
        params = [Param(str(k)[:250], _param(v)) for k, v in trial.params.items()]
        for i in range(0, max(len(metrics), len(params), 1), 100):  # MLflow takes at most 100 params a batch
            client.log_batch(rid, metrics=metrics[i:i + 100], params=params[i:i + 100],
                             tags=[RunTag("autotune.duration_s", f"{trial.duration:.3f}")]
                             if i == 0 and trial.duration is not None else [])
        status = {TrialState.COMPLETE: "FINISHED", TrialState.PRUNED: "KILLED"}.get(trial.state, "FAILED")  # MLflow's
        client.set_terminated(rid, status=status, end_time=end)

    def on_run_end(self, result, error: BaseException | None) -> None:
        client = self._client
        if client is None or self.parent_id is None:
            return
        try:
            if len(result.metrics) == 1:
                self._log_best(result)
            else:
                front = [{"trial": t.number, "values": dict(zip(result.metrics, t.values, strict=True)),
                          "params": result.config(t.params)} for t in result.pareto_front]
                client.log_dict(self.parent_id, {"metrics": result.metrics, "modes": result.modes,
                                                 "pareto_front": front}, "pareto_front.json")
                client.set_tag(self.parent_id, "autotune.pareto_size", str(len(front)))
        finally:
            status = ("FINISHED" if error is None else "KILLED" if isinstance(error, KeyboardInterrupt)
                      else "FAILED")
            client.set_terminated(self.parent_id, status=status)

    # -- helpers ---------------------------------------------------------------------------------------------
    def _numbers(self, trial) -> dict[str, float]:
        """The trial's numeric metrics (the study's own first), finite ones only; MLflow keeps numbers."""
        out: dict[str, float] = {}
        for i, m in enumerate(self.metrics):
            v = trial.values[i] if trial.values and i < len(trial.values) else None
            if isinstance(v, (int, float)) and math.isfinite(v) and trial.state == TrialState.COMPLETE:
                out[m] = float(v)
        for k, v in trial.metrics.items():
            if k.startswith("_") or k in out or isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            if math.isfinite(v):
                out[_metric_key(k)] = float(v)
        return out

    def _log_best(self, result) -> None:
        from autotune.errors import AutotuneError

        client = self._client
        try:
            best = result.best_trial
        except AutotuneError:
            return  # no completed trial yet
        metric = result.metrics[0]
        client.set_tag(self.parent_id, "autotune.best_trial", str(best.number))
        client.set_tag(self.parent_id, "autotune.best_value", repr(best.value))
        client.log_metric(self.parent_id, _metric_key(f"best_{metric}"), float(best.value),
                          step=int(best.number))
        params = result.config(best.params)
        summary = {"study": result.name, "trial": best.number, "metric": metric, "value": best.value,
                   "params": params}
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "best_trial")
            os.makedirs(folder)
            if self.artifacts:
                result.export_best(folder)
            if not os.path.exists(os.path.join(folder, "params.json")):
                with open(os.path.join(folder, "params.json"), "w") as fh:
                    json.dump(summary, fh, indent=2, default=str)
            client.log_artifacts(self.parent_id, folder, artifact_path="best_trial")
        for run in client.search_runs([self.experiment_id], max_results=1, filter_string=(
                f"tags.`autotune.study` = '{_quote(result.name)}' and tags.`autotune.trial` = '{best.number}'")):
            client.set_tag(run.info.run_id, "autotune.best", "true")


def run_callbacks(callbacks: list[Any], hook: str, *args: Any, failed: set[int], strict: bool = False) -> None:
    """Call ``hook`` on each callback not yet failed; a failure warns once and retires the callback for the run
    (``strict``: a failure stops the run instead, as for ``on_run_start``)."""
    import warnings

    from autotune.errors import AutotuneError

    for i, cb in enumerate(callbacks):
        fn = getattr(cb, hook, None)
        if i in failed or not callable(fn):
            continue
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - a callback's bug must not lose the study's trials
            if strict:
                if isinstance(exc, AutotuneError):
                    raise
                raise ConfigError(f"the callback {_name(cb)} failed as the run started: {type(exc).__name__}: "
                                  f"{_first_line(exc)}") from None
            failed.add(i)
            warnings.warn(f"the callback {_name(cb)} failed in {hook}: {type(exc).__name__}: {_first_line(exc)}; "
                          "it is not called again in this run (the study's trials are saved as usual).",
                          UserWarning, stacklevel=2)


def _ms(t: float | None) -> int | None:
    return int(t * 1000) if t is not None else None


def _param(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text[:6000]  # MLflow's limit for a parameter's value


def _metric_key(k: str) -> str:
    """MLflow metric names take letters, digits and _ - . space / only."""
    return "".join(c if c.isalnum() or c in "_-. /" else "_" for c in str(k))[:250]


def _quote(s: str) -> str:
    return s.replace("'", "\\'")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"
