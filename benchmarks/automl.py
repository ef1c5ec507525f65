"""AutoML at equal wall-clock budgets: autotune's ``at.AutoML`` against FLAML's ``AutoML``.

Data sets (none downloaded): scikit-learn's bundled breast_cancer, wine, iris, digits and diabetes, and generated
tables of some thousands of rows with categorical columns (pandas categories carrying signal, plus a noisy
high-cardinality one) and 10% missing values in a few numeric columns: binary, imbalanced binary, multiclass and
regression. Each data set has a held-out test split of 25% (stratified for classes), fixed per seed.

Per data set, seed and budget, both tools fit the same training rows with one job each (FLAML ``n_jobs=1``;
autotune ``parallelism=1, n_jobs=1`` with its own SQLite file in a temporary folder), each with its default
metric (ROC AUC, log-loss, R^2), in alternating order so that machine load falls on both alike. Test metric:
ROC AUC (binary), accuracy (multiclass), R^2 (regression); log-loss and RMSE are recorded too. Wall time is the
``fit`` call's, and the overrun is wall / budget - 1.

Per data set: each tool's mean test metric with its standard error over seeds; a win, tie or loss for autotune (a
tie when the mean paired difference is within one standard error of it; with a single seed that standard error is
a paired bootstrap over the test rows); the normalised score (min-max over both tools' results on that data set,
1 the best) averaged over seeds; the overruns. Summary: wins + ties as a share of the data sets, and the mean
normalised score of each tool.

    python benchmarks/automl.py --budgets 60 300 --seeds 3 --datasets all --json automl.json
    # ~ data sets x seeds x 2 tools x budget: 11 x 3 x 2 x 360 s = 6.6 h on one core

Runs are appended to ``--raw`` (default benchmarks/automl_raw.jsonl) as they finish; a run already there is reused,
so an interrupted benchmark continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import warnings

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


# -- data sets ------------------------------------------------------------------------------------------------------
def _bundled(loader):
    def load():
        d = loader(as_frame=True)
        return d.data, d.target.to_numpy()
    return load


def _with_categories(X: np.ndarray, rng: np.random.Generator, n_cat: int = 3, missing: float = 0.1) -> pd.DataFrame:
    """A frame from X: the first n_cat columns binned into labelled categories (they keep their signal), a noisy
    high-cardinality category, and ``missing`` of the cells of three numeric columns set to NaN."""
    df = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    for i in range(n_cat):
        col = f"x{i}"
        bins = np.quantile(df[col], np.linspace(0, 1, 6 + 2 * i)[1:-1])
        labels = np.array([f"{chr(97 + i)}{k}" for k in range(len(bins) + 1)])
        perm = rng.permutation(len(labels))          # category order unrelated to the numeric order
        df[col] = pd.Categorical(labels[perm[np.digitize(df[col], bins)]])
    df["noise_cat"] = pd.Categorical([f"id{k}" for k in rng.integers(0, 200, len(df))])
    for col in list(df.columns[n_cat:n_cat + 3]):
        df.loc[rng.random(len(df)) < missing, col] = np.nan
    return df


def _generated(kind: str):
    def load():
        from sklearn import datasets as ds

        rng = np.random.default_rng(1234)
        if kind == "gen_binary":
            X, y = ds.make_classification(5000, 20, n_informative=8, n_redundant=4, flip_y=0.05, random_state=1)
        elif kind == "gen_imbalanced":
            X, y = ds.make_classification(4000, 15, n_informative=6, weights=[0.92], flip_y=0.02, random_state=2)
        elif kind == "gen_multiclass":
            X, y = ds.make_classification(4000, 20, n_informative=10, n_classes=5, n_clusters_per_class=2,
                                          random_state=3)
        elif kind == "gen_hastie":
            X, y = ds.make_hastie_10_2(3000, random_state=4)
            y = (y > 0).astype(int)
        elif kind == "gen_regression":
            X, y = ds.make_regression(5000, 20, n_informative=10, noise=20.0, random_state=5)
            y = y + 30 * np.sin(X[:, 0]) * X[:, 1]                      # some interaction beyond linear
        elif kind == "gen_friedman1":
            X, y = ds.make_friedman1(3000, 10, noise=1.0, random_state=6)
        else:
            raise ValueError(kind)
        return _with_categories(X, rng), y
    return load


def datasets() -> dict:
    from sklearn import datasets as ds

    return {                                     # name: (task, loader)
        "breast_cancer": ("binary", _bundled(ds.load_breast_cancer)),
        "wine": ("multiclass", _bundled(ds.load_wine)),
        "iris": ("multiclass", _bundled(ds.load_iris)),
        "digits": ("multiclass", _bundled(ds.load_digits)),
        "diabetes": ("regression", _bundled(ds.load_diabetes)),
        "gen_binary": ("binary", _generated("gen_binary")),
        "gen_imbalanced": ("binary", _generated("gen_imbalanced")),
        "gen_hastie": ("binary", _generated("gen_hastie")),
        "gen_multiclass": ("multiclass", _generated("gen_multiclass")),
        "gen_regression": ("regression", _generated("gen_regression")),
        "gen_friedman1": ("regression", _generated("gen_friedman1")),
    }


PRIMARY = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}


def split(X, y, task: str, seed: int):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=0.25, random_state=seed,
                            stratify=y if task != "regression" else None)


# -- metrics --------------------------------------------------------------------------------------------------------
def primary_metric(task: str, y, pred, proba) -> float:
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if task == "binary":
        return float(roc_auc_score(y, proba[:, 1]))
    if task == "multiclass":
        return float(accuracy_score(y, pred))
    return float(r2_score(y, pred))


def all_metrics(task: str, y, pred, proba, classes) -> dict:
    from sklearn.metrics import log_loss, mean_squared_error

    out = {PRIMARY[task]: primary_metric(task, y, pred, proba)}
    if task == "regression":
        out["rmse"] = float(math.sqrt(mean_squared_error(y, pred)))
    else:
        p = np.clip(proba, 1e-15, 1)
        out["log_loss"] = float(log_loss(y, p / p.sum(axis=1, keepdims=True), labels=classes))
        if task == "binary":
            from sklearn.metrics import accuracy_score

            out["accuracy"] = float(accuracy_score(y, pred))
    return out


# -- the two tools --------------------------------------------------------------------------------------------------
def _predictions(model, task, X_test, classes):
    pred = np.asarray(model.predict(X_test))
    proba = None
    if task != "regression":
        proba = np.asarray(model.predict_proba(X_test), dtype=float)
        order = [list(model.classes_).index(c) for c in classes]    # columns in the order of `classes`
        proba = proba[:, order]
    return pred, proba


def run_autotune(X_tr, y_tr, X_te, task, budget, seed, tmp):
    import autotune as at

    model = at.AutoML(time_budget=budget, task=task, storage=f"sqlite:///{os.path.join(tmp, 'automl.db')}",
                      name="bench", seed=seed, parallelism=1, n_jobs=1)
    t0 = time.perf_counter()
    model.fit(X_tr, y_tr)
    wall = time.perf_counter() - t0
    best = None
    try:
        best = str(model.leaderboard.iloc[0, 0]) if hasattr(model.leaderboard, "iloc") else None
    except Exception:  # noqa: BLE001 - a label for the record only
        pass
    return model, wall, best


def run_flaml(X_tr, y_tr, X_te, task, budget, seed, tmp):
    from flaml import AutoML

    model = AutoML()
    t0 = time.perf_counter()
    model.fit(X_tr, y_tr, task="classification" if task != "regression" else "regression", time_budget=budget,
              seed=seed, n_jobs=1, verbose=0, log_file_name=os.path.join(tmp, "flaml.log"))
    wall = time.perf_counter() - t0
    return model, wall, model.best_estimator


TOOLS = {"autotune": run_autotune, "flaml": run_flaml}


def one_run(name, task, loader, tool, budget, seed) -> dict:
    X, y = loader()
    X_tr, X_te, y_tr, y_te = split(X, y, task, seed)
    classes = sorted(np.unique(y)) if task != "regression" else None
    rec = {"dataset": name, "task": task, "tool": tool, "budget": budget, "seed": seed,
           "n_train": len(y_tr), "n_test": len(y_te)}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model, wall, best = TOOLS[tool](X_tr, y_tr, X_te, task, budget, seed, tmp)
            pred, proba = _predictions(model, task, X_te, classes)
        except Exception as exc:  # noqa: BLE001 - a failed fit is recorded, and scored as missing
            rec.update(error=f"{type(exc).__name__}: {exc}"[:500])
            return rec
    if hasattr(model, "timings_"):  # autotune's record of where the time went
        rec["timings"] = {k: round(v, 2) if isinstance(v, float) else v for k, v in model.timings_.items()}
    rec.update(wall_s=round(wall, 2), overrun=round(wall / budget - 1, 4), best=best,
               metrics=all_metrics(task, y_te, pred, proba, classes))
    # test predictions, kept for the paired bootstrap when there is a single seed
    rec["y_test"] = np.asarray(y_te).tolist()
    rec["pred"] = pred.tolist() if task != "binary" else None
    rec["proba1"] = proba[:, 1].tolist() if task == "binary" else None
    return rec


# -- the report -----------------------------------------------------------------------------------------------------
def _mean_se(xs):
    m = statistics.fmean(xs)
    se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
    return m, se


def _bootstrap_se(task, a, b, n=500, seed=0) -> float:
    """Standard error of the paired difference of the test metric, resampling the test rows (one seed only)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(a["y_test"])
    pa = np.asarray(a["proba1"] if task == "binary" else a["pred"])
    pb = np.asarray(b["proba1"] if task == "binary" else b["pred"])
    diffs = []
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        if task == "binary" and len(np.unique(y[idx])) < 2:
            continue
        if task == "binary":
            from sklearn.metrics import roc_auc_score

            diffs.append(roc_auc_score(y[idx], pa[idx]) - roc_auc_score(y[idx], pb[idx]))
        elif task == "multiclass":
            diffs.append(np.mean(pa[idx] == y[idx]) - np.mean(pb[idx] == y[idx]))
        else:
            from sklearn.metrics import r2_score

            diffs.append(r2_score(y[idx], pa[idx]) - r2_score(y[idx], pb[idx]))
    return float(np.std(diffs, ddof=1))


