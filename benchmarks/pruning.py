"""Does pruning pay? The LightGBM and PyTorch examples run with their pruner and without any (same sampler, seed
and budget), in one run, for several seeds: total training steps (boosting rounds, epochs), wall time, and the
best score.

A single seed says little at these budgets: pruning changes what the sampler learns, so the two studies walk
different paths, and the unpruned best alone moves by 20% (LightGBM's log-loss) and several-fold (the MLP's
validation loss; its accuracy by a few points) between seeds. The figures that count are the totals over the
seeds: the steps ratio of the summed steps, the difference of the mean best, and the standard error of the
per-seed differences.

Then, to compare pruners without rerunning the training, each pruner is replayed over the learning curves the
unpruned studies recorded: the trials in their order, each reporting its recorded values until the pruner stops
it. A replay holds the sampler's proposals fixed (a live pruned study would propose differently once its sampler
learns from pruned trials), so it isolates what the pruner's decisions cost and save. A replay counts reports
(LightGBM reports every 10 rounds), the live rows count rounds and epochs.

    python benchmarks/pruning.py [--seeds 20] [--curves FILE] [--only torch|lightgbm]   # 13 minutes at 20 seeds
    python benchmarks/pruning.py --only torch --pruner "HalvingPruner(reduction_factor=3)" --trials 24 --again
    python benchmarks/pruning.py --replay FILE                   # the replays alone, from recorded curves
    python benchmarks/pruning.py --replay benchmarks/pruning_curves.jsonl   # curves recorded with the MLP on its loss
    python benchmarks/pruning.py --only torch --mlp-metric val_loss --sampler random   # the MLP on its loss, random
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))


def steps(trial, kind: str) -> int:
    """Rounds or epochs a trial trained, over all its runs (a trial the halving pruner paused and continued ran
    more than once; its reports cover every epoch it trained)."""
    if kind == "lightgbm" and trial.state == "COMPLETE":
        return int(trial.metrics["rounds_trained"])  # early stopping trains some rounds past the last report
    return (trial.last_step or 0) + (0 if kind == "lightgbm" else 1)  # rounds are counted from 1, epochs from 0


def measure(study, kind: str, pruner, seed: int, folder: str, tag: str = ""):
    st = copy.copy(study)
    st.pruner, st.seed = pruner, seed
    st.name = f"{study.name}-{pruner if isinstance(pruner, str) else type(pruner).__name__}-seed{seed}{tag}"
    t0 = time.perf_counter()
    result = st.run(storage=f"sqlite:///{os.path.join(folder, 'pruning.db')}")
    wall = time.perf_counter() - t0
    return (sum(steps(t, kind) for t in result.trials), wall, result.best_value, result.counts.get("PRUNED", 0),
            result.trials)


def _median_warmup():
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)


def _hyperband_halving():
    import optuna

    return optuna.pruners.HyperbandPruner(reduction_factor=2)


def _with_metric(study, example, metric: str):
    """The MLP example's study with another metric: its objective rebuilt as examples/torch_mlp_digits.py builds
    it (keep the two in step), everything else the example's."""
    from autotune.objectives.torch import torch_objective

    study = copy.copy(study)
    study.objective = torch_objective(example.make_model, example.train, example.valid, epochs=10, metric=metric,
                                      lr_schedule="cosine")
    study.metrics, study.modes = [metric], ["min" if metric == "val_loss" else "max"]
    study.name = f"{study.name}_{metric}"
    return study


def print_replays(runs, mode: str) -> None:
    """Replay pruners over the recorded unpruned studies (``autotune pruning`` does it for one study): the reports
    each would have spent out of those recorded, summed over the studies, and the mean best it would have kept."""
    from autotune.search._replay import CANDIDATES, replay

    candidates = CANDIDATES[:3] + [("median, 2 warm-up steps", _median_warmup),
                                   ("hyperband, reduction 2", _hyperband_halving)] + CANDIDATES[3:]
    sign = 1.0 if mode == "min" else -1.0
    spent: dict[str, float] = {}
    bests: dict[str, list[float]] = {}
    kept: dict[str, int] = {}
    recorded, bests0 = 0, []
    for trials in runs:
        trials = sorted(trials, key=lambda t: t.number)
        curves = [[v for _, v in sorted(t.intermediate)] for t in trials]
        recorded += sum(map(len, curves))
        bests0.append(min((t.value for t in trials), key=lambda v: sign * v))
        for r in replay(curves, mode, candidates, values=[t.value for t in trials]):
            spent[r.label] = spent.get(r.label, 0.0) + r.steps * sum(map(len, curves))
            bests.setdefault(r.label, []).append(r.best)
            kept[r.label] = kept.get(r.label, 0) + r.kept_best
    print(f"  replayed over the {len(runs)} unpruned studies' recorded curves, the sampler's proposals held fixed "
          "(+ is worse):")
    b0 = statistics.mean(bests0)
    for label, _ in candidates:
        if len(bests.get(label, [])) != len(runs):
            continue  # halving from a rung some curves do not reach
        worse = 100 * sign * (statistics.mean(bests[label]) - b0) / abs(b0)
        print(f"    {label:24s} steps {spent[label] / recorded:5.2f}   mean best {worse:+z6.2f}%   best trial kept in "
              f"{kept[label]} of {len(runs)}")


