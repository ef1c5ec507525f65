"""Parallel speed-up of the local backend: a sleeping objective at parallelism 1 and 4, autotune against Optuna's
thread-based ``n_jobs`` on the same work, in one run.

    python benchmarks/parallel.py --n-trials 40 --sleep 0.25
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import autotune as at

SLEEP = 0.25  # kept light at import: spawned workers re-import this script (Optuna is imported in main only)


def objective(config, trial):
    time.sleep(SLEEP)
    return config["x"]


def run_autotune(n: int, par: int, folder: str) -> float:
    study = at.Study(name=f"par{par}", space={"x": at.uniform(0, 1)}, objective=objective, sampler="tpe",
                     n_trials=n, parallelism=par, seed=0)
    t0 = time.perf_counter()
    result = study.run(storage=f"sqlite:///{os.path.join(folder, 'bench.db')}")
    assert result.counts == {"COMPLETE": n}
    return time.perf_counter() - t0


def run_optuna(n: int, par: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    def obj(trial):
        trial.suggest_float("x", 0, 1)
        time.sleep(SLEEP)
        return 0.0

    t0 = time.perf_counter()
    optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0)).optimize(obj, n_trials=n, n_jobs=par)
    return time.perf_counter() - t0


def main() -> None:
    global SLEEP
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-trials", type=int, default=40)
    ap.add_argument("--sleep", type=float, default=0.25)
    args = ap.parse_args()
    SLEEP = args.sleep
    n = args.n_trials
    with tempfile.TemporaryDirectory() as tmp:
        a1, a4 = run_autotune(n, 1, tmp), run_autotune(n, 4, tmp)
    o1, o4 = run_optuna(n, 1), run_optuna(n, 4)
    ideal = n * SLEEP
    print(f"{n} trials sleeping {SLEEP} s each (ideal: {ideal:.1f} s serial, {ideal / 4:.1f} s at 4)")
    print(f"  autotune  parallelism 1: {a1:6.2f} s   parallelism 4 (worker processes): {a4:6.2f} s   "
          f"speed-up {a1 / a4:.2f}x")
    print(f"  optuna    n_jobs 1     : {o1:6.2f} s   n_jobs 4 (threads)              : {o4:6.2f} s   "
          f"speed-up {o1 / o4:.2f}x")


if __name__ == "__main__":
    main()
