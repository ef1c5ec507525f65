"""Short trials on Ray: 100 trials of a 50 ms objective at concurrency 2, through Ray Tune with OptunaSearch at its
defaults, Ray Tune with ``reuse_actors=True``, and autotune's ray backend (TPE, every trial persisted to SQLite),
on one local Ray, in one run. Ray's start-up is excluded from every wall time.

    python benchmarks/ray_throughput.py            # add --skip-tune-defaults to leave out the 3-minute contender
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

N, SLEEP, SLOTS = 100, 0.05, 2


def objective(config, trial):
    time.sleep(SLEEP)
    return (config["x"] - 0.3) ** 2


def run_autotune(folder: str) -> float:
    import autotune as at

    study = at.Study(name="thr", space={"x": at.uniform(0, 1)}, objective=objective, sampler="tpe", n_trials=N,
                     parallelism=SLOTS, backend="ray", resources={"cpu": 1}, seed=0)
    t0 = time.perf_counter()
    result = study.run(storage=f"sqlite:///{os.path.join(folder, 'thr.db')}")
    wall = time.perf_counter() - t0
    assert result.counts == {"COMPLETE": N}
    return wall


def run_tune(folder: str, reuse: bool) -> float:
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    def trainable(config):
        time.sleep(SLEEP)
        tune.report({"loss": (config["x"] - 0.3) ** 2})

    tuner = tune.Tuner(
        trainable, param_space={"x": tune.uniform(0, 1)},
        tune_config=tune.TuneConfig(search_alg=OptunaSearch(metric="loss", mode="min", seed=0), num_samples=N,
                                    max_concurrent_trials=SLOTS, reuse_actors=reuse),
        run_config=tune.RunConfig(storage_path=folder, name=f"reuse{reuse}", verbose=0))
    t0 = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - t0
    assert len(results) == N
    return wall


def main() -> None:
    import ray

    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-tune-defaults", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    ray.init(num_cpus=SLOTS, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    work = N * SLEEP / SLOTS
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("autotune ray backend", run_autotune(tmp)))
        rows.append(("Ray Tune + OptunaSearch, reuse_actors=True", run_tune(tmp, True)))
        if not args.skip_tune_defaults:
            rows.append(("Ray Tune + OptunaSearch, defaults", run_tune(tmp, False)))
    ray.shutdown()
    print(f"{N} trials of a {1000 * SLEEP:.0f} ms objective at concurrency {SLOTS} on a local Ray "
          f"({work:.1f} s of actual work per slot; Ray start-up excluded)")
    ours = rows[0][1]
    for name, wall in rows:
        print(f"  {name:45s}: {wall:7.2f} s   slot efficiency {work / wall:6.1%}   "
              f"autotune is {wall / ours:5.1f}x faster" if wall is not ours else
              f"  {name:45s}: {wall:7.2f} s   slot efficiency {work / wall:6.1%}")


if __name__ == "__main__":
    main()
