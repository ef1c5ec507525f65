"""The objective contract: ``objective(config, trial)`` returns a float or a dict of metrics holding ``metric``.

This module holds the :class:`Trial` handed to objectives and the rules that turn what an objective returned
(or raised) into an :class:`Outcome`. Both run wherever the objective runs: in the driver or in a worker.

>>> parse_result(0.5, ["loss"]).values
[0.5]
>>> parse_result({"loss": 0.5, "acc": 0.9}, ["loss"]).metrics
{'loss': 0.5, 'acc': 0.9}
>>> parse_result("oops", ["loss"]).contract_error
True
"""

from __future__ import annotations

import math
import numbers
import os
import traceback
from dataclasses import dataclass, field
from typing import Any, Protocol

from autotune.database import TrialState
from autotune.errors import AutotuneError, TrialPaused, TrialPruned

COMPLETE, PRUNED, FAIL, PAUSED = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.PAUSED
PAUSE = "pause"  # a report's answer, beside True (prune) and False (go on)


@dataclass
class Outcome:
    """How one trial ended, as the driver records it."""

    state: str
    values: list[float] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    contract_error: bool = False  # a bug in the study file: stops the run instead of failing one trial

    @classmethod
    def fail(cls, error: str, tb: str | None = None) -> Outcome:
        return cls(FAIL, error=error, traceback=tb)


def as_real(value: Any) -> float | None:
    """A number an objective gave as a float (numpy and torch scalars too); None for anything else, bools included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)  # numpy 0-d arrays, torch scalars
    if callable(item) and getattr(value, "ndim", 1) == 0:
        inner = item()
        if isinstance(inner, numbers.Real) and not isinstance(inner, bool):
            return float(inner)
    return None




def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def parse_result(result: Any, metrics: list[str]) -> Outcome:
    """Check what an objective returned against the study's metrics."""
    expected = (f"a float or a dict holding '{metrics[0]}'" if len(metrics) == 1
                else "a dict holding " + ", ".join(f"'{m}'" for m in metrics))
    if result is None:
        return Outcome(FAIL, error=f"objective returned nothing (None); return {expected}.", contract_error=True)
    real = as_real(result)
    if real is not None:
        if len(metrics) > 1:
            return Outcome(FAIL, contract_error=True,
                           error=f"objective returned a single number {real!r}; this study has several metrics, "
                                 f"so return {expected}.")
        result = {metrics[0]: real}
    if not isinstance(result, dict):
        return Outcome(FAIL, error=f"objective returned {_describe(result)}; return {expected}.", contract_error=True)
    missing = [m for m in metrics if m not in result]
    if missing:
        return Outcome(FAIL, contract_error=True,
                       error=f"objective returned a dict without {', '.join(repr(m) for m in missing)} "
                             f"(keys: {sorted(map(str, result))}); return {expected}.")
    values: list[float] = []
    for m in metrics:
        v = as_real(result[m])
        if v is None:
            return Outcome(FAIL, contract_error=True,
                           error=f"objective returned {_describe(result[m])} for '{m}'; metrics must be numbers.")
        if not math.isfinite(v):
            return Outcome(FAIL, error=f"returned {v!r} for '{m}'" if len(metrics) > 1 else f"returned {v!r}",
                           metrics={m: str(v)})
        values.append(v)
    extra: dict[str, Any] = {}
    for k, v in result.items():
        real = as_real(v)
        if real is not None:
            extra[str(k)] = real if math.isfinite(real) else str(real)
        elif isinstance(v, (str, bool)) or v is None:
            extra[str(k)] = v
    return Outcome(COMPLETE, values=values, metrics=extra)


class Channel(Protocol):
    """Where a trial's reports and artifacts go: straight to the driver, or through a worker's pipe."""

    def report(self, step: int, value: float) -> bool | str: ...  # True: prune, PAUSE: pause

    def artifact(self, name: str, data: bytes) -> None: ...