def replay_file(path: str) -> None:
    """Replay the pruners over the curves an earlier run wrote with --curves, without training anything."""
    from types import SimpleNamespace

    studies: dict[str, tuple[str, list]] = {}
    with open(path) as fh:
        for line in fh:
            r = json.loads(line)
            trials = [SimpleNamespace(number=t["number"], value=t["value"], intermediate=list(enumerate(t["curve"])))
                      for t in r["trials"]]
            studies.setdefault(r["example"], (r["mode"], []))[1].append(trials)
    for name, (mode, runs) in studies.items():
        print(f"{name} ({mode})")
        print_replays(runs, mode)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--curves", help="write the unpruned studies' learning curves here (JSON lines), to replay "
                                     "other pruners offline")
    ap.add_argument("--replay", metavar="FILE", help="only replay the pruners over curves written by --curves")
    ap.add_argument("--only", choices=["lightgbm", "torch"], help="run one of the two examples")
    ap.add_argument("--pruner", help="the pruned arm's pruner instead of the example's: a pruner name or a Python "
                                     "expression over autotune.search, e.g. 'HalvingPruner(cohort=10)'")
    ap.add_argument("--trials", type=int, help="the budget instead of the examples' (both arms of each example run)")
    ap.add_argument("--sampler", help="a sampler name instead of the examples' (both arms of each example run), "
                                      "e.g. random or qmc")
    ap.add_argument("--mlp-metric", choices=["accuracy", "val_loss"],
                    help="the MLP study's metric instead of the example's: val_loss (min) is how the example was run "
                         "before it maximised accuracy")
    ap.add_argument("--again", action="store_true",
                    help="also run each unpruned study a second time (same seed): how far two unpruned runs differ "
                         "(parallel trials finish in a different order, so the sampler can walk another path)")
    args = ap.parse_args()
    if args.replay:
        replay_file(args.replay)
        return
    curves = open(os.path.abspath(args.curves), "w") if args.curves else None
    import lightgbm_breast_cancer
    import torch_mlp_digits

    cases = [(kind, study, unit) for kind, study, unit in [("lightgbm", lightgbm_breast_cancer.study, "rounds"),
                                                           ("torch", torch_mlp_digits.study, "epochs")]
             if args.only in (None, kind)]
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # torch checkpoints go under ./.autotune
        for kind, study, unit in cases:
            study = copy.copy(study)
            if kind == "torch" and args.mlp_metric not in (None, study.metrics[0]):
                study = _with_metric(study, torch_mlp_digits, args.mlp_metric)
            if args.pruner:
                import autotune.search

                study.pruner = eval(args.pruner, vars(autotune.search)) if "(" in args.pruner else args.pruner
            if args.trials:
                study.n_trials = args.trials
            if args.sampler:
                study.sampler = args.sampler
            sign = 1.0 if study.modes[0] == "min" else -1.0
            print(f"{study.name}: {study.n_trials} trials, {study.sampler}, pruner {study.pruner!r} against none, "
                  f"metric {study.metrics[0]} ({study.modes[0]})")
            print(f"  seed  {unit + ' none':>12s} {unit + ' pruned':>14s}  ratio  wall none  pruned  pruned trials"
                  f"  best none  best pruned  difference")
            rows, unpruned, again = [], [], []
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                s0, w0, b0, _, trials = measure(study, kind, "none", seed, tmp)
                s1, w1, b1, k, _ = measure(study, kind, study.pruner, seed, tmp)
                rows.append((s0, s1, w0, w1, b0, b1))
                if args.again:
                    again.append(measure(study, kind, "none", seed, tmp, tag="-again")[2])  # a new study
                unpruned.append(trials)
                if curves is not None:
                    curves.write(json.dumps({"example": study.name, "seed": seed, "mode": study.modes[0], "trials": [
                        {"number": t.number, "value": t.value, "params": t.params,
                         "curve": [v for _, v in sorted(t.intermediate)]} for t in trials]}) + "\n")
                print(f"  {seed:4d}  {s0:12d} {s1:14d}  {s1 / s0:5.2f}  {w0:8.1f}s {w1:6.1f}s  {k:6d} of "
                      f"{study.n_trials:<4d} {b0:10.5f}  {b1:11.5f}  {100 * sign * (b1 - b0) / abs(b0):+z9.2f}%")
            s0, s1, w0, w1 = (sum(r[i] for r in rows) for i in range(4))
            b0, b1 = (statistics.mean(r[i] for r in rows) for i in (4, 5))
            worse = 100 * sign * (b1 - b0) / abs(b0)
            print(f"  total {s0:11d} {s1:14d}  {s1 / s0:5.2f}  {w0:8.1f}s {w1:6.1f}s  {'':13s}"
                  f"{b0:10.5f}  {b1:11.5f}  {worse:+z9.2f}%   (mean best; + is worse)")
            diffs = [100 * sign * (r[5] - r[4]) / abs(r[4]) for r in rows]
            stderr = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
            print(f"  => steps ratio {s1 / s0:.2f}, wall ratio {w1 / w0:.2f}, mean best {abs(worse):.2f}% "
                  f"{'worse' if worse > 0 else 'better' if worse < 0 else 'equal'} with pruning "
                  f"(per-seed difference {statistics.mean(diffs):+z.2f}% +- {stderr:.2f}% standard error)")
            if again:
                diffs = [100 * sign * (b2 - r[4]) / abs(r[4]) for b2, r in zip(again, rows, strict=True)]
                print(f"  => the unpruned study run twice (same seed): mean best {statistics.mean(again):.5f} against "
                      f"{b0:.5f} ({100 * sign * (statistics.mean(again) - b0) / abs(b0):+z.2f}%), per-seed difference "
                      f"{statistics.mean(diffs):+z.2f}% +- {statistics.stdev(diffs) / len(diffs) ** 0.5:.2f}%, "
                      f"{sum(d != 0 for d in diffs)} of {len(diffs)} seeds differ")
            print_replays(unpruned, study.modes[0])
            print()
    if curves is not None:
        curves.close()


if __name__ == "__main__":
    main()
