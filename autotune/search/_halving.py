"""Successive halving with pause and promote (``pruner="halving"``).

Optuna's pruners only stop trials: a trial that looks weak at a rung is gone, and one that looks strong is let run
to the end at once. Halving here pauses instead. Every trial of a cohort runs to the first rung (``min_resource``
reports) and is paused there (state ``PAUSED``, its reports stored); once the whole cohort has reached that rung
the best ``1/reduction_factor`` of it continue from where they paused to ``reduction_factor`` times as many
reports, the rest are pruned; and so on until one trial is left, which runs to its end. So every trial is judged
against all the others of its cohort at the same rung, not against the few that happened to run before it
(asynchronous halving, ASHA), and the budget goes to the trials that earn it.

A paused trial is continued by calling its objective again with the same trial number and configuration: an
objective that checkpoints (the ready torch objective does, per epoch) carries on from its last epoch; one that
does not starts over, and the engine ignores the repeated reports (correct, but the repeated steps cost time).

The schedule is computed from the stored trials alone, so any driver -- a second one, or one resuming after the
first was killed -- reaches the same decisions. The cohort is the study's whole budget unless ``cohort`` is given:
then trials ``0..cohort-1`` are halved among themselves, the next ``cohort`` trials among themselves, and so on,
and each cohort's sampler proposals learn from the cohorts before it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from autotune.database import TrialState
from autotune.errors import ConfigError


class HalvingPruner:
    """Successive halving with pause and promote; see the module docstring.

    ``reduction_factor`` (>= 2): keep the best 1/reduction_factor at each rung. ``min_resource`` (>= 1): the
    reports a trial makes before its first rung. ``cohort`` (>= 2, or None for the whole budget): how many
    consecutive trials are halved together.
    """

    def __init__(self, reduction_factor: int = 2, min_resource: int = 1, cohort: int | None = None) -> None:
        for name, value, least in (("reduction_factor", reduction_factor, 2), ("min_resource", min_resource, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"HalvingPruner: {name} must be an integer >= {least}, but got {value!r}.")
        if cohort is not None and (isinstance(cohort, bool) or not isinstance(cohort, int) or cohort < 2):
            raise ConfigError(f"HalvingPruner: cohort must be an integer >= 2 or None (the whole budget), but got "
                              f"{cohort!r}.")
        self.reduction_factor, self.min_resource, self.cohort = reduction_factor, min_resource, cohort

    def __repr__(self) -> str:
        return (f"HalvingPruner(reduction_factor={self.reduction_factor}, min_resource={self.min_resource}, "
                f"cohort={self.cohort})")

    def rung(self, k: int) -> int:
        """Reports a trial has made when it reaches rung ``k``."""
        return self.min_resource * self.reduction_factor ** k

    def rung_of(self, reports: int) -> int:
        """The highest rung a trial with ``reports`` reports has reached (-1: not the first)."""
        k = -1
        while self.rung(k + 1) <= reports:
            k += 1
        return k


def check_halving(pruner: Any, n_objectives: int, n_trials: int | None = None, *, at_run: bool = True) -> None:
    """The halving pruner needs one metric, and at run time a cohort: the study's budget or
    ``HalvingPruner(cohort=)``. ``pruner`` is the study's setting or the pruner built from it (nothing is built
    here)."""
    if pruner != "halving" and not isinstance(pruner, HalvingPruner):
        return
    if n_objectives > 1:
        raise ConfigError("pruner='halving' ranks trials by one metric, but this study has "
                          f"{n_objectives}; use pruner='none' for a multi-objective study.")
    cohort = pruner.cohort if isinstance(pruner, HalvingPruner) else None  # ("halving": the whole budget)
    if at_run and n_trials is None and cohort is None:
        raise ConfigError("pruner='halving' halves a cohort of trials once all of them reached a rung, but this "
                          "study has no n_trials to make the cohort of; set n_trials, or pass "
                          "autotune.search.HalvingPruner(cohort=16).")


def rank_key(value: float, sign: float, number: int) -> tuple:
    """Sort key of a trial at a rung: better first, a report that is not a number (a diverged trial) last."""
    finite = value is not None and math.isfinite(value)
    return (not finite, sign * value if finite else 0.0, number)


@dataclass
class Plan:
    """What to do with paused trials now: continue some (to a number of reports, None: to the end), prune others."""

    promote: list[tuple[int, int | None]]
    prune: list[int]


def plan(pruner: HalvingPruner | None, rows: list[Any], sign: float, starting: bool) -> Plan:
    """Decide from the stored trials (``rows``: number, state, counted, intermediate JSON) which paused trials
    continue and which are pruned. ``starting``: new trials may still start (the budget is not all taken), so a
    cohort that is not complete yet cannot be halved. ``sign`` is 1 to minimise, -1 to maximise. Without a
    halving pruner (a study paused under one and resumed under another), every paused trial runs to its end."""
    paused = [r for r in rows if r.state == TrialState.PAUSED]
    if not paused:
        return Plan([], [])
    if pruner is None:
        return Plan([(r.number, None) for r in paused], [])
    curves = {r.number: [v for _, v in json.loads(r.intermediate or "[]")] for r in rows}
    size = pruner.cohort
    out = Plan([], [])
    for c in sorted({r.number // size if size else 0 for r in paused}):
        members = [r for r in rows if r.counted and (size is None or r.number // size == c)]
        # a cohort is settled once it is full, or once later trials exist (a member that failed and was retried
        # came back under a later number, in a later cohort)
        beyond = size is not None and any(r.number >= (c + 1) * size for r in rows)
        if starting and (size is None or (len(members) < size and not beyond)
                         or any(r.state == TrialState.WAITING for r in members)):
            continue  # this cohort still gets new trials: its first rung is not settled
        mine = [r for r in paused if size is None or r.number // size == c]
        k = min(pruner.rung_of(len(curves[r.number])) for r in mine)
        if k < 0:  # paused before its first rung: a stopped driver's trial cut short; let it reach the rung
            out.promote += [(r.number, pruner.rung(0)) for r in mine if pruner.rung_of(len(curves[r.number])) < 0]
            continue
        level = pruner.rung(k)
        if any(r.state == TrialState.RUNNING and len(curves[r.number]) < level for r in members):
            continue  # a trial of this cohort may still reach this rung: wait for it
        cohort = [r for r in members if r.state != TrialState.FAIL and len(curves[r.number]) >= level]
        keep = math.ceil(len(cohort) / pruner.reduction_factor)
        ranked = sorted(cohort, key=lambda r: rank_key(curves[r.number][level - 1], sign, r.number))
        top = {r.number for r in ranked[:keep]}
        to = None if keep <= 1 else pruner.rung(k + 1)
        for r in mine:
            if pruner.rung_of(len(curves[r.number])) != k:
                continue
            if r.number in top:
                out.promote.append((r.number, to))
            else:
                out.prune.append(r.number)
    return out

