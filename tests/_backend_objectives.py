"""The objective the backend conformance suite runs, in a module of its own: worker processes import it (it is
sent by reference), so it imports nothing heavy."""

import os
import time


def objective(config, trial):
    """``config["mode"]`` says what the trial does: ``value`` reports ``steps`` learning-curve values (going on
    after the reports it was handed, when continued) and returns ``x``; ``hang`` never returns; ``pid`` writes its
    process id to ``config["pidfile"]`` and never returns (the test kills it); ``gather`` waits until the other
    trials of its round (``config["round"]`` trials numbered from ``config["first"]``) run too."""
    mode = config["mode"]
    if mode == "hang":
        time.sleep(600)
    elif mode == "pid":
        with open(config["pidfile"] + ".tmp", "w") as fh:
            fh.write(str(os.getpid()))
        os.replace(config["pidfile"] + ".tmp", config["pidfile"])
        time.sleep(600)
    elif mode == "gather":
        folder = config["dir"]
        open(os.path.join(folder, str(trial.number)), "w").close()
        others = [os.path.join(folder, str(config["first"] + k)) for k in range(config["round"])]
        end = time.monotonic() + 60
        while not all(map(os.path.exists, others)) and time.monotonic() < end:
            time.sleep(0.02)
    first = max((int(step) for step, _ in trial.reports), default=-1) + 1
    for step in range(first, config.get("steps", 0)):
        trial.report(config["x"] + 1.0 / (step + 1), step)
    trial.save_artifact("pid.txt", str(os.getpid()))
    return {"loss": config["x"], "first_step": first, "pid": os.getpid(), "device": trial.device,
            "cvd": os.environ.get("CUDA_VISIBLE_DEVICES", "")}
