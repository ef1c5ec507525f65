"""Search quality, Bayesmark-style and offline: how good a configuration each tuner finds in 16, 32 and 64 trials.

Problems: classic functions with known optima (Branin, Hartmann6, Rosenbrock, Ackley, Levy, Styblinski-Tang), a
mixed space of floats, integers and categories, and cross-validated scikit-learn / LightGBM models on bundled data
(SVM, kNN, decision tree, random forest, LightGBM, elastic net, MLP). Tuners: autotune's ``auto``, Optuna's default
TPE, Optuna's GP, scikit-optimize's ``gp_minimize``, Hyperopt's TPE, and random search.

Score (as Bayesmark): per problem and seed, the best loss after b evaluations is normalised so that 0 is the median
loss of one random evaluation and 100 the optimum (known, or the best ever seen by any tuner); scores are averaged
over seeds and problems. auto's paired difference to each peer (same problem, same seed) is printed with its
standard error, to tell a gap from seed noise.

    python benchmarks/quality.py --seeds 20 --workers 2   # ~160 min on 2 cores from scratch; writes quality.json,
                                                          # .png, _raw.jsonl (cached runs are reused: seconds)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

# one thread per worker process for BLAS and PyTorch: two workers on two cores otherwise oversubscribe them, which
# slows the GP samplers down most (set before numpy and torch are imported; a value already set is kept)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings above)

import autotune as at  # noqa: E402

BUDGETS = (16, 32, 64)
TUNERS = ("autotune-auto", "optuna-tpe", "optuna-gp", "skopt-gp_minimize", "hyperopt-tpe", "random")


@dataclass
class Problem:
    name: str
    family: str
    space: dict
    loss: Callable[[dict], float]
    optimum: float | None = None


# -- classic functions -------------------------------------------------------------------------------------------
def _vec(config, d):
    return np.array([config[f"x{i}"] for i in range(d)])


def branin(c):
    x, y = c["x0"], c["x1"]
    b, c_, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x**2 + c_ * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
                 [17, 8, 0.05, 10, 0.1, 14]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(c):
    x = _vec(c, 6)
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))


def rosenbrock(c):
    x = _vec(c, 4)
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def ackley(c):
    x = _vec(c, 5)
    d = len(x)
    return float(-20 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / d)) - np.exp(np.sum(np.cos(2 * np.pi * x)) / d) + 20
                 + math.e)


def levy(c):
    x = _vec(c, 4)
    w = 1 + (x - 1) / 4
    return float(np.sin(np.pi * w[0]) ** 2 + np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
                 + (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2))


def styblinski_tang(c):
    x = _vec(c, 4)
    return float(np.sum(x**4 - 16 * x**2 + 5 * x) / 2)


def mixed(c):
    penalty = {"relu": 0.0, "tanh": 0.4, "sigmoid": 1.0, "linear": 1.5}[c["act"]]
    return ((c["x"] - 0.7) ** 2 + 0.1 * (c["layers"] - 4) ** 2 + penalty + 0.5 * (math.log10(c["lr"]) + 2.5) ** 2
            + (0.3 if c["batchnorm"] is False else 0.0) * c["layers"] / 4)


def _box(d, lo, hi):
    return {f"x{i}": at.uniform(lo, hi) for i in range(d)}


# -- machine-learning problems (cross-validated, deterministic folds) ------------------------------------------
_DATA: dict = {}


def _data(name):
    if name not in _DATA:
        from sklearn import datasets

        if name == "digits":
            X, y = datasets.load_digits(return_X_y=True)
            X, y = X[:600] / 16.0, y[:600]
        else:
            X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        if name != "digits":
            from sklearn.preprocessing import StandardScaler

            X = StandardScaler().fit_transform(X)
        _DATA[name] = (X, y)
    return _DATA[name]


def _cv_loss(model, data, scoring="accuracy"):
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    X, y = _data(data)
    folds = (StratifiedKFold if scoring == "accuracy" else KFold)(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = cross_val_score(model, X, y, cv=folds, scoring=scoring).mean()
    return 1.0 - score if scoring == "accuracy" else -score


def svm(c):
    from sklearn.svm import SVC

    return _cv_loss(SVC(C=c["C"], gamma=c["gamma"]), "breast_cancer")


def knn(c):
    from sklearn.neighbors import KNeighborsClassifier

    return _cv_loss(KNeighborsClassifier(n_neighbors=c["k"], weights=c["weights"], p=c["p"]), "wine")


def tree(c):
    from sklearn.tree import DecisionTreeClassifier

    return _cv_loss(DecisionTreeClassifier(max_depth=c["max_depth"], min_samples_split=c["min_samples_split"],
                                           min_samples_leaf=c["min_samples_leaf"], criterion=c["criterion"],
                                           random_state=0), "breast_cancer")


def forest(c):
    from sklearn.ensemble import RandomForestClassifier

    return _cv_loss(RandomForestClassifier(n_estimators=c["n_estimators"], max_depth=c["max_depth"],
                                           max_features=c["max_features"], random_state=0, n_jobs=1), "wine")


def lgbm(c):
    import lightgbm

    return _cv_loss(lightgbm.LGBMClassifier(num_leaves=c["num_leaves"], learning_rate=c["learning_rate"],
                                            n_estimators=c["n_estimators"], min_child_samples=c["min_child_samples"],
                                            verbose=-1, random_state=0, n_jobs=1), "breast_cancer")


def elastic_net(c):
    from sklearn.linear_model import ElasticNet

    return _cv_loss(ElasticNet(alpha=c["alpha"], l1_ratio=c["l1_ratio"], max_iter=2000), "diabetes", "r2")


def mlp(c):
    from sklearn.neural_network import MLPClassifier

    return _cv_loss(MLPClassifier(hidden_layer_sizes=(c["width"],), alpha=c["alpha"],
                                  learning_rate_init=c["lr"], max_iter=40, random_state=0), "digits")


PROBLEMS = [
    Problem("branin", "functions", {"x0": at.uniform(-5, 10), "x1": at.uniform(0, 15)}, branin, 0.397887),
    Problem("hartmann6", "functions", _box(6, 0, 1), hartmann6, -3.32237),
    Problem("rosenbrock4", "functions", _box(4, -2, 2), rosenbrock, 0.0),
    Problem("ackley5", "functions", _box(5, -5, 5), ackley, 0.0),
    Problem("levy4", "functions", _box(4, -10, 10), levy, 0.0),
    Problem("styblinski_tang4", "functions", _box(4, -5, 5), styblinski_tang, -39.16617 * 4),
    Problem("mixed", "mixed", {"x": at.uniform(0, 2), "layers": at.randint(1, 8),
                               "act": at.choice(["relu", "tanh", "sigmoid", "linear"]),
                               "lr": at.loguniform(1e-5, 1), "batchnorm": at.choice([True, False])}, mixed, 0.0),
    Problem("svm", "ml", {"C": at.loguniform(1e-3, 1e3), "gamma": at.loguniform(1e-5, 10)}, svm),
    Problem("knn", "ml", {"k": at.randint(1, 40), "weights": at.choice(["uniform", "distance"]),
                          "p": at.randint(1, 2)}, knn),
    Problem("tree", "ml", {"max_depth": at.randint(1, 20), "min_samples_split": at.randint(2, 40),
                           "min_samples_leaf": at.randint(1, 30), "criterion": at.choice(["gini", "entropy"])}, tree),
    Problem("forest", "ml", {"n_estimators": at.randint(5, 40), "max_depth": at.randint(1, 12),
                             "max_features": at.uniform(0.05, 1.0)}, forest),
    Problem("lightgbm", "ml", {"num_leaves": at.randint(2, 64, log=True), "learning_rate": at.loguniform(1e-3, 1),
                               "n_estimators": at.randint(10, 60), "min_child_samples": at.randint(2, 60)}, lgbm),
    Problem("elastic_net", "ml", {"alpha": at.loguniform(1e-4, 10), "l1_ratio": at.uniform(0, 1)}, elastic_net),
    Problem("mlp", "ml", {"width": at.randint(4, 128, log=True), "alpha": at.loguniform(1e-6, 1),
                          "lr": at.loguniform(1e-4, 0.3)}, mlp),
]


# -- the tuners, each returning the 64 losses in evaluation order ----------------------------------------------
def run_autotune(p: Problem, seed: int, n: int, sampler: str = "auto") -> list[float]:
    study = at.Study(name=p.name, space=p.space, objective=lambda c, t: p.loss(c), sampler=sampler, n_trials=n,
                     seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        trials = study.run(storage=f"sqlite:///{tmp}/q.db").trials
    return [t.value for t in sorted(trials, key=lambda t: t.number)]


def run_optuna(p: Problem, seed: int, n: int, kind: str) -> list[float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = {"tpe": lambda: optuna.samplers.TPESampler(seed=seed),
               "gp": lambda: optuna.samplers.GPSampler(seed=seed),
               "random": lambda: optuna.samplers.RandomSampler(seed=seed)}[kind]()
    space = at.Space(p.space)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: p.loss(space.sample(t)[1]), n_trials=n)
    return [t.value for t in study.trials]


def _skopt_dims(space):
    from skopt.space import Categorical, Integer, Real

    dims = []
    for name, d in space.items():
        if isinstance(d, at.spaces.Float):
            dims.append(Real(d.low, d.high, prior="log-uniform" if d.log else "uniform", name=name))
        elif isinstance(d, at.spaces.Int):
            dims.append(Integer(d.low, d.high, prior="log-uniform" if d.log else "uniform", name=name))
        else:
            dims.append(Categorical(list(d.values), name=name))
    return dims


def run_skopt(p: Problem, seed: int, n: int) -> list[float]:
    from skopt import gp_minimize

    names = list(p.space)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gp_minimize(lambda x: p.loss(dict(zip(names, [_plain(v) for v in x], strict=True))),
                          _skopt_dims(p.space), n_calls=n, random_state=seed)
    return [float(v) for v in res.func_vals]


def run_hyperopt(p: Problem, seed: int, n: int) -> list[float]:
    from hyperopt import Trials, fmin, hp, tpe

    space = {}
    for name, d in p.space.items():
        if isinstance(d, at.spaces.Float):
            space[name] = (hp.loguniform(name, math.log(d.low), math.log(d.high)) if d.log
                           else hp.uniform(name, d.low, d.high))
        elif isinstance(d, at.spaces.Int):
            space[name] = (hp.qloguniform(name, math.log(d.low), math.log(d.high), 1) if d.log
                           else hp.quniform(name, d.low, d.high, 1))
        else:
            space[name] = hp.choice(name, list(d.values))
    ints = {n for n, d in p.space.items() if isinstance(d, at.spaces.Int)}
    losses: list[float] = []

    def fn(config):
        config = {k: int(round(v)) if k in ints else v for k, v in config.items()}
        losses.append(p.loss(config))
        return losses[-1]

    fmin(fn, space, algo=tpe.suggest, max_evals=n, trials=Trials(), rstate=np.random.default_rng(seed),
         show_progressbar=False)
    return losses


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def run(task):
    p_name, tuner, seed, n = task
    p = next(x for x in PROBLEMS if x.name == p_name)
    t0 = time.perf_counter()
    if tuner == "autotune-auto":  # auto adapts to the budget it is given: one study per budget
        losses = {b: run_autotune(p, seed, b) for b in BUDGETS}
    elif tuner.startswith("autotune-"):  # autotune-<sampler>, to compare auto's choices
        losses = run_autotune(p, seed, n, tuner.split("-", 1)[1])
    elif tuner.startswith("optuna-") or tuner == "random":
        losses = run_optuna(p, seed, n, "random" if tuner == "random" else tuner.split("-")[1])
    elif tuner == "skopt-gp_minimize":
        losses = run_skopt(p, seed, n)
    else:
        losses = run_hyperopt(p, seed, n)
    return p_name, tuner, seed, losses, time.perf_counter() - t0


def random_median(p: Problem, k: int = 256) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = at.Space(p.space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=12345))
    study.optimize(lambda t: p.loss(space.sample(t)[1]), n_trials=k)
    return statistics.median(t.value for t in study.trials)


def main() -> None:
    from multiprocessing import get_context

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--problems", nargs="*", default=[p.name for p in PROBLEMS])
    ap.add_argument("--tuners", nargs="*", default=list(TUNERS))
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "quality"))
    ap.add_argument("--fresh", action="store_true",
                    help="ignore the runs and random medians recorded by an earlier invocation")
    args = ap.parse_args()
    n = max(BUDGETS)
    tasks = [(p, t, s, n) for p in args.problems for t in args.tuners for s in range(args.seeds)]
    raw = args.out + "_raw.jsonl"  # every finished run, so that a rerun of one tuner reuses the others
    done: dict[tuple, tuple] = {}
    if os.path.exists(raw) and not args.fresh:
        with open(raw) as fh:
            for line in fh:
                r = json.loads(line)
                losses = {int(k): v for k, v in r["losses"].items()} if isinstance(r["losses"], dict) else r["losses"]
                done[(r["problem"], r["tuner"], r["seed"])] = (r["problem"], r["tuner"], r["seed"], losses, r["secs"])
    todo = [t for t in tasks if t[:3] not in done]
    with get_context("spawn").Pool(args.workers) as pool, open(raw, "a" if not args.fresh else "w") as fh:
        for q, tuner, seed, losses, secs in pool.imap_unordered(run, todo, chunksize=1):
            done[(q, tuner, seed)] = (q, tuner, seed, losses, secs)
            fh.write(json.dumps({"problem": q, "tuner": tuner, "seed": seed, "losses": losses, "secs": secs}) + "\n")
            fh.flush()
        # the score's zero point, a fixed 256-draw random sample per problem: computed once and kept beside the runs
        med_path = args.out + "_medians.json"
        medians = {}
        if os.path.exists(med_path) and not args.fresh:
            with open(med_path) as fh:
                medians = json.load(fh)
        missing = [q for q in args.problems if q not in medians]
        medians.update(zip(missing, pool.map(random_median, [next(x for x in PROBLEMS if x.name == q)
                                                             for q in missing]), strict=True))
        with open(med_path, "w") as fh:
            json.dump(medians, fh, indent=1, sort_keys=True)
    results = [done[t[:3]] for t in tasks]
    def at_budget(losses, b):  # a tuner's first b losses (auto: its own study of budget b)
        return losses[b] if isinstance(losses, dict) else losses[:b]

    def lowest(losses):
        return min(min(v) for v in losses.values()) if isinstance(losses, dict) else min(losses)

    best_seen = {q: min(lowest(r[3]) for r in results if r[0] == q) for q in args.problems}
    scores: dict[str, dict[int, list[float]]] = {t: {b: [] for b in BUDGETS} for t in args.tuners}
    per_problem: dict[int, dict[str, dict[str, float]]] = {b: {} for b in BUDGETS}  # budget -> problem -> tuner
    seconds: dict[str, float] = {t: 0.0 for t in args.tuners}
    paired: dict[str, dict[int, dict[tuple, float]]] = {t: {b: {} for b in BUDGETS} for t in args.tuners}
    for q, tuner, seed, losses, secs in results:
        prob = next(x for x in PROBLEMS if x.name == q)
        top = min(prob.optimum, best_seen[q]) if prob.optimum is not None else best_seen[q]
        span = medians[q] - top
        seconds[tuner] += secs
        for b in BUDGETS:
            s = 100.0 * (medians[q] - min(at_budget(losses, b))) / span if span > 0 else 100.0
            scores[tuner][b].append(s)
            paired[tuner][b][(q, seed)] = s
            per_problem[b].setdefault(q, {}).setdefault(tuner, 0.0)
            per_problem[b][q][tuner] += s / args.seeds
    table = {t: {b: statistics.mean(v) for b, v in scores[t].items()} for t in args.tuners}
    families: dict[int, dict[str, dict[str, float]]] = {}  # budget -> family -> tuner
    for b in BUDGETS:
        by_family: dict[str, dict[str, list[float]]] = {}
        for p in PROBLEMS:
            if p.name in per_problem[b]:
                for t in args.tuners:
                    by_family.setdefault(p.family, {}).setdefault(t, []).append(per_problem[b][p.name][t])
        families[b] = {f: {t: statistics.mean(v) for t, v in d.items()} for f, d in by_family.items()}
    print(f"mean score (0 = median random evaluation, 100 = optimum) over {len(args.problems)} problems x "
          f"{args.seeds} seeds")
    print(f"{'tuner':20s} " + " ".join(f"{'b=' + str(b):>8s}" for b in BUDGETS) + "   CPU s")
    for t in sorted(args.tuners, key=lambda t: -table[t][32]):
        print(f"{t:20s} " + " ".join(f"{table[t][b]:8.1f}" for b in BUDGETS) + f"  {seconds[t]:7.1f}")
    lead = args.tuners[0]  # autotune's auto, unless --tuners says otherwise
    gaps = {}
    print(f"\n{lead} minus each peer, paired by problem and seed: mean difference +- its standard error "
          f"({len(paired[lead][BUDGETS[0]])} pairs; a difference within about two standard errors is noise)")
    for t in args.tuners[1:]:
        gaps[t] = {}
        for b in BUDGETS:
            d = [paired[lead][b][k] - paired[t][b][k] for k in paired[lead][b]]
            gaps[t][b] = (statistics.mean(d), statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else math.nan)
        print(f"  vs {t:20s} " + "  ".join(f"b={b}: {m:+5.1f} +- {se:3.1f}" for b, (m, se) in gaps[t].items()))
    for b in BUDGETS:
        print(f"\nscore at b={b} by problem family, and the lead minus the best peer there")
        print(f"{'family':12s} " + " ".join(f"{t[:14]:>15s}" for t in args.tuners) + "   lead-best")
        for f, d in families[b].items():
            peer = max(d[t] for t in args.tuners[1:]) if len(args.tuners) > 1 else d[lead]
            print(f"{f:12s} " + " ".join(f"{d[t]:15.1f}" for t in args.tuners) + f"   {d[lead] - peer:+9.1f}")
    for b in BUDGETS:
        print(f"\nscore at b={b} by problem")
        for q, d in per_problem[b].items():
            print(f"{q:18s} " + " ".join(f"{d[t]:7.1f}" for t in args.tuners))
    with open(args.out + ".json", "w") as fh:
        json.dump({"budgets": BUDGETS, "table": table, "families": families, "per_problem": per_problem,
                   "seconds": seconds, "seeds": args.seeds, "problems": args.problems,
                   "paired_differences": {t: {b: {"mean": m, "stderr": se} for b, (m, se) in g.items()}
                                          for t, g in gaps.items()}}, fh, indent=1)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for t in args.tuners:
            ax.plot(BUDGETS, [table[t][b] for b in BUDGETS], marker="o", label=t)
        ax.set_xlabel("trials (budget)")
        ax.set_ylabel("mean normalised score")
        ax.set_xscale("log", base=2)
        ax.set_xticks(BUDGETS, [str(b) for b in BUDGETS])
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.out + ".png", dpi=120)
    except ImportError:
        print("(matplotlib not installed: no plot)", file=sys.stderr)


if __name__ == "__main__":
    main()
