"""Persistence overhead: the same no-op TPE study through autotune (default SQLite storage), Optuna in memory,
and Optuna on SQLite, in one run. Prints wall times, the ratios, and autotune's per-trial cost by stage.

    python benchmarks/overhead.py --n-trials 1000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import optuna

import autotune as at

optuna.logging.set_verbosity(optuna.logging.ERROR)


def space():
    return {"x": at.uniform(-5, 5), "y": at.uniform(0, 15), "n": at.randint(1, 8)}


def noop(config, trial):
    return config["x"] ** 2 + config["y"] + config["n"]


def optuna_objective(trial):
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", 0, 15)
    n = trial.suggest_int("n", 1, 8)
    return x**2 + y + n


def run_autotune(n: int, folder: str) -> float:
    study = at.Study(name="overhead", space=space(), objective=noop, sampler="tpe", n_trials=n, seed=0)
    cwd = os.getcwd()
    os.chdir(folder)  # the default storage: sqlite:///autotune.db in the current folder
    try:
        t0 = time.perf_counter()
        result = study.run()
        elapsed = time.perf_counter() - t0
    finally:
        os.chdir(cwd)
    assert result.counts == {"COMPLETE": n}
    return elapsed


def run_optuna(n: int, storage: str | None) -> float:
    sampler = optuna.samplers.TPESampler(seed=0, multivariate=True, warn_independent_sampling=False)
    t0 = time.perf_counter()
    study = optuna.create_study(storage=storage, sampler=sampler, study_name="overhead")
    study.optimize(optuna_objective, n_trials=n)
    return time.perf_counter() - t0


def main() -> None:
    import statistics

    ap = argparse.ArgumentParser()
    ap.add_argument("--n-trials", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repetitions; medians are reported")
    args = ap.parse_args()
    n = args.n_trials
    times: dict[str, list[float]] = {"mem": [], "osql": [], "at": []}
    for _ in range(args.repeat):  # interleaved, so that the machine's slow phases hit every contender alike
        with tempfile.TemporaryDirectory() as tmp:
            times["mem"].append(run_optuna(n, None))
            times["at"].append(run_autotune(n, tmp))
            times["osql"].append(run_optuna(n, f"sqlite:///{os.path.join(tmp, 'optuna.db')}"))
    t_mem, t_osql, t_at = (statistics.median(times[k]) for k in ("mem", "osql", "at"))
    ratios = [a / m for a, m in zip(times["at"], times["mem"], strict=True)]
    print(f"{n} TPE trials of a no-op objective (same sampler settings: multivariate TPE, seed 0), "
          f"median of {args.repeat}")
    print(f"  optuna, in-memory storage : {t_mem:8.2f} s  ({1000 * t_mem / n:.2f} ms/trial)")
    print(f"  optuna, SQLite storage    : {t_osql:8.2f} s  ({1000 * t_osql / n:.2f} ms/trial)")
    print(f"  autotune, default SQLite  : {t_at:8.2f} s  ({1000 * t_at / n:.2f} ms/trial)")
    print(f"  ratio optuna-sqlite / optuna-memory   = {t_osql / t_mem:.2f}x")
    print(f"  ratio autotune-sqlite / optuna-memory = {t_at / t_mem:.2f}x  (per repetition: "
          f"{', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"  ratio autotune-sqlite / optuna-sqlite = {t_at / t_osql:.2f}x")


if __name__ == "__main__":
    main()