def summarise(records: list[dict], budgets, names) -> dict:
    out = {}
    for budget in budgets:
        rows = []
        for name in names:
            recs = [r for r in records if r["dataset"] == name and r["budget"] == budget]
            if not recs:
                continue
            task = recs[0]["task"]
            metric = PRIMARY[task]
            by = {t: {r["seed"]: r for r in recs if r["tool"] == t} for t in TOOLS}
            seeds = sorted(set(by["autotune"]) & set(by["flaml"]))
            if not seeds:
                continue

            def score(r, metric=metric):
                return r["metrics"][metric] if "metrics" in r else float("nan")

            vals = {t: [score(by[t][s]) for s in seeds] for t in TOOLS}
            if any(math.isnan(v) for t in TOOLS for v in vals[t]):
                # a failed fit scores the worst value seen on the data set
                ok = [v for t in TOOLS for v in vals[t] if not math.isnan(v)]
                worst = min(ok) if ok else 0.0
                vals = {t: [worst if math.isnan(v) else v for v in vals[t]] for t in TOOLS}
            diffs = [a - b for a, b in zip(vals["autotune"], vals["flaml"], strict=True)]
            d_mean = statistics.fmean(diffs)
            if len(seeds) > 1:
                d_se = statistics.stdev(diffs) / math.sqrt(len(diffs))
                se_kind = "seeds"
            elif "metrics" in by["autotune"][seeds[0]] and "metrics" in by["flaml"][seeds[0]]:
                d_se = _bootstrap_se(task, by["autotune"][seeds[0]], by["flaml"][seeds[0]])
                se_kind = "bootstrap"
            else:
                d_se, se_kind = 0.0, "failed"
            outcome = "tie" if abs(d_mean) <= d_se else ("win" if d_mean > 0 else "loss")
            allv = vals["autotune"] + vals["flaml"]
            lo, hi = min(allv), max(allv)
            norm = {t: statistics.fmean([(v - lo) / (hi - lo) if hi > lo else 1.0 for v in vals[t]]) for t in TOOLS}
            row = {"dataset": name, "task": task, "metric": metric, "n_train": recs[0]["n_train"],
                   "seeds": len(seeds), "diff": d_mean, "diff_se": d_se, "se_from": se_kind, "outcome": outcome}
            for t in TOOLS:
                m, se = _mean_se(vals[t])
                rs = [by[t][s] for s in seeds]
                row[t] = {"mean": m, "se": se, "norm": norm[t],
                          "overrun_mean": statistics.fmean([r.get("overrun", float("nan")) for r in rs]),
                          "overrun_max": max(r.get("overrun", float("nan")) for r in rs),
                          "errors": [r["error"] for r in rs if "error" in r],
                          "best": [r.get("best") for r in rs]}
            rows.append(row)
        n = len(rows)
        wt = sum(r["outcome"] in ("win", "tie") for r in rows)
        summary = {"datasets": n, "wins": sum(r["outcome"] == "win" for r in rows),
                   "ties": sum(r["outcome"] == "tie" for r in rows),
                   "losses": sum(r["outcome"] == "loss" for r in rows),
                   "wins_plus_ties_share": wt / n if n else float("nan"),
                   "norm_autotune": statistics.fmean([r["autotune"]["norm"] for r in rows]) if rows else float("nan"),
                   "norm_flaml": statistics.fmean([r["flaml"]["norm"] for r in rows]) if rows else float("nan")}
        summary["goal_met"] = bool(n and summary["wins_plus_ties_share"] >= 0.8
                                   and summary["norm_autotune"] > summary["norm_flaml"])
        out[str(budget)] = {"rows": rows, "summary": summary}
    return out


