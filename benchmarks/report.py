"""How long does `autotune report` take on a large study, and how big is the file? Builds a study of N trials fast
(random sampler, a no-op objective that reports five steps, with some pruned and some failed trials), then times
the whole `autotune report` command (Python start-up included) and prints the file's size.

    python benchmarks/report.py --n-trials 20000
    python benchmarks/report.py --n-trials 20000 --storage sqlite:////tmp/report.db --keep   # reuse the study
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time

import autotune as at

SPACE = {
    "x": at.uniform(-5.0, 10.0),
    "y": at.uniform(0.0, 15.0),
    "lr": at.loguniform(1e-4, 1e-1),
    "layers": at.randint(1, 4),
    "act": at.choice(["relu", "tanh", "gelu"]),
}


def objective(config, trial):
    x, y = config["x"], config["y"]
    # Branin, shifted by the other parameters a little, so importances have something to find
    branin = (y - 5.1 / (4 * math.pi ** 2) * x ** 2 + 5 / math.pi * x - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * \
        math.cos(x) + 10
    loss = branin + 2 * abs(math.log10(config["lr"]) + 2.5) + 0.5 * config["layers"]
    if trial.number % 97 == 13:
        raise RuntimeError("diverged (a failure the report should show)")
    for step in range(5):
        trial.report(loss * (1 + 2.0 / (step + 1)), step)
        if step == 1 and trial.number % 7 == 3:
            raise at.TrialPruned()
    return loss


def build(url: str, n: int) -> float:
    study = at.Study(name="report-bench", space=SPACE, objective=objective, sampler="random", n_trials=n, seed=0)
    t0 = time.perf_counter()
    study.run(storage=url)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-trials", type=int, default=20000)
    ap.add_argument("--storage", help="a study database to build the study in (or reuse it from, with --keep)")
    ap.add_argument("--keep", action="store_true", help="reuse the study if the database holds it")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.storage or f"sqlite:///{os.path.join(tmp, 'report.db')}"
        built = None
        try:
            done = sum(at.load_study("report-bench", storage=url).counts.values()) if args.keep else 0
        except at.AutotuneError:
            done = 0
        if done < args.n_trials:
            built = build(url, args.n_trials)
        out = os.path.join(tmp, "report.html")
        env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "autotune.cli", "report", "report-bench", "--storage", url,
                            "-o", out], check=True, env=env, capture_output=True)
            times.append(time.perf_counter() - t0)
        size = os.path.getsize(out)
        print(f"{args.n_trials} trials (random sampler, 5 reports each, every 7th pruned, every 97th failed)")
        if built is not None:
            print(f"  building the study: {built:.1f} s")
        print(f"  autotune report, whole command: {min(times):.2f} s best of {len(times)} "
              f"({', '.join(f'{t:.2f}' for t in times)})")
        print(f"  report file: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
