"""The states a trial row can be in: one name for each, shared by every layer that reads or writes trials.

``TrialState`` is a ``StrEnum``: its members compare equal to the strings stored in the database, so a row read
back (a plain string) and a member are interchangeable in comparisons, sets and SQL parameters.
"""

from __future__ import annotations

from enum import StrEnum


class TrialState(StrEnum):
    WAITING = "WAITING"  # a configuration queued to run (enqueued, retried, or promoted past a halving rung)
    RUNNING = "RUNNING"  # claimed by a driver, its objective running
    PAUSED = "PAUSED"  # stopped at a halving rung, may be promoted to go on
    COMPLETE = "COMPLETE"  # finished with its metrics
    PRUNED = "PRUNED"  # stopped by the pruner
    FAIL = "FAIL"  # raised, timed out, or its worker died

FINISHED = frozenset({TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL})
# the trials that ran well: completed, or judged by a pruner (pruned, or paused at a halving rung)
RAN_WELL = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.PAUSED)
# the labels that trial counts use beside the states: failures whose configuration was queued again, and failures
# set aside (they do not count towards n_trials)
RETRIED = "RETRIED"
UNCOUNTED = "UNCOUNTED"
# the note added to the error of a failure set aside
SET_ASIDE = " (set aside, not counted toward n_trials: no trial of the study had run well when it was run again)"