def check_artifact_name(name: Any) -> str:
    """An artifact name is a relative path of plain parts: it can never escape the folder it is exported to, and
    it fits the database's column on every storage."""
    from autotune._names import ARTIFACT_NAME_RULE, artifact_name_problem

    problem = artifact_name_problem(name)
    if problem:
        raise AutotuneError(f"save_artifact: {problem}; {ARTIFACT_NAME_RULE}.")
    return name


class Trial:
    """The handle an objective receives: ``report`` intermediate values, ``save_artifact``, and facts about the
    trial (``number``, ``config``, ``device``, ``study_metrics``: the study's metric names, and ``reports``: what
    it reported before, when it is continued)."""

    def __init__(self, number: int, config: dict[str, Any], channel: Channel, *, study_name: str = "",
                 device: str = "cpu", attempt: int = 0, reports: list | None = None) -> None:
        self.number = number
        # (step, value) pairs reported before this run: a paused trial continued by the halving pruner has them
        self.reports = [tuple(r) for r in reports or []]
        self.config = config
        self.study_name = study_name
        self.study_metrics: tuple[str, ...] = ()  # set by run_objective: a ready objective reports the first
        self.device = device
        self.attempt = attempt
        self._channel = channel
        self._should_prune = False

    @property
    def params(self) -> dict[str, Any]:
        return self.config

    def report(self, value: float, step: int) -> None:
        """Record an intermediate value; raises :class:`TrialPruned` when the pruner stops the trial, and
        :class:`TrialPaused` when the halving pruner pauses it at a rung."""
        real = as_real(value)
        if real is None:
            raise AutotuneError(f"trial.report: the value must be a number, but got {_describe(value)}.")
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise AutotuneError(f"trial.report: `step` must be a non-negative integer, but got {step!r}.")
        decision = self._channel.report(int(step), real)
        if decision == PAUSE:
            raise TrialPaused(f"paused at step {step} (value {real!r})")
        self._should_prune = bool(decision)
        if self._should_prune:
            raise TrialPruned(f"pruned at step {step} (value {real!r})")

    def should_prune(self) -> bool:
        """Whether the pruner asked to stop at the last report."""
        return self._should_prune

    def save_artifact(self, name: str, data: bytes | str | os.PathLike) -> None:
        """Keep ``data`` (bytes, text, or the path of a file) with this trial, under ``name``."""
        check_artifact_name(name)
        if isinstance(data, os.PathLike):
            with open(data, "rb") as fh:
                payload = fh.read()
        elif isinstance(data, str):
            if len(data) < 4096 and "\n" not in data and os.path.isfile(data):
                import warnings

                warnings.warn(f"trial.save_artifact({name!r}, {data!r}) keeps this text, not the file it names; to "
                              f"keep the file, pass pathlib.Path({data!r}).", UserWarning, stacklevel=2)
            payload = data.encode("utf-8")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            payload = bytes(data)
        else:
            raise AutotuneError(f"save_artifact: data must be bytes, str or a path, but got {_describe(data)}.")
        self._channel.artifact(name, payload)

    def save_object(self, name: str, obj: Any) -> None:
        """Keep a Python object (pickled) with this trial. Reading it back unpickles, which runs code: autotune
        does that only when the reader passes ``trust=True`` (``Result.load_object``)."""
        import pickle

        self.save_artifact(name, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, config={self.config!r})"


def run_objective(objective, trial: Trial, metrics: list[str]) -> Outcome:
    """Call the objective and turn whatever happens into an Outcome (never raises but for KeyboardInterrupt)."""
    trial.study_metrics = tuple(metrics)
    try:
        result = objective(trial.config, trial)
    except TrialPruned:
        return Outcome(PRUNED)
    except TrialPaused:
        return Outcome(PAUSED)
    except AutotuneError as exc:  # misuse of the trial API (bad report value, unsafe name): the user's bug
        return Outcome(FAIL, error=str(exc), traceback=traceback.format_exc(), contract_error=True)
    except Exception as exc:
        return Outcome.fail(f"{type(exc).__name__}: {exc}", traceback.format_exc())
    except SystemExit as exc:  # a library's (or argparse's) exit inside the objective ends the trial, not the study
        return Outcome.fail(f"the objective called sys.exit({exc.code!r})", traceback.format_exc())
    return parse_result(result, metrics)
