"""The sampler's in-memory Optuna study, mirroring the study database.

The sampler and pruner work on an in-memory Optuna study: this driver's trials are told directly, other drivers'
finished trials are read back in commit order (``finish_seq``) whenever the study row says something new finished.
The database is the source of truth; the mirror only makes asking cheap. Each of the study's trials has one current
entry (see ``search._history.Latest``): a trial paused under halving is told as pruned at its rung, and told again
when it finishes.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from autotune.database import CONSTRAINTS, FINISHED, TrialState
from autotune.engine._running import loads
from autotune.search import UNCOUNTED_ATTR, Latest, LatestOnly, n_entries, quiet_optuna, set_trial_system_attr


class Mirror:
    """The in-memory study of ``space`` (``directions``: "minimize"/"maximize" per metric) that ``sampler`` reads
    (``learn_failures``: shown failed trials as the worst finished ones) and ``pruner`` judges reports in."""

    def __init__(self, name: str, space, directions: list[str], sampler, pruner, learn_failures: bool) -> None:
        import optuna

        quiet_optuna()
        self.space, self.n_metrics, self.learn = space, len(directions), learn_failures
        self.latest = Latest()  # the sampler learns from each trial's latest entry only
        self.ostudy = optuna.create_study(directions=directions, pruner=pruner, study_name=name,
                                          sampler=LatestOnly(sampler, self.latest, learn_failures))
        self.known: set[int] = set()  # trial numbers with an entry (or running here)
        # Paused trials reach the sampler at once, as pruned at their rung (so a study's later proposals learn from
        # the first rung, as they would learn from finished trials without halving), and again when they finish:
        # these are the ones whose final entry is still to come.
        self.final_pending: set[int] = set()
        self.last_seq = 0  # the study's finish sequence read so far

    def use_sampler(self, sampler) -> None:
        """Ask ``sampler`` from now on (a sampler seeded again)."""
        self.ostudy.sampler = LatestOnly(sampler, self.latest, self.learn)

    # -- this driver's trials --------------------------------------------------------------------------------
    def ask(self, params: dict[str, Any] | None = None):
        """A new Optuna trial: the sampler's proposal, or ``params`` (a configuration queued in the database)."""
        if params is not None:
            self.ostudy.enqueue_trial(params, skip_if_exists=False)
        return self.ostudy.ask()

    def running(self, number: int, otrial) -> None:
        """The study's trial ``number`` runs here as ``otrial``."""
        self.known.add(number)
        self.latest.point(number, otrial.number)

    def tell(self, otrial, state: str, values: list[float] | None, *, failure_learnt: bool = True) -> None:
        """Tell how ``otrial`` ended. ``failure_learnt=False``: a FAIL that is only a proposal not run (the budget
        was taken, the sampler left the space), which does not make the samplers look at failures."""
        from optuna.trial import TrialState as OptunaState

        if state == TrialState.COMPLETE:
            self.ostudy.tell(otrial, values)
        else:
            if failure_learnt:
                self.ostudy.sampler.failed |= state == TrialState.FAIL
            self.ostudy.tell(otrial, state=OptunaState[state])

    def uncounted(self, otrial) -> None:
        """Mark ``otrial`` as not counting: its configuration runs again, or never ran (see ``UNCOUNTED_ATTR``)."""
        set_trial_system_attr(self.ostudy, otrial, UNCOUNTED_ATTR, True)

    # -- trials read back from the database ------------------------------------------------------------------
    def sync(self, db, study_id: int) -> list[Any]:
        """Read the trials finished since the last read (any driver's) into the study; returns those rows."""
        rows = db.trials_since(study_id, self.last_seq)
        new = []
        for r in rows:
            self.last_seq = max(self.last_seq, r.finish_seq)
            if r.number in self.final_pending and r.state in FINISHED:  # pruned at its rung (by any driver)
                self.final_pending.discard(r.number)
                self.known.discard(r.number)  # added below with all its reports
            if r.number in self.known:
                continue
            self.known.add(r.number)
            with contextlib.suppress(ValueError):  # a configuration outside today's space cannot inform the sampler
                new.append((r.number, self.entry(r.state, loads(r.objective_values), loads(r.params),
                                                 loads(r.intermediate), (loads(r.metrics) or {}).get(CONSTRAINTS),
                                                 retried=not r.counted)))
        self.add_entries(new)
        return rows

    def learn_paused(self, db, study_id: int) -> None:
        """Trials paused by another driver, or by a run before this one, reach the sampler as this driver's own
        do: pruned at their rung, until they finish."""
        unknown = {r.number for r in db.running(study_id)
                   if r.state == TrialState.PAUSED and r.number not in self.known}
        if not unknown:
            return  # (one small query; params and reports only for trials this driver has not seen)
        new = []
        for r in db.paused(study_id, unknown):
            reports = loads(r.intermediate)
            if reports:
                with contextlib.suppress(ValueError):  # a configuration outside today's space: nothing to learn
                    new.append((r.number, self.entry(TrialState.PRUNED, None, loads(r.params), reports)))
        self.add_entries(new)
        for number, _ in new:
            self.known.add(number)
            self.final_pending.add(number)

    def add_finished(self, number: int, params: dict[str, Any], state: str, values, reports, metrics,
                     retried: bool = False) -> None:
        """A trial that was continued here (no Optuna trial of its own) as it ended."""
        with contextlib.suppress(ValueError):  # a configuration outside today's space cannot inform the sampler
            self.add_entries([(number, self.entry(state, values, params, reports,
                                                  (metrics or {}).get(CONSTRAINTS), retried))])

    def entry(self, state: str, values, params: dict[str, Any], reports, cons=None, retried: bool = False):
        """A trial as the in-memory study holds it (a pruned or paused one with its last finite report as its value;
        a failed one whose configuration runs again marked so). ValueError: the configuration is outside today's
        space."""
        import optuna
        from optuna.trial import TrialState as OptunaState

        inter = {int(s): v for s, v in reports or []}
        if state == TrialState.PRUNED:
            values = rung_value(inter, self.n_metrics)
        system = {"constraints": cons} if cons is not None else {}
        if state == TrialState.FAIL:
            self.ostudy.sampler.failed = True
            if retried:
                system[UNCOUNTED_ATTR] = True
        return optuna.trial.create_trial(
            state=OptunaState[state], values=None if state == TrialState.FAIL else values, params=params,
            distributions=self.space.distributions_for(params), intermediate_values=inter,
            user_attrs={CONSTRAINTS: cons} if cons is not None else None, system_attrs=system or None)

    def add_entries(self, numbered: list[tuple[int, Any]]) -> None:
        """Add ``(trial number, entry)`` pairs to the in-memory study, each entry replacing the trial's earlier one
        in the sampler's view."""
        if numbered:
            first = n_entries(self.ostudy)  # the number the next entry gets
            self.ostudy.add_trials([entry for _, entry in numbered])
            for k, (number, _) in enumerate(numbered):
                self.latest.point(number, first + k)


def rung_value(inter: dict[int, float], n_metrics: int) -> list[float] | None:
    """The value a trial paused (or pruned) at a rung is told to the sampler with: its last report that is a
    number (a single-metric study only)."""
    finite = [inter[s] for s in sorted(inter) if math.isfinite(inter[s])]
    return [finite[-1]] if finite and n_metrics == 1 else None
