"""Whatever a ready objective reports is the study's metric, in the study's direction.

Each ready objective carries a :class:`MetricRule` (its ``metric_rule`` attribute): the metric it was told
(``metric=`` or ``scoring=``), or none -- then it reports the study's metric, which it must know how to compute --
and the natural direction of each metric it computes (accuracy: higher is better, a loss: lower).
:func:`check_objective_metric` holds the rule against the study's metrics and modes where the two meet, in
``Study()`` and at the start of a run, before the database is touched; each trial then asks
:meth:`MetricRule.for_trial` which metric to compute, so that an objective wrapped in a function of the user's
(which that check cannot see) still follows the study's metric.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from autotune.errors import ConfigError


class MetricRule:
    """What a ready objective reports.

    ``owner`` names the objective in messages (``torch_objective``); ``argument`` is the argument that tells it a
    metric, ``told`` its value (None: follow the study); ``direction(name)`` is ``"min"`` or ``"max"`` for a metric
    it computes, else None; ``computes`` lists them for messages; ``default`` is what it reports when called
    outside a study; ``returns(name)`` the other numbers its result holds beside the metric it reports; ``note``
    is added to a refusal of the mode.
    """

    def __init__(self, owner: str, argument: str, told: str | None, direction: Callable[[str], str | None],
                 computes: str, default: str, returns: Callable[[str], Sequence[str]] = lambda name: (),
                 note: str = "") -> None:
        self.owner, self.argument, self.told = owner, argument, told
        self.direction, self.computes, self.default = direction, computes, default
        self.returns, self.note = returns, note
        self._warned: set[str] = set()

    def resolve(self, metrics: Sequence[str], modes: Sequence[str]) -> str:
        """The metric the objective reports in a study of ``metrics`` and ``modes``; ConfigError where it would
        report another metric, or the study's metric in the other direction."""
        study = (f"the study's metric is {metrics[0]!r}" if len(metrics) == 1
                 else f"the study's metrics are {list(metrics)}")
        if self.told is None:
            reported = metrics[0]
            if self.direction(reported) is None:
                raise ConfigError(f"{self.owner} was not told a metric ({self.argument}=), so it reports the study's "
                                  f"metric {reported!r}, which it does not compute; it computes {self.computes}: "
                                  "set the study's metric= (and mode=) to one of these.")
        else:
            reported = self.told
            if reported not in metrics:
                natural = self.direction(reported)
                fix = f"metric={reported!r}" + (f", mode={natural!r}" if natural else "")
                raise ConfigError(f"{self.owner}({self.argument}={reported!r}) reports {reported!r}, but {study}; "
                                  f"leave out {self.argument}= (it then reports the study's metric), or set the "
                                  f"study's {fix}.")
        returned = list(dict.fromkeys([reported, *self.returns(reported)]))
        for metric, mode in zip(metrics, modes, strict=True):
            if metric not in returned:
                raise ConfigError(f"{study}, but {self.owner} returns {', '.join(map(repr, returned))}, not "
                                  f"{metric!r}; take {metric!r} out of the study's metrics.")
            natural = self.direction(metric)
            if natural is not None and natural != mode:
                better = "higher" if natural == "max" else "lower"
                which = " for it" if len(metrics) > 1 else ""
                raise ConfigError(f"{self.owner} reports {metric!r}, where {better} is better, but the study has "
                                  f"mode={mode!r}{which}; set mode={natural!r}{self.note}.")
        return reported

    def for_trial(self, trial: Any) -> str:
        """The metric to compute in this trial: the one told, else the study's (``trial.study_metrics``), else
        -- called outside a study, or wrapped by a function that returns a metric of its own -- the default."""
        if self.told is not None:
            return self.told
        names = tuple(getattr(trial, "study_metrics", None) or ())
        if names and self.direction(names[0]) is not None:
            return names[0]
        if names and names[0] not in self._warned:
            self._warned.add(names[0])
            warnings.warn(f"{self.owner} was not told a metric ({self.argument}=) and does not compute the study's "
                          f"metric {names[0]!r}, so it reports {self.default!r}; pass {self.argument}= to choose "
                          f"one of {self.computes}.", UserWarning, stacklevel=3)
        return self.default


def check_objective_metric(objective: Any, metrics: Sequence[str], modes: Sequence[str]) -> None:
    """Refuse a study whose ready objective would report another metric than the study's, or in the other
    direction (ConfigError, one message naming both). An objective of the user's own is not checked."""
    rule = getattr(objective, "metric_rule", None)
    if isinstance(rule, MetricRule):
        rule.resolve(list(metrics), list(modes))
