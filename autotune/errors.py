"""The exceptions autotune raises for problems a user can fix.

Every :class:`AutotuneError` carries one message that names the problem, the offending value and the fix; the
CLI prints it without a traceback and exits with code 1.
"""

from __future__ import annotations


class AutotuneError(Exception):
    """A problem with the user's input or environment, explained in one message."""


class SpaceError(AutotuneError, ValueError):
    """A search-space declaration breaks a rule (bounds, step, empty choice, clashing names)."""


class ConfigError(AutotuneError, ValueError):
    """A study setting is invalid: unknown sampler, pruner or backend, bad mode, bad parallelism."""


class StudyFileError(AutotuneError):
    """A study file cannot be imported or does not declare the study asked for."""


class StorageError(AutotuneError):
    """The study database cannot be reached, is too new, or disagrees with the study declared."""


class ObjectiveContractError(AutotuneError):
    """The objective broke its contract (e.g. returned a string): a bug in the study file, not a bad trial."""


class BrokenStudyError(AutotuneError):
    """A study's first trials all failed with the same exception: a bug in the study file, so the run stopped."""


class TrialPruned(Exception):
    """Raised by ``trial.report`` when the pruner stops the trial; let it propagate out of the objective."""


class TrialPaused(Exception):
    """Raised by ``trial.report`` when the halving pruner pauses the trial at a rung: let it propagate (do not
    delete the trial's checkpoint); the trial is continued later, with the same number and configuration, if it
    ranks among the best of its rung."""
