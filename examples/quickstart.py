"""A first study: a Branin-shaped loss with a learning curve, a conditional optimizer choice and an artifact.

    autotune run examples/quickstart.py
"""

import math

import autotune as at

space = {
    "x": at.uniform(-5.0, 10.0),
    "y": at.uniform(0.0, 15.0),
    "lr": at.loguniform(1e-4, 1e-1),
    "layers": at.randint(1, 4),  # bounds are inclusive
    "act": at.choice(["relu", "tanh"]),
    "optimizer": at.choice({  # a choice of sub-spaces: a conditional space
        "sgd": {"momentum": at.uniform(0.0, 0.99)},
        "adam": {"beta1": at.uniform(0.8, 0.999)},
    }),
}


def branin(x: float, y: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


def objective(config, trial):
    base = branin(config["x"], config["y"])
    bonus = 0.1 * abs(math.log10(config["lr"]) + 2.5) + (0.05 if config["act"] == "tanh" else 0.0)
    bonus += 0.02 * config["layers"] + (0.1 * (1 - config.get("momentum", 0.9)) if config["optimizer"] == "sgd" else 0)
    loss = base + bonus
    for epoch in range(5):  # a learning curve that settles at `loss`
        trial.report(loss * (1 + 1.0 / (epoch + 1)), step=epoch)
    trial.save_artifact("model.txt", f"x={config['x']:.4f} y={config['y']:.4f} loss={loss:.6f}\n")
    return loss


study = at.Study(
    name="quickstart",
    space=space,
    objective=objective,
    metric="loss",
    mode="min",
    sampler="auto",
    pruner="median",
    n_trials=40,
    parallelism=2,
    seed=0,
)
