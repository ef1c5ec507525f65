"""Would pruning have paid on this study? Replay pruners over the learning curves a study recorded.

Every pruner is replayed over the same trials, in their order, each trial reporting its recorded values until the
pruner stops it: Optuna's stopping rules (median, ASHA, Hyperband) through an in-memory Optuna study, and the
halving pruner as the synchronous schedule it runs (every trial to the first rung, the best ``1/reduction_factor``
continue to the next, ...). The sampler's proposals are held fixed -- a live pruned study would propose other
configurations once its sampler learns from pruned trials -- so a replay measures what the pruner's decisions
cost and save, not the whole effect. Only complete curves can be replayed: the trials that ran to their end.

    autotune pruning NAME        # the command line
    replay(curves, mode)         # curves: one list of reported values per trial, in trial order
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from autotune.search._halving import HalvingPruner, rank_key

#: (label, the pruner to replay): Optuna's rules by autotune's names, and halving at the first rungs worth trying
CANDIDATES: list[tuple[str, Any]] = [
    ("median", "median"),
    ("asha", "asha"),
    ("hyperband", "hyperband"),
    ("halving", HalvingPruner()),
    ("halving, reduction 3", HalvingPruner(reduction_factor=3)),
    ("halving, first rung 2", HalvingPruner(min_resource=2)),
    ("halving, first rung 10", HalvingPruner(min_resource=10)),
]


@dataclass
class Replayed:
    """One pruner replayed: the share of the recorded reports it would have spent, the best final value among the
    trials it let finish, whether that is the study's best, and which trials finished (positions in the curves)."""

    label: str
    steps: float
    best: float
    kept_best: bool
    finished: tuple[int, ...] = ()


def replay(curves: list[list[float]], mode: str, candidates: list[tuple[str, Any]] | None = None,
           values: list[float] | None = None) -> list[Replayed]:
    """Replay each candidate pruner over ``curves`` (the reported values of each trial that ran to its end, in trial
    order; none empty) for a metric to ``mode`` ('min' or 'max'); ``values`` are the trials' final values (default:
    their last reports; an objective that returns its best epoch's score differs). A candidate is an autotune
    pruner name, a ``HalvingPruner``, or a function returning a fresh Optuna pruner."""
    if not curves:
        return []
    finals = [c[-1] for c in curves] if values is None else list(values)
    sign = 1.0 if mode == "min" else -1.0
    best = min(finals, key=lambda v: sign * v)
    recorded = sum(map(len, curves))
    out = []
    for label, pruner in candidates or CANDIDATES:
        if isinstance(pruner, HalvingPruner):
            if pruner.rung(0) >= max(map(len, curves)):
                continue  # no rung before the end: nothing would be halved
            spent, kept = _halving(curves, sign, pruner)
        else:
            spent, kept = _stopping(curves, finals, mode, pruner)
        found = min((finals[i] for i in kept), key=lambda v: sign * v)
        out.append(Replayed(label, spent / recorded, found, found == best, tuple(kept)))
    return out


def _stopping(curves: list[list[float]], finals: list[float], mode: str, pruner: Any) -> tuple[int, list[int]]:
    import optuna
    from optuna.trial import TrialState

    from autotune.search._plugins import make_pruner

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # not a line per replayed study
    # a fixed study name: Hyperband assigns brackets by a hash of the study name and trial number
    study = optuna.create_study(study_name="replay", direction="minimize" if mode == "min" else "maximize",
                                pruner=make_pruner(pruner) if isinstance(pruner, str) else pruner())
    spent, kept = 0, []
    for i, curve in enumerate(curves):
        ot = study.ask()
        for step, value in enumerate(curve):
            if not math.isfinite(value):
                continue  # as live: a report that is not a number is stored but never shown to the pruner
            ot.report(value, step)
            if step < len(curve) - 1 and ot.should_prune():
                study.tell(ot, state=TrialState.PRUNED)
                spent += step + 1
                break
        else:
            study.tell(ot, finals[i])
            spent += len(curve)
            kept.append(i)
    return spent, kept


def _halving(curves: list[list[float]], sign: float, pruner: HalvingPruner) -> tuple[int, list[int]]:
    """The live pruner's schedule over the recorded curves (``_halving.plan``): at each rung the trials that reached
    it are ranked, the best ``1/reduction_factor`` go on, and once one is left it runs to its end. A trial whose
    curve ends before a rung (it stopped by its own rule) is complete where it ends; one whose curve ends at a rung
    is paused there like the others, and pruned if it loses."""
    alive, reached, lost, k = list(range(len(curves))), [0] * len(curves), set(), 0
    while alive:
        rung = pruner.rung(k)
        for i in alive:
            reached[i] = min(len(curves[i]), rung)
        cohort = [i for i in alive if len(curves[i]) >= rung]
        keep = math.ceil(len(cohort) / pruner.reduction_factor)
        top = sorted(cohort, key=lambda i: rank_key(curves[i][rung - 1], sign, i))[:keep]
        lost.update(set(cohort) - set(top))
        alive = [i for i in top if len(curves[i]) > rung]
        if keep <= 1:
            for i in alive:
                reached[i] = len(curves[i])
            break
        k += 1
    return sum(reached), [i for i, c in enumerate(curves) if reached[i] == len(c) and i not in lost]
