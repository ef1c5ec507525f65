"""Packing trials onto a machine: autotune's workers against plain PyTorch processes doing the same trainings.

The limit is the same small MLP trainings written as plain PyTorch loops, spread over P processes with the
machine's cores shared among them (one thread each on a 2-core machine). autotune runs them as one study of the
ready ``torch_objective`` (the configurations enqueued, so both sides train exactly the same models) at
parallelism P, with its default thread rule (cores / P per worker) and, to show what the rule buys, with every
worker left at all the machine's threads. On a GPU machine (``--device cuda``) the trials share one GPU
(``gpu: 1/P``) and the GPU's utilisation is sampled with nvidia-smi. Both sides are timed as a user would time
them, each command from the shell from its start to its exit, interleaved, the median of ``--repeat`` runs.

    python benchmarks/gpu_pack.py                      # the CPU analogue: P = 1 and 2 on this machine's cores
    python benchmarks/gpu_pack.py --device cuda --parallelism 1 4 8 --rows 50000 --width 256 --trials 16 --epochs 4
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def configs(n: int, seed: int = 0) -> list[dict]:
    import random

    rng = random.Random(seed)
    return [{"hidden": rng.choice([256, 512, 768, 1024]), "layers": rng.choice([2, 3, 4]),
             "lr": 10 ** rng.uniform(-3.5, -2.5), "batch_size": 512} for _ in range(n)]


def data(rows: int, width: int, device: str):
    import torch

    g = torch.Generator().manual_seed(0)
    X = torch.randn(rows, width, generator=g)
    w = torch.randn(width, 10, generator=g)
    y = (X @ w).argmax(1)
    cut = int(rows * 0.8)
    return (X[:cut], y[:cut]), (X[cut:], y[cut:])


def model(config: dict, width: int):
    import torch

    layers, size = [], width
    for _ in range(config["layers"]):
        layers += [torch.nn.Linear(size, config["hidden"]), torch.nn.ReLU()]
        size = config["hidden"]
    return torch.nn.Sequential(*layers, torch.nn.Linear(size, 10))


def plain_worker(args) -> None:
    """The limit: a plain training loop, no checkpoints, no reports, nothing sent anywhere."""
    chunk, rows, width, epochs, device, threads = args
    import torch

    torch.set_num_threads(threads)
    (Xt, yt), (Xv, yv) = data(rows, width, device)
    Xt, yt, Xv, yv = (t.to(device) for t in (Xt, yt, Xv, yv))
    for config in chunk:
        torch.manual_seed(0)
        net = model(config, width).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=config["lr"])
        loss_fn = torch.nn.CrossEntropyLoss()
        g = torch.Generator().manual_seed(0)
        for _ in range(epochs):
            net.train()
            for idx in torch.randperm(len(Xt), generator=g).split(config["batch_size"]):
                idx = idx.to(device)
                opt.zero_grad()
                loss_fn(net(Xt[idx]), yt[idx]).backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                float(loss_fn(net(Xv), yv))
        if device.startswith("cuda"):
            torch.cuda.synchronize()


def plain_main(trials: int, p: int, rows: int, width: int, epochs: int, device: str) -> None:
    """The plain script: the configurations shared among P processes, one thread each where P fill the cores."""
    cfgs = configs(trials)
    threads = max(1, (os.cpu_count() or 1) // p)
    chunks = [cfgs[i::p] for i in range(p)]
    with mp.get_context("spawn").Pool(p) as pool:
        pool.map(plain_worker, [(c, rows, width, epochs, device, threads) for c in chunks])


def run_plain(trials, p, rows, width, epochs, device) -> float:
    """The plain script's wall time from the shell, as autotune's command is timed: start-up and exit included."""
    code = f"import gpu_pack; gpu_pack.plain_main({trials}, {p}, {rows}, {width}, {epochs}, {device!r})"
    env = {**os.environ, "PYTHONPATH": os.path.join(ROOT, "benchmarks")}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - t0


STUDY = """
import autotune as at
from autotune.objectives.torch import torch_objective
import gpu_pack as gp

train, valid = gp.data({rows}, {width}, "{device}")
cfgs = gp.configs({trials})
space = {{"hidden": at.choice([256, 512, 768, 1024]), "layers": at.randint(2, 4), "lr": at.loguniform(1e-4, 1e-2),
         "batch_size": at.fixed(512)}}
