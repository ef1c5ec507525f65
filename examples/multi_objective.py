"""Two objectives at once: a model's error against its latency. `autotune best multi_objective` prints the
Pareto front -- the trials no other trial beats on both.

    autotune run examples/multi_objective.py && autotune best multi_objective
"""

import math

import autotune as at

space = {
    "width": at.randint(8, 512, log=True),
    "depth": at.randint(1, 6),
    "dropout": at.uniform(0.0, 0.5),
}


def objective(config, trial):
    capacity = math.log2(config["width"]) * config["depth"]
    error = 0.05 + 1.0 / (1 + capacity) + 0.2 * (config["dropout"] - 0.2) ** 2
    latency_ms = 0.02 * config["width"] * config["depth"]
    return {"error": error, "latency": latency_ms}


study = at.Study(
    name="multi_objective",
    space=space,
    objective=objective,
    metric=["error", "latency"],
    mode=["min", "min"],
    sampler="nsga2",
    n_trials=60,
    seed=0,
)
