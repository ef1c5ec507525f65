"""The halving coordinator: which paused trials are pruned at their rung and which one continues (see
``autotune.search._halving`` for the schedule, computed from the stored trials alone)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from autotune.backends import Job
from autotune.database import TrialState
from autotune.engine._running import Running, loads
from autotune.objectives import forgetters
from autotune.search import HalvingPruner, plan


@dataclass
class Step:
    """What one look at the paused trials did: trials pruned (number -> stored reports), one to continue."""

    pruned: dict[int, list | None] = field(default_factory=dict)
    job: Job | None = None


class HalvingCoordinator:
    """Prunes and continues the study's paused trials. ``pruner`` None: a study paused under the halving pruner
    and resumed without it, whose paused trials each run to their end."""

    def __init__(self, pruner: HalvingPruner | None, db, study_id: int, driver: str, study) -> None:
        self.pruner, self.db, self.study_id, self.driver, self.study = pruner, db, study_id, driver, study
        self.sign = 1.0 if study.modes[0] == "min" else -1.0
        self._idle_plan: tuple | None = None  # the state in which the last plan decided nothing

    def first_limit(self) -> int | None:
        """Reports a new trial makes before it pauses at the first rung (None without halving)."""
        return self.pruner.rung(0) if self.pruner else None

    def step(self, log_seq: int, starting: bool) -> Step:
        """Prune the paused trials that lost at their rung, continue one that won. ``log_seq``: the study's finish
        sequence as the caller last read it; ``starting``: new trials may still start."""
        from optuna.trial import FixedTrial

        out = Step()
        running = self.db.running(self.study_id)
        if not any(r.state == TrialState.PAUSED for r in running):
            return out  # (one small query; the full read below only for studies with paused trials)
        # the plan depends on which trials are running or paused, on the finished ones, and on whether new trials
        # may start: while none of these changed since a plan that decided nothing, skip the full read
        key = (tuple(sorted((r.number, r.state) for r in running)), log_seq, starting)
        if key == self._idle_plan:
            return out
        rows = self.db.all_trials(self.study_id)
        decided = plan(self.pruner, rows, self.sign, starting)
        self._idle_plan = key if not (decided.prune or decided.promote) else None
        by_number = {r.number: r for r in rows}
        if decided.prune:
            pruned = self.db.prune_paused(self.study_id, {n: by_number[n].intermediate for n in decided.prune})
            forget_fns = forgetters(self.study.objective)  # e.g. the torch objective's checkpoint
            for number in pruned:
                if forget_fns:
                    config = self.study.space.sample(FixedTrial(loads(by_number[number].params)))[1]
                    for forget in forget_fns:
                        with contextlib.suppress(Exception):
                            forget(self.study.name, config)
                out.pruned[number] = loads(by_number[number].intermediate)
        for number, to in decided.promote:
            out.job = self._resume(number, to, by_number[number].intermediate)
            if out.job is not None:
                break
        return out

    def _resume(self, number: int, to: int | None, seen: Any) -> Job | None:
        from optuna.trial import FixedTrial

        row = self.db.resume_paused(self.study_id, number, self.driver, seen)
        if row is None:
            return None  # another driver continued it first
        params = loads(row.params)
        config = self.study.space.sample(FixedTrial(params))[1]
        inter = loads(row.intermediate) or []
        run = Running(None, row.origin, row.origin == "queue", intermediate=inter,
                      limit=to, replayed_to=int(inter[-1][0]) if inter else -1, params=params)
        return Job(number, config, attempt=row.attempt, timeout=self.study.trial_timeout, engine_state=run,
                   reports=[list(r) for r in inter])