study = at.Study(name="pack", space=space, sampler="random", seed=0, n_trials={trials}, parallelism={p},
                 objective=torch_objective(lambda c: gp.model(c, {width}), train, valid, epochs={epochs},
                                           metric="val_loss"), metric="val_loss",
                 enqueue=cfgs, resources={resources})
"""


def run_autotune(trials, p, rows, width, epochs, device, capped: bool) -> float:
    resources = {"gpu": 1 / p} if device.startswith("cuda") else {}
    if not capped:
        resources["cpu"] = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "study.py")
        with open(path, "w") as fh:
            fh.write(STUDY.format(rows=rows, width=width, device=device, trials=trials, p=p, epochs=epochs,
                                  resources=resources))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.path.join(ROOT, "benchmarks")])}
        env.pop("OMP_NUM_THREADS", None)  # the study's rule decides
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "autotune.cli", "run", "study.py", "--storage",
                        f"sqlite:///{folder}/pack.db", "--quiet"], cwd=folder, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0


class GpuSampler:
    """Mean GPU utilisation over a run, from nvidia-smi every 0.2 s (None without a GPU)."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(0.2):
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5).stdout
                self.values.append(float(out.split()[0]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    @property
    def mean(self) -> float | None:
        return sum(self.values) / len(self.values) if self.values else None


class _Mean:
    """The mean GPU utilisation over several runs (None without a GPU)."""

    def __init__(self, means: list[float | None]) -> None:
        known = [m for m in means if m is not None]
        self.mean = sum(known) / len(known) if known else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--parallelism", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side, interleaved; the median is shown")
    ap.add_argument("--json", help="write the figures here too")
    a = ap.parse_args()
    print(f"{a.trials} MLP trainings ({a.rows} x {a.width}, {a.epochs} epochs each) on {a.device}, "
          f"{os.cpu_count()} cores; median of {a.repeat}, each command timed from start to exit")
    rows = []
    for p in a.parallelism:
        gpu = a.device.startswith("cuda")
        plains, ours_runs, utils = [], [], ([], [])
        for _ in range(a.repeat):  # interleaved: a slow spell of a noisy machine hits both sides
            with GpuSampler() as g1:
                plains.append(run_plain(a.trials, p, a.rows, a.width, a.epochs, a.device))
            with GpuSampler() as g2:
                ours_runs.append(run_autotune(a.trials, p, a.rows, a.width, a.epochs, a.device, capped=True))
            utils[0].append(g1.mean)
            utils[1].append(g2.mean)
        plain, ours = statistics.median(plains), statistics.median(ours_runs)
        uncapped = run_autotune(a.trials, p, a.rows, a.width, a.epochs, a.device, capped=False) if p > 1 else None
        g1, g2 = (_Mean(u) for u in utils)
        row = {"parallelism": p, "plain_s": round(plain, 2), "autotune_s": round(ours, 2),
               "ratio": round(ours / plain, 3), "plain_runs": [round(x, 2) for x in plains],
               "autotune_runs": [round(x, 2) for x in ours_runs],
               "autotune_uncapped_s": None if uncapped is None else round(uncapped, 2),
               "gpu_util_plain": g1.mean if gpu else None, "gpu_util_autotune": g2.mean if gpu else None}
        rows.append(row)
        extra = f" | every worker at all {os.cpu_count()} threads: {uncapped:.2f} s" if uncapped else ""
        util = (f" | GPU busy {row['gpu_util_plain']:.0f}% / {row['gpu_util_autotune']:.0f}%"
                if gpu and g1.mean is not None and g2.mean is not None else "")
        print(f"  parallelism {p}: plain processes {plain:6.2f} s | autotune {ours:6.2f} s = "
              f"{ours / plain:.2f}x{extra}{util}", flush=True)
        if a.repeat > 1:
            print(f"    runs: plain {', '.join(f'{x:.2f}' for x in plains)} | autotune "
                  f"{', '.join(f'{x:.2f}' for x in ours_runs)}", flush=True)
    p1 = next((r["autotune_s"] for r in rows if r["parallelism"] == 1), None)
    if p1:
        for r in rows:
            if r["parallelism"] > 1:
                print(f"  autotune at parallelism {r['parallelism']} vs 1: {p1 / r['autotune_s']:.2f}x faster")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
