"""Where the ready objectives keep a trial's checkpoint: one file per study and configuration, so that a trial
continued later (resumed after a crash, or promoted by the halving pruner) finds it whoever runs it."""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from collections.abc import Callable
from typing import Any

DEFAULT_FOLDER = os.path.join(".autotune", "checkpoints")

# The ``forget`` of every ready objective made in this process. A study file that wraps a ready objective in a
# function of its own hides the ready one's ``forget`` from the engine; the study file is imported by the driver
# too, so the ready objective it made is registered here all the same.
_MADE: weakref.WeakSet = weakref.WeakSet()


def register(forget: Callable[[str, dict[str, Any]], None]) -> None:
    """Record a ready objective's ``forget(study_name, config)`` (removes that trial's checkpoint)."""
    _MADE.add(forget)


def forgetters(objective: Any) -> list[Callable[[str, dict[str, Any]], None]]:
    """The ``forget`` functions to call when a paused trial is pruned: the objective's own, if it has one, and
    those of the ready objectives made in this process (a wrapped one among them). Each removes only the
    checkpoint of that study and configuration, so calling one that did not train the trial does nothing."""
    own = getattr(objective, "forget", None)
    return ([own] if callable(own) else []) + [f for f in list(_MADE) if f is not own]


def checkpoint_path(folder: str | None, study_name: str, config: dict[str, Any], suffix: str) -> str:
    key = hashlib.sha1(json.dumps([study_name, config], sort_keys=True, default=str).encode()).hexdigest()
    return os.path.join(folder or DEFAULT_FOLDER, study_name or "study", f"{key[:20]}{suffix}")


def scratch(path: str) -> str:
    """A temporary name beside ``path`` for writing a checkpoint before ``os.replace`` puts it in place: one per
    process, so that two trials of the same configuration running at once never write into one file."""
    return f"{path}.{os.getpid()}.tmp"


def warn_missing(trial: Any, path: str) -> None:
    """A continued trial (it reported before) whose checkpoint is not here starts over: correct -- its repeated
    reports are ignored -- but it pays for those steps twice, so say so."""
    import warnings

    reports = getattr(trial, "reports", None)
    if reports and not os.path.exists(path):
        warnings.warn(f"trial {getattr(trial, 'number', '?')} continues after {len(reports)} reports, but its "
                      f"checkpoint {path} is missing (on another machine, or removed), so it trains from the "
                      f"start; where workers do not share a disk, give the objective a shared checkpoint_dir",
                      UserWarning, stacklevel=3)


def report_unreported(trial: Any, stored: list[tuple[int, float | None]]) -> None:
    """Report the stored ``(step, value)`` pairs of a checkpoint that this trial has not reported yet: all of
    them for a crashed trial queued again as a new one, the later ones where the checkpoint came from a trial of
    the same configuration that went further. So its learning curve has no gap, and a pruner ranks it at equal
    steps. ``None`` values (unknown) are skipped."""
    reported = max((int(step) for step, _ in getattr(trial, "reports", None) or []), default=-1)
    for step, value in stored:
        if step > reported and value is not None:
            trial.report(value, step=step)


def remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
