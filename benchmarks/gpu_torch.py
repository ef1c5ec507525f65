"""The PyTorch example on a GPU against the same example on the CPU, on one machine in one run.

Two workloads, each run once on the CPU and once with every trial given a GPU:

- ``example``: ``examples/torch_mlp_digits.py`` through the CLI, as a user runs it: ``autotune run FILE`` (CPU,
  in-process, one thread, as the example sets) and ``autotune run FILE --gpu 1`` (one worker process pinned to
  the GPU). Digits is 1,347 training images of 64 pixels, so this shows the fixed costs: a worker process and a
  CUDA context against a few seconds of training.
- ``wide``: a wider MLP (1,024 units a layer) on 20,000 generated samples of 128 features, 4 trials of 5 epochs
  and no pruning, through the Python API with ``resources={"gpu": 0}`` (the CPU, all its cores) and ``{"gpu": 1}``;
  then on the GPU once more with the data given as DataLoaders (each batch copied to the GPU at each step) instead
  of tensors (moved to the GPU once, batches cut there).

For each: wall time, the trials' states, the devices they report (``device`` and ``device_name`` from
``objectives.torch``), the best validation loss, and the CPU/GPU wall-time ratio.

    python benchmarks/gpu_torch.py [--out FILE.json]     # a machine with an NVIDIA GPU; 2-4 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _summary(name: str, storage: str, wall: float) -> dict:
    import autotune as at

    result = at.load_study(name, storage=storage)
    trials = result.trials
    done = [t for t in trials if t.state == "COMPLETE"]
    return {"wall_s": round(wall, 2), "states": dict(result.counts),
            "devices": sorted({f"{t.metrics.get('device')} ({t.metrics.get('device_name')})" for t in done}),
            "best_val_loss": min(t.metrics["val_loss"] for t in done) if done else None,  # whatever the metric
            "trial_s": round(sum((t.duration or 0.0) for t in trials), 2)}


def run_example(gpu: bool) -> dict:
    folder = tempfile.mkdtemp(prefix="gpu_example_")
    storage = f"sqlite:///{folder}/autotune.db"
    cmd = [sys.executable, "-m", "autotune", "run", os.path.join(ROOT, "examples", "torch_mlp_digits.py"),
           "--storage", storage, "--quiet", *(["--gpu", "1"] if gpu else [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    r = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return _summary("torch_mlp_digits", storage, wall)


def _wide_model(config):
    import torch

    layers, width = [], 128
    for _ in range(3):
        layers += [torch.nn.Linear(width, config["hidden"]), torch.nn.ReLU()]
        width = config["hidden"]
    return torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))


def run_wide(gpu: bool, loaders: bool = False) -> dict:
    import torch
    from sklearn.datasets import make_classification

    import autotune as at
    from autotune.objectives.torch import torch_objective

    X, y = make_classification(n_samples=24000, n_features=128, n_informative=64, n_classes=10, random_state=0)
    X, y = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    train, valid = (X[:20000], y[:20000]), (X[20000:], y[20000:])
    if loaders:  # the user's own DataLoaders: every batch is copied to the GPU at every step
        train, valid = (torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*d), batch_size=b, shuffle=s,
                                                    generator=torch.Generator().manual_seed(0) if s else None)
                        for d, b, s in ((train, 256, True), (valid, 1024, False)))
    folder = tempfile.mkdtemp(prefix="gpu_wide_")
    storage = f"sqlite:///{folder}/autotune.db"
    study = at.Study(name="wide", space={"hidden": at.fixed(1024), "lr": at.loguniform(1e-4, 1e-2),
                                         "batch_size": at.fixed(256)},
                     objective=torch_objective(_wide_model, train, valid, epochs=5,
                                               checkpoint_dir=os.path.join(folder, "ckpt")),
                     metric="val_loss", sampler="random", n_trials=4, seed=0,
                     resources={"cpu": 1, "gpu": 1 if gpu else 0})
    start = time.perf_counter()
    study.run(storage=storage)
    return _summary("wide", storage, time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible to PyTorch: run this on a machine with an NVIDIA GPU.")
    info = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cpu_cores": os.cpu_count()}
    print(json.dumps(info), flush=True)
    figures: dict = {"machine": info}
    for workload, fn in (("example", run_example), ("wide", run_wide)):
        row = {"cpu": fn(False), "gpu": fn(True)}
        if workload == "wide":
            row["gpu_dataloader"] = fn(True, loaders=True)
        row["cpu_over_gpu_wall"] = round(row["cpu"]["wall_s"] / row["gpu"]["wall_s"], 2)
        figures[workload] = row
        for where in [k for k in row if k != "cpu_over_gpu_wall"]:
            f = row[where]
            print(f"{workload:8s} {where:>14s}: {f['wall_s']:7.2f} s wall, {f['trial_s']:7.2f} s in trials, "
                  f"{f['states']}, best val_loss {f['best_val_loss']:.4f}, devices {f['devices']}", flush=True)
        print(f"{workload:8s} CPU / GPU wall time: {row['cpu_over_gpu_wall']:.2f}", flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(figures, fh, indent=1)


if __name__ == "__main__":
    main()
