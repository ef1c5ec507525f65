"""Does pruning pay? The LightGBM and PyTorch examples run with their pruner and without any (same sampler, seed
and budget), in one run: total training steps (boosting rounds, epochs), wall time, and the best score.

    python benchmarks/pruning.py
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))


def steps(trial, kind: str) -> int:
    if trial.state == "COMPLETE":
        return int(trial.metrics["rounds_trained" if kind == "lightgbm" else "epochs_trained"])
    return (trial.last_step or 0) + (0 if kind == "lightgbm" else 1)  # rounds are counted from 1, epochs from 0


def measure(study, kind: str, pruner: str, folder: str):
    st = copy.copy(study)
    st.pruner = pruner
    st.name = f"{study.name}-{pruner if isinstance(pruner, str) else type(pruner).__name__}-{id(pruner)}"
    t0 = time.perf_counter()
    result = st.run(storage=f"sqlite:///{os.path.join(folder, 'pruning.db')}")
    wall = time.perf_counter() - t0
    return sum(steps(t, kind) for t in result.trials), wall, result.best_value, result.counts()


def main() -> None:
    import lightgbm_breast_cancer
    import torch_mlp_digits

    cases = [("lightgbm", lightgbm_breast_cancer.study, "boosting rounds"),
             ("torch", torch_mlp_digits.study, "epochs")]
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # torch checkpoints go under ./.autotune
        for kind, study, unit in cases:
            s_none, w_none, b_none, c_none = measure(study, kind, "none", tmp)
            s_pr, w_pr, b_pr, c_pr = measure(study, kind, study.pruner, tmp)
            diff = 100.0 * abs(b_pr - b_none) / abs(b_none)
            better = "better" if (b_pr < b_none) == (study.modes[0] == "min") else "worse"
            print(f"{study.name}: {study.n_trials} trials, {study.sampler} seed {study.seed}, metric "
                  f"{study.metrics[0]} ({study.modes[0]})")
            print(f"  no pruning      : {s_none:6d} {unit:15s} {w_none:6.1f} s   best {b_none:.5f}   {c_none}")
            print(f"  {study.pruner:6s} pruner : {s_pr:6d} {unit:15s} {w_pr:6.1f} s   best {b_pr:.5f}   {c_pr}")
            print(f"  steps ratio {s_pr / s_none:.2f}, wall ratio {w_pr / w_none:.2f}, best score {diff:.2f}% "
                  f"{better if diff else 'equal'}")


if __name__ == "__main__":
    main()
