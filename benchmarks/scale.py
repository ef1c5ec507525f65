"""Does persisting stay cheap as a study grows? A no-op study with the random sampler (whose own cost is flat, so
what grows is storage and engine) to 20,000 trials, through autotune's default SQLite storage and Optuna in
memory, side by side; the per-trial cost over the first and the last 1,000 trials; and ``autotune status`` on
the 20,000-trial study.

    python benchmarks/scale.py --n-trials 20000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import autotune as at

WINDOW = 1000


def noop(config, trial):
    return config["x"] + config["y"]


def run_autotune(n: int, folder: str) -> tuple[float, float, float]:
    study = at.Study(name="scale", space={"x": at.uniform(0, 1), "y": at.uniform(0, 1)}, objective=noop,
                     sampler="random", n_trials=n, seed=0)
    url = f"sqlite:///{os.path.join(folder, 'scale.db')}"
    t0 = time.perf_counter()
    result = study.run(storage=url)
    total = time.perf_counter() - t0
    trials = sorted(result.trials, key=lambda t: t.number)
    first = (trials[WINDOW - 1].finished_at - trials[0].started_at) / WINDOW
    last = (trials[-1].finished_at - trials[-WINDOW - 1].finished_at) / WINDOW
    return total, first, last


def run_optuna(n: int) -> tuple[float, float, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    marks: list[float] = []

    def objective(trial):
        return trial.suggest_float("x", 0, 1) + trial.suggest_float("y", 0, 1)

    def callback(study, trial):
        marks.append(time.perf_counter())

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=n, callbacks=[callback])
    total = time.perf_counter() - t0
    return total, (marks[WINDOW - 1] - t0) / WINDOW, (marks[-1] - marks[-WINDOW - 1]) / WINDOW


def time_status(folder: str) -> float:
    url = f"sqlite:///{os.path.join(folder, 'scale.db')}"
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "autotune.cli", "status", "--storage", url], check=True,
                             capture_output=True, text=True).stdout
        best = min(best, time.perf_counter() - t0)
    print(f"  autotune status output: {out.strip()}")
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-trials", type=int, default=20000)
    n = ap.parse_args().n_trials
    with tempfile.TemporaryDirectory() as tmp:
        a_total, a_first, a_last = run_autotune(n, tmp)
        o_total, o_first, o_last = run_optuna(n)
        print(f"{n} random-sampler trials of a no-op objective")
        print(f"  autotune (SQLite, every trial persisted): total {a_total:7.1f} s | per trial over trials "
              f"1-{WINDOW}: {1000 * a_first:.3f} ms, over the last {WINDOW}: {1000 * a_last:.3f} ms")
        print(f"  optuna (in memory, nothing persisted)   : total {o_total:7.1f} s | per trial over trials "
              f"1-{WINDOW}: {1000 * o_first:.3f} ms, over the last {WINDOW}: {1000 * o_last:.3f} ms")
        print(f"  growth last/first: autotune {a_last / a_first:.2f}x, optuna {o_last / o_first:.2f}x")
        status = time_status(tmp)
        print(f"  `autotune status` on the {n}-trial study, whole command (best of 3): {status:.2f} s")


if __name__ == "__main__":
    main()
