"""What the engine keeps about each trial it runs, beside the backend's ``Job``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Running:
    otrial: Any  # None for a continued (once paused) trial: it reaches the sampler as a new entry when it finishes
    origin: str
    queued: bool
    intermediate: list[list[float]] = field(default_factory=list)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    dirty: bool = False
    limit: int | None = None  # halving: pause once the trial holds this many reports
    replayed_to: int = -1  # a continued trial's last stored step: an objective that starts over repeats them
    params: dict[str, Any] | None = None  # a continued trial's stored params
    pause_asked: bool = False  # the engine answered a report with PAUSE (an objective may not pause on its own)


@dataclass
class RunReport:
    """What one ``run`` did (the study's full state lives in the database)."""

    started: int = 0
    finished: int = 0
    interrupted: bool = False
    timed_out: bool = False


def loads(text: str | None) -> Any:
    """A stored JSON column as Python (None stays None)."""
    import json

    return json.loads(text) if text else None
