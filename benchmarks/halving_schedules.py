"""What successive-halving schedules would cost, simulated over learning curves recorded by
``benchmarks/pruning.py --curves`` (no training): the share of the epochs spent, the mean best against the
unpruned studies' and the studies whose best trial is kept.

A schedule is a list of rungs ``epoch:keep`` -- after ``epoch`` reports, the best ``keep`` trials (by that report)
go on -- and the trials left after the last rung train to the end. ``HalvingPruner(reduction_factor, min_resource)``
is the schedule of rungs at ``min_resource * reduction_factor**k`` keeping ``ceil(n / reduction_factor)``; the
simulation of that schedule gives the live halving runs' figures to the digit. The configurations are held fixed,
so this measures the halving decisions alone. Studies of a random sampler draw their trials independently, so
consecutive seeds' studies joined make one larger random study (``--trials 24`` joins pairs).

    python benchmarks/pruning.py --only torch --mlp-metric val_loss --sampler random --seeds 80 --first-seed 100 \\
        --curves curves.jsonl                                          # record curves (3 minutes)
    python benchmarks/halving_schedules.py benchmarks/pruning_curves_random.jsonl        # halving rules a user sets
    python benchmarks/halving_schedules.py --seeds 100-179 --search benchmarks/pruning_curves_random.jsonl
    python benchmarks/halving_schedules.py --schedule 1:5,3:3,6:2 benchmarks/pruning_curves_random.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics


def load(paths: list[str], example: str, seeds: tuple[int, int] | None) -> list[list[tuple[list[float], float]]]:
    """Each recorded study of ``example``: its trials' (curve, final value), in trial order."""
    studies = []
    for path in paths:
        with open(path) as fh:
            for line in fh:
                r = json.loads(line)
                if r["example"] != example or (seeds and not seeds[0] <= r["seed"] <= seeds[1]):
                    continue
                sign = 1.0 if r["mode"] == "min" else -1.0  # simulate as minimising
                trials = sorted(r["trials"], key=lambda t: t["number"])
                studies.append([([sign * v for v in t["curve"]], sign * t["value"]) for t in trials])
    return studies


def rule(n: int, epochs: int, reduction_factor: int, min_resource: int = 1, finalists: int = 1):
    """The rungs of successive halving over ``n`` trials; ``finalists``: never cut below that many."""
    rungs, alive, k = [], n, 0
    while min_resource * reduction_factor ** k < epochs:
        keep = max(math.ceil(alive / reduction_factor), finalists)
        if keep >= alive:
            break
        rungs.append((min_resource * reduction_factor ** k, keep))
        alive, k = keep, k + 1
    return rungs


def simulate(study, rungs) -> tuple[int, float]:
    """Epochs trained and the best final value kept by the schedule ``rungs`` on one study."""
    epochs = len(study[0][0])
    alive, spent, done = list(range(len(study))), 0, 0
    for epoch, keep in rungs:
        spent += len(alive) * (epoch - done)
        done = epoch
        alive = sorted(alive, key=lambda i: (study[i][0][epoch - 1], i))[:keep]
    spent += len(alive) * (epochs - done)
    return spent, min(study[i][1] for i in alive)


def score(studies, rungs) -> tuple[float, float, int, float, float]:
    """Share of the epochs, mean best (% worse than unpruned), studies whose best is kept, per-study difference
    (% mean, standard error)."""
    spent = total = kept = 0
    found, bests, diffs = [], [], []
    for study in studies:
        s, b = simulate(study, rungs)
        best = min(v for _, v in study)
        spent, total, kept = spent + s, total + len(study) * len(study[0][0]), kept + (b == best)
        found.append(b)
        bests.append(best)
        diffs.append(100 * (b - best) / abs(best))
    worse = 100 * (statistics.mean(found) - statistics.mean(bests)) / abs(statistics.mean(bests))
    stderr = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    return spent / total, worse, kept, statistics.mean(diffs), stderr


def line(label: str, studies, rungs) -> str:
    share, worse, kept, diff, stderr = score(studies, rungs)
    return (f"  {label:34s} steps {share:.3f}   mean best {worse:+z6.2f}%   best kept in {kept:3d} of {len(studies):3d}"
            f"   per study {diff:+z.2f}% +- {stderr:.2f}%")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("curves", nargs="+", help="files written by benchmarks/pruning.py --curves")
    ap.add_argument("--example", default="torch_mlp_digits_val_loss")
    ap.add_argument("--seeds", help="only these seeds, e.g. 100-179")
    ap.add_argument("--schedule", help="one schedule, e.g. 1:5,3:3,6:2")
    ap.add_argument("--search", action="store_true",
                    help="every schedule of up to 4 rungs within a third of the epochs, the best 20")
    args = ap.parse_args()
    seeds = tuple(int(x) for x in args.seeds.split("-")) if args.seeds else None
    base = load(args.curves, args.example, seeds)
    if not base:
        raise SystemExit(f"no studies of {args.example!r} in {args.curves}")
    n, epochs = len(base[0]), len(base[0][0][0])
    print(f"{len(base)} studies of {n} trials x {epochs} epochs ({args.example})")
    if args.schedule:
        rungs = [tuple(int(x) for x in r.split(":")) for r in args.schedule.split(",")]
        print(line(args.schedule, base, rungs))
        return
    if args.search:
        found = []
        for k in range(1, 5):
            for at in itertools.combinations(range(1, epochs), k):
                for keep in itertools.combinations(range(n - 1, 0, -1), k):
                    rungs = list(zip(at, keep, strict=True))
                    if simulate(base[0], rungs)[0] * 3 <= n * epochs:
                        found.append((score(base, rungs)[1], simulate(base[0], rungs)[0], rungs))
        for _, _, rungs in sorted(found)[:20]:
            print(line(",".join(f"{e}:{k}" for e, k in rungs), base, rungs))
        return
    for join in (1, 2, 3):
        studies = [sum(base[i:i + join], []) for i in range(0, len(base) - join + 1, join)]
        print(f"{n * join} trials ({len(studies)} studies):")
        for eta, finalists in itertools.product((2, 3), (1, 2)):
            rungs = rule(n * join, epochs, eta, 1, finalists)
            print(line(f"reduction {eta}, {finalists} finalist{'s' if finalists > 1 else ''}", studies, rungs))


if __name__ == "__main__":
    main()
