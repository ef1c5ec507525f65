"""The ``autotune automl`` and ``autotune predict`` commands (their parsers are added by ``autotune.cli``)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Any

PREDICT_HELP = (
    "the study's final pipeline (preprocessing and model, refitted on all rows) on new rows: a CSV of predictions "
    "(and a proba_CLASS column per class for classification), read from the study database alone. The pipeline "
    "is stored with skops and loaded trusting only the types autotune writes (scikit-learn models, LightGBM and "
    "XGBoost boosters, autotune's own preprocessing): nothing is unpickled. A pipeline holding other types is "
    "refused unless --trust is given, since loading them can run code that anyone able to write to the database "
    "could have put there.")


EXIT_SECONDS = 1.2


def add_parsers(sub, storage) -> None:
    a = sub.add_parser("automl", help="AutoML on a CSV or Parquet table: the best model within a time budget",
                       description="Search model families and their settings on a table within --time, then refit "
                                   "the best on all rows and keep it in the study database. Running it again "
                                   "with more time continues the same study.")
    a.add_argument("data", metavar="DATA", help="a CSV (with a header row) or Parquet file")
    a.add_argument("--target", required=True, metavar="COL", help="the column to predict")
    a.add_argument("--task", default="auto", choices=["auto", "binary", "multiclass", "classification", "regression"],
                   help="what the target is (default: read from its values)")
    a.add_argument("--metric", default="auto",
                   help="auto (binary: roc_auc, multiclass: log_loss, regression: r2), accuracy, balanced_accuracy, "
                        "log_loss, roc_auc, f1, macro_f1, rmse, mse, mae, r2, mape")
    a.add_argument("--time", default="5m", help="the whole run's time, refit included (default 5m), e.g. 90s, 10m")
    a.add_argument("--n-trials", type=int, help="stop after this many search trials (besides --time)")
    a.add_argument("--parallelism", type=int, default=1, help="trials at once (default 1)")
    a.add_argument("--backend", default="local", choices=["local", "ray"], help="local (default) or ray")
    a.add_argument("--ray-address", help="a Ray cluster to run on (auto, ray://host:10001); with --backend ray")
    storage(a)
    a.add_argument("--name", help="the study's name (default: the file's name and the target, e.g. train-y)")
    a.add_argument("--estimators", metavar="LIST",
                   help="families to search, comma-separated: lgbm, xgboost, catboost, rf, extra_trees, hgb, linear, "
                        "knn, mlp (default: all installed)")
    a.add_argument("--ensemble", action=argparse.BooleanOptionalAction, default=True,
                   help="refit a greedy ensemble of the best trials (Caruana) when it validates better than the best "
                        "one (default); --no-ensemble: always the best single model")
    a.add_argument("--test", metavar="TEST", help="a table with the same columns, to score the final model on")
    a.add_argument("--seed", type=int, default=0, help="seeds the validation split, the models and the sampler")
    a.add_argument("--quiet", action="store_true", help="no line per trial")
    a.set_defaults(fn=cmd_automl)

    p = sub.add_parser("predict", help="the final pipeline of an AutoML study on new rows", description=PREDICT_HELP)
    p.add_argument("name", help="the AutoML study's name")
    p.add_argument("data", metavar="DATA", help="a CSV or Parquet file with the training columns")
    storage(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write the predictions to this CSV (default: stdout)")
    p.add_argument("--trust", action="store_true",
                   help="load a pipeline holding types autotune does not write (loading them can run code: only "
                        "for a database you trust)")
    p.set_defaults(fn=cmd_predict)


def default_name(path: str, target: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{stem}-{target}").strip("_") or "automl"


def _check_test_columns(train, test, path: str) -> None:
    from autotune.automl._data import DataError

    missing = [c for c in train.columns if c not in test.columns]
    extra = [c for c in test.columns if c not in train.columns]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"it lacks {', '.join(repr(c) for c in missing)}")
        if extra:
            parts.append(f"it has {', '.join(repr(c) for c in extra)} that DATA has not")
        raise DataError(f"the test file {path!r} has other columns than DATA: {'; '.join(parts)}. Give a test file "
                        "with DATA's columns (the target included).")


def cmd_automl(args) -> int:
    started = time.time()
    from autotune._checks import parse_duration
    from autotune.automl._data import read_table, split_target
    from autotune.automl._run import Settings, check_settings, run_automl

    budget = parse_duration(args.time, "--time")
    settings = Settings(time_budget=budget, metric=args.metric, task=args.task,
                        estimators=[e for e in args.estimators.split(",") if e.strip()] if args.estimators else None,
                        ensemble=args.ensemble, n_trials=args.n_trials, parallelism=args.parallelism,
                        backend=args.backend, storage=args.storage, name=args.name or default_name(args.data,
                                                                                                  args.target),
                        seed=args.seed, progress=not args.quiet, ray_address=args.ray_address)
    check_settings(settings)
    if args.ray_address and args.backend != "ray":
        from autotune.errors import ConfigError

        raise ConfigError(f"--ray-address {args.ray_address!r} needs --backend ray.")
    frame = read_table(args.data)
    X, y = split_target(frame, args.target)
    test = None
    if args.test:
        test = read_table(args.test, "the test file")
        _check_test_columns(frame, test, args.test)
    n_rows, n_cols = frame.shape
    print(f"automl: {args.data}: {n_rows:,} rows, {n_cols - 1} columns and the target {args.target!r}; "
          f"study '{settings.name}', --time {_secs(budget)}", flush=True)
    # after the run: the report (and scoring --test), and the interpreter's exit, which takes about a second once
    # scikit-learn's estimators (and through them PyTorch) are loaded
    outcome = run_automl(X, y, settings, target=args.target, started=started,
                         reserve_extra=EXIT_SECONDS + (len(test) * 2e-5 if test is not None else 0.0),
                         say=lambda line: print(line, flush=True))
    _report(outcome, args, test, started)
    return 0


def _secs(s: float) -> str:
    return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"


def _report(outcome, args, test, started: float) -> None:
    import math

    sys.stderr.flush()
    task = outcome.task
    if task != "regression":
        shown = ", ".join(map(str, outcome.classes[:10])) + (", ..." if len(outcome.classes) > 10 else "")
        print(f"task: {task} ({len(outcome.classes)} classes: {shown})")
    else:
        print("task: regression")
    for note in outcome.notes:
        print(f"note: {note}")
    board = outcome.leaderboard
    m = outcome.metric
    print(f"\nleaderboard (best validation {m} per estimator, {outcome.validation}):")
    print(f"  {'estimator':<12} {m:>12} {'trial':>6} {'fit s':>8} {'trials':>7} {'pruned':>7} {'failed':>7} "
          f"{'time s':>7}")
    for row in board.to_dict("records"):
        value = row[m]
        shown = f"{value:.6g}" if value is not None and not (isinstance(value, float) and math.isnan(value)) else "-"
        trial = str(int(row["best_trial"])) if row["best_trial"] is not None and not _nan(row["best_trial"]) else "-"
        fit = f"{row['fit_s']:.3f}" if row["fit_s"] is not None and not _nan(row["fit_s"]) else "-"
        print(f"  {row['estimator']:<12} {shown:>12} {trial:>6} {fit:>8} {row['trials']:>7} {row['pruned']:>7} "
              f"{row['failed']:>7} {row['total_s']:>7.1f}")
    print("  (fit s: the best trial's seconds per fit; time s: all its trials' seconds)")
    pipe = outcome.pipeline
    what = pipe.describe()
    source = f"trial {pipe.trials[0]}" if len(pipe.trials) == 1 else f"trials {', '.join(map(str, pipe.trials))}"
    print(f"\nfinal model: {what} ({source}), validation {m} {outcome.final_value:.6g}; refitted on all rows as "
          f"trial {outcome.final_trial}")
    if outcome.ensemble_note:
        print(f"  {outcome.ensemble_note}")
    if test is not None:
        print(_test_score(outcome, test, args))
    elapsed = time.time() - started
    print(f"time: {elapsed:.1f} s of {_secs(outcome.budget)} (search {_secs(outcome.search_seconds)}, final refit "
          f"{_secs(outcome.refit_seconds)}); {outcome.new_trials} trials in this run, "
          f"{len(outcome.result.trials)} in the study")
    storage = "" if args.storage is None else f" --storage {outcome.shown_url}"
    print("use it:")
    print(f"  autotune predict {outcome.name} NEW.csv -o predictions.csv{storage}")
    print(f"  python: at.AutoML.load({outcome.name!r}, storage={outcome.shown_url!r}).predict(frame)")
    print(f"  more time continues the study: autotune automl {args.data} --target {args.target} --time "
          f"{args.time}{' --name ' + outcome.name if args.name else ''}{storage}")


def _nan(v: Any) -> bool:
    return isinstance(v, float) and v != v


def _test_score(outcome, test, args) -> str:
    import numpy as np

    from autotune.automl._metrics import METRICS

    metric = METRICS[outcome.metric]
    pipe = outcome.pipeline
    y = test[args.target]
    keep = y.notna().to_numpy()
    if outcome.task == "regression":
        truth = y[keep].astype(float).to_numpy()
        rows = keep
        unseen = 0
    else:
        index = {str(c): i for i, c in enumerate(outcome.classes)}
        codes = np.array([index.get(str(v), -1) for v in y[keep]])
        unseen = int((codes < 0).sum())
        rows = keep.copy()
        rows[np.nonzero(keep)[0][codes < 0]] = False
        truth = codes[codes >= 0]
    pred = pipe.predict_values(test[rows].drop(columns=[args.target]))
    score = metric.score(truth, pred)
    extra = f"; {unseen} rows with classes the training data lacks left out" if unseen else ""
    return f"test {args.test}: {metric.name} {score:.6g} on {int(rows.sum()):,} rows{extra}"


def cmd_predict(args) -> int:
    import pandas as pd

    from autotune.automl._data import read_table
    from autotune.automl._run import load_final
    from autotune.database import resolve_storage

    url = resolve_storage(args.storage)
    result, number, pipeline = load_final(args.name, url, trust=args.trust)
    frame = read_table(args.data)
    pipeline.prep.check_columns(frame, f"the rows of {args.data}")
    values = pipeline.predict_values(frame)
    out = pd.DataFrame(index=range(len(frame)))
    if pipeline.task == "regression":
        out[pipeline.target] = values
    else:
        out[pipeline.target] = pipeline.decode(values.argmax(axis=1))
        for i, c in enumerate(pipeline.classes):
            out[f"proba_{c}"] = values[:, i]
    if args.output:
        try:
            out.to_csv(args.output, index=False)
        except OSError as exc:
            from autotune.errors import AutotuneError

            raise AutotuneError(f"cannot write {args.output}: {exc.strerror or type(exc).__name__}; give a path "
                                "you can write to.") from None
        print(f"{len(out):,} predictions of study '{args.name}' (trial {number}: {pipeline.describe()}) written to "
              f"{args.output}", file=sys.stderr)
    else:
        sys.stdout.write(out.to_csv(index=False, lineterminator="\n"))
    return 0
