"""What successive-halving schedules would cost, simulated over learning curves recorded by
``benchmarks/pruning.py --curves`` (no training): the share of the epochs spent, the mean best against the
unpruned studies' and the studies whose best trial is kept.

By default the halving pruner itself (``HalvingPruner(reduction_factor)``, replayed by ``autotune pruning``'s
``_replay.replay``, which gives the live runs' figures to the digit), over the recorded studies and over larger ones:
studies of a random sampler draw their trials independently, so consecutive seeds' studies joined make one larger
random study. ``--schedule`` and ``--search`` try schedules the pruner does not offer: a list of rungs
``epoch:keep`` -- after ``epoch`` reports the best ``keep`` trials (by that report) go on -- the trials left after
the last rung training to the end. The configurations are held fixed, so this measures the halving decisions alone.

    python benchmarks/pruning.py --only torch --mlp-metric val_loss --sampler random --seeds 80 --first-seed 100 \\
        --curves curves.jsonl                                          # record curves (3 minutes)
    python benchmarks/halving_schedules.py benchmarks/pruning_curves_random.jsonl        # the halving pruner
    python benchmarks/halving_schedules.py --seeds 100-179 --search benchmarks/pruning_curves_random.jsonl
    python benchmarks/halving_schedules.py --schedule 1:5,3:3,6:2 benchmarks/pruning_curves_random.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
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


def by_pruner(reduction_factor: int):
    """The halving pruner itself, as ``autotune pruning`` replays it: epochs trained and best final value kept."""
    from autotune.search import HalvingPruner, replay

    def pick(study) -> tuple[float, float]:
        curves, finals = [c for c, _ in study], [v for _, v in study]
        (r,) = replay(curves, "min", [("halving", HalvingPruner(reduction_factor=reduction_factor))], values=finals)
        return r.steps * sum(map(len, curves)), r.best
    return pick


def line(label: str, studies, pick) -> str:
    """``pick(study) -> (epochs trained, best final value kept)`` summed up over the studies: the share of the epochs,
    the mean best (% worse than unpruned), the studies whose best is kept, and the per-study difference."""
    spent = total = kept = 0
    found, bests, diffs = [], [], []
    for study in studies:
        s, b = pick(study)
        best = min(v for _, v in study)
        spent, total, kept = spent + s, total + len(study) * len(study[0][0]), kept + (b == best)
        found.append(b)
        bests.append(best)
        diffs.append(100 * (b - best) / abs(best))
    worse = 100 * (statistics.mean(found) - statistics.mean(bests)) / abs(statistics.mean(bests))
    stderr = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    return (f"  {label:34s} steps {spent / total:.3f}   mean best {worse:+z6.2f}%   best kept in {kept:3d} of "
            f"{len(studies):3d}   per study {statistics.mean(diffs):+z.2f}% +- {stderr:.2f}%")


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
        print(line(args.schedule, base, lambda study: simulate(study, rungs)))
        return
    if args.search:
        found = []
        for k in range(1, 5):
            for at in itertools.combinations(range(1, epochs), k):
                for keep in itertools.combinations(range(n - 1, 0, -1), k):
                    rungs = list(zip(at, keep, strict=True))
                    if simulate(base[0], rungs)[0] * 3 <= n * epochs:
                        worse = statistics.mean(simulate(study, rungs)[1] for study in base)
                        found.append((worse, simulate(base[0], rungs)[0], rungs))
        for _, _, rungs in sorted(found)[:20]:
            print(line(",".join(f"{e}:{k}" for e, k in rungs), base, lambda study, r=rungs: simulate(study, r)))
        return
    for join in (1, 2, 3):
        studies = [sum(base[i:i + join], []) for i in range(0, len(base) - join + 1, join)]
        print(f"{n * join} trials ({len(studies)} studies):")
        for eta in (2, 3):
            print(line(f"HalvingPruner(reduction_factor={eta})", studies, by_pruner(eta)))

if __name__ == "__main__":
    main()