def _fmt(m, se):
    return f"{m:.4f}" if math.isnan(se) else f"{m:.4f} +- {se:.4f}"


def table(report: dict) -> str:
    lines = []
    for budget, part in report.items():
        lines.append(f"\n### Budget {budget} s\n")
        lines.append("| data set | task (metric) | train rows | autotune | FLAML | diff (SE) | result "
                     "| norm. autotune / FLAML | overrun autotune / FLAML |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for r in part["rows"]:
            a, f = r["autotune"], r["flaml"]
            err = " (failed: " + "; ".join(a["errors"] + f["errors"]) + ")" if a["errors"] or f["errors"] else ""
            lines.append(f"| {r['dataset']} | {r['task']} ({r['metric']}) | {r['n_train']} "
                         f"| {_fmt(a['mean'], a['se'])} | {_fmt(f['mean'], f['se'])} "
                         f"| {r['diff']:+.4f} ({r['diff_se']:.4f}) | {r['outcome']}{err} "
                         f"| {a['norm']:.2f} / {f['norm']:.2f} "
                         f"| {a['overrun_mean']:+.1%} / {f['overrun_mean']:+.1%} |")
        s = part["summary"]
        lines.append(f"\nwins / ties / losses: {s['wins']} / {s['ties']} / {s['losses']} of {s['datasets']} "
                     f"(wins + ties {s['wins_plus_ties_share']:.0%}); mean normalised score autotune "
                     f"{s['norm_autotune']:.3f}, FLAML {s['norm_flaml']:.3f}; goal "
                     f"{'met' if s['goal_met'] else 'not met'}")
    return "\n".join(lines)


def main(argv=None) -> int:
    all_sets = datasets()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budgets", type=float, nargs="+", default=[60, 300])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--datasets", nargs="+", default=["all"], help=f"'all' or some of: {' '.join(all_sets)}")
    p.add_argument("--json", help="write the per-data-set report here")
    p.add_argument("--raw", default=os.path.join(HERE, "automl_raw.jsonl"), help="one line per run; reused")
    p.add_argument("--report-only", action="store_true", help="report on the runs already in --raw")
    p.add_argument("--run-seeds", type=int, nargs="+", metavar="SEED",
                   help="run only these seeds (e.g. one per process, each with its own --raw); the report covers "
                        "seeds 0 to --seeds - 1 of the runs in --raw")
    args = p.parse_args(argv)
    names = list(all_sets) if args.datasets == ["all"] else args.datasets
    unknown = [n for n in names if n not in all_sets]
    if unknown:
        p.error(f"unknown data set(s) {unknown}; choose from {list(all_sets)}")
    budgets = [int(b) if float(b).is_integer() else b for b in args.budgets]
    logging.getLogger("flaml").setLevel(logging.ERROR)

    done = []
    if os.path.exists(args.raw):
        with open(args.raw) as fh:
            done = [json.loads(line) for line in fh if line.strip()]
    key = lambda r: (r["dataset"], r["tool"], r["budget"], r["seed"])  # noqa: E731
    have = {key(r) for r in done}
    if not args.report_only:
        k = 0
        for budget in budgets:
            for seed in args.run_seeds if args.run_seeds is not None else range(args.seeds):
                for name in names:
                    task, loader = all_sets[name]
                    order = ["autotune", "flaml"] if k % 2 == 0 else ["flaml", "autotune"]
                    k += 1
                    for tool in order:
                        if (name, tool, budget, seed) in have:
                            continue
                        rec = one_run(name, task, loader, tool, budget, seed)
                        done.append(rec)
                        with open(args.raw, "a") as fh:
                            fh.write(json.dumps(rec) + "\n")
                        m = rec.get("metrics", {}).get(PRIMARY[task], float("nan"))
                        print(f"{time.strftime('%H:%M:%S')} {name:15s} {tool:8s} budget={budget} seed={seed} "
                              f"{PRIMARY[task]}={m:.4f} wall={rec.get('wall_s')} best={rec.get('best')} "
                              f"{rec.get('error', '')}", flush=True)
    records = [r for r in done if r["dataset"] in names and r["budget"] in budgets and r["seed"] < args.seeds]
    report = summarise(records, budgets, names)
    print(table(report))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
