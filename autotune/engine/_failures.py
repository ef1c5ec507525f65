"""Stopping a run whose first trials all fail alike: a bug in the study file, not a bad region of the space."""

from __future__ import annotations

import os

from autotune.database import TrialState

BROKEN_AFTER = 5  # a study's first trials failing alike, this many, stop the run


class FailureWatch:
    """Watches the first trials of a run on a study none of whose trials ran well. The watch ends with the first
    trial that does, or the first failure that differs; :attr:`verdict` is the message to stop with, once
    ``BROKEN_AFTER`` failures came alike."""

    def __init__(self, study_name: str, watching: bool) -> None:
        self.study_name = study_name
        self.failures: list[tuple[int, str, str | None]] | None = [] if watching else None
        self.broken: str | None = None  # the message of a run to stop once the batch of outcomes is recorded

    @property
    def watching(self) -> bool:
        return self.failures is not None

    @property
    def verdict(self) -> str | None:
        """Why the run stops, or None (also when a trial of the batch that held the fifth failure ran well)."""
        return self.broken if self.failures is not None else None

    def see(self, number: int, state: str, error: str | None, traceback: str | None) -> None:
        if self.failures is None:
            return
        if state != TrialState.FAIL:
            self.failures = None
            return
        self.failures.append((number, error, traceback))
        if len({(e, tb is not None) for _, e, tb in self.failures}) > 1 or traceback is None:
            self.failures = None
        elif len(self.failures) >= BROKEN_AFTER and self.broken is None:
            numbers = ", ".join(str(n) for n, _, _ in self.failures)
            self.broken = (
                f"study {self.study_name!r}: the first {BROKEN_AFTER} trials of this run ({numbers}) all failed with "
                "the same error, which is a bug in the study file rather than a bad region of the space, so the run "
                f"stopped instead of spending the rest of the budget:\n{last_frames(traceback)}\nFix it and "
                "run again: while no trial of a study has run well, its failed trials do not count toward n_trials "
                f"(`autotune trials {self.study_name}` lists them; `autotune run --fresh` starts the study over).")


def last_frames(tb: str) -> str:
    """A formatted traceback from the first frame outside autotune on (the study file's), indented."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    lines = tb.rstrip("\n").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith('  File "')]
    first = next((i for i in starts if not _frame_file(lines[i]).startswith(package)), 0)
    return "\n".join("  " + line for line in lines[first:])


def _frame_file(frame_line: str) -> str:
    """The file a traceback's ``  File "...", line N, in f`` line names."""
    return frame_line.split('"')[1] if frame_line.count('"') >= 2 else ""
