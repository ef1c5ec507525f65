"""The ``autotune`` command: thin functions over the Python API, and one handler that turns errors into messages.

Exit codes: 0 done, 1 a user error (one message, no traceback; ``AUTOTUNE_DEBUG=1`` shows it), 2 usage,
130 interrupted by Ctrl-C (the study left resumable, nothing RUNNING).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
from typing import Any

from autotune.database import FINISHED, RETRIED, UNCOUNTED, TrialState
from autotune.errors import AutotuneError, ConfigError


def _storage(args, study=None) -> str:
    from autotune.database import resolve_storage

    if study is not None:
        return study.resolve_storage(args.storage)
    return resolve_storage(args.storage)


def _open(args):
    from autotune.database import StudyDatabase

    return StudyDatabase(_storage(args), create=False)


def _num(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


SHOWN = 200  # characters of one value in a table or a summary line; --json and --format json/csv keep it whole


def _short(text: str) -> str:
    """A value as a person reads it: cut short past SHOWN characters, saying how long it is."""
    return text if len(text) <= SHOWN else f"{text[:SHOWN - 40]}...[{len(text)} characters]"


def _params(params: dict[str, Any], as_json: bool = True) -> str:
    """Parameters on one line, each value cut short (``{"x": 1.0, ...}`` as JSON, or as Python writes a dict)."""
    shown = (f"{json.dumps(k)}: {_short(json.dumps(v, default=str))}" if as_json else f"{k!r}: {_short(repr(v))}"
             for k, v in params.items())
    return "{" + ", ".join(shown) + "}"


# -- commands -------------------------------------------------------------------------------------------------
def cmd_run(args) -> int:
    from autotune._study_file import load_study_file

    study = load_study_file(args.study_file, args.name)
    if args.gpu is not None:
        if not math.isfinite(args.gpu) or args.gpu < 0:
            raise ConfigError(f"--gpu must be the GPUs each trial takes (1, 2, or a share such as 0.5), but got "
                              f"{args.gpu:g}.")
        study.resources = {**study.resources, "gpu": args.gpu}
    if args.mlflow:
        from autotune.callbacks import MLflow

        study.callbacks = [*study.callbacks, MLflow(args.mlflow)]
    if args.fresh:
        _delete_for_fresh(study, _storage(args, study))
    progress: Any = not args.quiet
    result = study.run(storage=_storage(args, study), backend=args.backend, n_trials=args.n_trials,
                       parallelism=args.parallelism, timeout=args.timeout, seed=args.seed, progress=progress,
                       ray_address=args.ray_address)
    counts = result.counts
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"study '{study.name}': {summary or 'no trials'} in {result.db.shown_url}")
    try:
        best = result.best_trial
        print(f"best {study.metrics[0]} = {best.value:.6g} (trial {best.number}): "
              f"{_params(result.best_params, as_json=False)}")
    except AutotuneError as exc:
        if len(study.metrics) == 1:
            print(str(exc))
    if result.run_report and result.run_report.timed_out:
        print("stopped by --timeout; run again to continue.")
    return 0


def _delete_for_fresh(study, url: str) -> None:
    """``run --fresh``: delete the study, if the database holds it, before running it (the flag is the consent)."""
    from autotune.database import StudyDatabase

    try:
        db = StudyDatabase(url, create=False)
    except AutotuneError:  # no database there yet, or none with studies: nothing to delete (the run says why not)
        return
    try:
        row = db.find_study(study.name)
        if row is not None:
            gone = db.delete_study(row.id, refuse_live=study.stale_after)
            print(f"deleted study '{study.name}' ({_gone(gone)}) from {db.shown_url}; running it afresh.")
            _files_left(gone)
    finally:
        db.close()


def _gone(gone: dict[str, Any]) -> str:
    n, a = gone["trials"], gone["artifacts"]
    return f"{n} trial{'s' * (n != 1)}, {a} artifact{'s' * (a != 1)}"


def _files_left(gone: dict[str, Any]) -> None:
    if gone["files_left"]:
        print(f"autotune: warning: {len(gone['files_left'])} artifact file(s) of the external store could not be "
              f"removed; remove them by hand: {', '.join(gone['files_left'])}", file=sys.stderr)


def cmd_delete(args) -> int:
    import inspect

    from autotune.study import Study

    db = _open(args)
    row = db.get_study(args.name)
    n = sum(db.counts().get(row.id, {}).values())
    what = f"study '{args.name}' ({n} trial{'s' * (n != 1)} and their artifacts) from {db.shown_url}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise AutotuneError(f"autotune delete would remove {what} for good, and there is no terminal to confirm "
                                "on (stdin is not one); pass --yes to delete.")
        print(f"delete {what}? This cannot be undone. [y/N] ", end="", file=sys.stderr, flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            print("autotune: nothing deleted.", file=sys.stderr)
            return 1
    # a driver is live by the rule its own stale trials are judged by, with the studies' default grace: a live
    # driver heartbeats every 10 s at most, whatever its study's stale_after
    grace = inspect.signature(Study).parameters["stale_after"].default
    gone = db.delete_study(row.id, refuse_live=grace)
    print(f"deleted study '{args.name}' ({_gone(gone)}) from {db.shown_url}.")
    _files_left(gone)
    return 0


_SHOWN_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING, TrialState.PAUSED,
                 TrialState.WAITING)  # the order `autotune status` lists them in


def cmd_status(args) -> int:
    db = _open(args)
    studies = db.list_studies()
    if args.name:
        studies = [db.get_study(args.name)]
    counts = db.counts()
    out = []
    for s in studies:
        best = db.best_trial(s.id, s.modes[0]) if len(s.metrics) == 1 else None
        c = counts.get(s.id, {})
        out.append({"study": s.name, "metric": s.metrics, "mode": s.modes, "counts": c,
                    "finished": sum(c.get(k, 0) for k in FINISHED),
                    "best_value": _num(best.value) if best else None, "best_trial": best.number if best else None})
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if not out:
        print(f"no studies in {db.shown_url}")
    for s in out:
        c = s["counts"]
        states = " ".join(f"{k.lower()}={c[k]}" for k in (*_SHOWN_STATES, RETRIED, UNCOUNTED) if c.get(k))
        best = f"best {s['best_value']:.6g} (trial {s['best_trial']})" if s["best_trial"] is not None else "best -"
        print(f"{s['study']}: {s['finished']} finished ({states or 'no trials'}) | {'/'.join(s['metric'])} "
              f"{'/'.join(s['mode'])} | {best}")
    return 0


def cmd_trials(args) -> int:
    from autotune.result import Result

    result = Result(_open(args), args.name)
    rows = []
    for t in result.trials:
        rows.append({"number": t.number, "state": t.state,
                     "value": _num(t.value) if len(result.metrics) == 1 else [_num(v) for v in (t.values or [])],
                     "params": result.config(t.params),
                     "duration": round(t.duration, 3) if t.duration is not None else None,
                     "error": t.error, "origin": t.origin})
    if args.format == "json":
        print(json.dumps(rows, indent=2, default=str))
    elif args.format == "csv":  # one column per parameter and per metric, as Result.trials_dataframe()
        import pandas as pd

        frame = result.trials_dataframe()
        if frame.empty:  # a study without trials: the header alone
            values = ["value"] if len(result.metrics) == 1 else [f"values_{m}" for m in result.metrics]
            frame = pd.DataFrame(columns=["number", "state", *values, "duration", "origin", "error"])
        frame["duration"] = pd.to_numeric(frame["duration"]).round(3)  # (None for a trial not started yet)
        sys.stdout.write(frame.to_csv(index=False, lineterminator="\n"))
    else:
        width = max([6] + [len(r["origin"] or "") for r in rows])
        print(f"{'#':>5}  {'state':<8}  {'value':>12}  {'secs':>7}  {'origin':<{width}}  params / error")
        for r in rows:
            value = r["value"] if isinstance(r["value"], list) else (
                f"{r['value']:.6g}" if r["value"] is not None else "-")
            dur = f"{r['duration']:.2f}" if r["duration"] is not None else "-"
            detail = _params(r["params"])
            if r["error"]:
                detail += f"  ! {_short(r['error'])}"
            print(f"{r['number']:>5}  {r['state']:<8}  {str(value):>12}  {dur:>7}  {r['origin'] or '-':<{width}}  "
                  f"{detail}")
    return 0


def cmd_best(args) -> int:
    from autotune.result import Result

    result = Result(_open(args), args.name)
    if len(result.metrics) > 1:
        return _print_pareto(result, args)
    best = result.best_trial
    payload = {"study": args.name, "trial": best.number, "value": _num(best.value), "metric": result.metrics[0],
               "params": result.config(best.params), "metrics": best.metrics,
               "artifacts": result.artifact_names()}
    if args.export:
        payload["exported"] = _export(result, best, payload, args.export)
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
        return 0
    print(f"study '{args.name}': best {payload['metric']} = {best.value:.6g} at trial {best.number}")
    for k, v in payload["params"].items():
        print(f"  {k} = {_short(repr(v))}")
    if payload["artifacts"]:
        print(f"artifacts: {', '.join(payload['artifacts'])}")
    for path in payload.get("exported", []):
        print(f"exported {path}")
    return 0


def _export(result, best, payload: dict[str, Any], folder: str) -> list[str]:
    """The best trial's artifacts, and beside them ``params.json``: its params, value, metric(s) and number."""
    written = result.export_best(folder)
    if "params.json" in payload["artifacts"]:  # the trial's own file of that name is what it saved: kept as is
        print("autotune: warning: the best trial saved an artifact named params.json, exported as it is; the "
              "summary autotune writes under that name (params, value, trial) is left out.", file=sys.stderr)
        return written
    summary = {"study": payload["study"], "trial": best.number, "metric": payload["metric"],
               "value": payload["value"], "params": payload["params"],
               "metrics": {k: _num(v) for k, v in best.metrics.items()}}
    path = os.path.join(folder, "params.json")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(path, "w") as fh:
            json.dump(summary, fh, indent=2, default=str)
            fh.write("\n")
    except OSError as exc:
        raise AutotuneError(f"cannot export into {folder}: {exc.strerror or type(exc).__name__} "
                            f"({exc.filename or path}); give a folder you can write to.") from None
    return [*written, path]


def _print_pareto(result, args) -> int:
    front = result.pareto_front
    if args.export:
        raise AutotuneError(f"study '{args.name}' has several metrics {result.metrics}, so it has no single best "
                            "trial to export; pick one from the Pareto front and use Result.best_artifact.")
    rows = [{"trial": t.number, "values": dict(zip(result.metrics, map(_num, t.values), strict=True)),
             "params": result.config(t.params)} for t in front]
    if args.json:
        print(json.dumps({"study": args.name, "metrics": result.metrics, "modes": result.modes,
                          "pareto_front": rows}, indent=2, default=str))
        return 0
    goals = ", ".join(f"{m} ({mode})" for m, mode in zip(result.metrics, result.modes, strict=True))
    print(f"study '{args.name}': Pareto front of {len(rows)} trials for {goals}")
    width = max(10, *(len(m) for m in result.metrics))
    print(f"{'trial':>6}  " + "  ".join(f"{m:>{width}}" for m in result.metrics) + "  params")
    for r in sorted(rows, key=lambda r: list(r["values"].values())):
        vals = "  ".join(f"{v:>{width}.6g}" for v in r["values"].values())
        print(f"{r['trial']:>6}  {vals}  {_params(r['params'])}")
    return 0


def cmd_pruning(args) -> int:
    from autotune.result import Result
    from autotune.search import replay

    result = Result(_open(args), args.name)
    if len(result.metrics) > 1:
        raise AutotuneError(f"study '{args.name}' has several metrics {result.metrics}; pruners compare trials on "
                            "one, so there is nothing to replay.")
    trials = result.trials
    ended = [t for t in trials if t.state == TrialState.COMPLETE and t.intermediate]
    cut = sum(t.state in (TrialState.PRUNED, TrialState.PAUSED) for t in trials)
    if len(ended) < 2:
        raise AutotuneError(f"study '{args.name}' has {len(ended)} trial(s) that ran to their end and reported "
                            "values (trial.report) along the way; a replay needs at least 2. Run the study (or a "
                            "copy under another name) with pruner='none' first, so that every trial's whole "
                            "learning curve is recorded.")
    mode = result.modes[0]
    ended.sort(key=lambda t: t.number)
    curves = [[v for _, v in sorted(t.intermediate)] for t in ended]
    rows = replay(curves, mode, values=[t.value for t in ended])
    payload = {"study": args.name, "metric": result.metrics[0], "mode": mode, "trials": len(curves),
               "left_out": cut, "reports": sum(map(len, curves)),
               "pruners": [{"pruner": r.label, "reports": round(r.steps, 4), "best": _num(r.best),
                            "kept_best": r.kept_best} for r in rows]}
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    print(f"study '{args.name}': {len(curves)} trials ran to their end, {payload['reports']} reports of "
          f"{result.metrics[0]} ({mode}); each pruner replayed over them in trial order.")
    if cut:
        print(f"({cut} trials stopped early -- pruned or paused -- are left out: their curves are incomplete.)")
    print(f"{'pruner':24s} {'reports':>8s} {'best found':>12s}  the study's best")
    best = min((t.value for t in ended), key=lambda v: v if mode == "min" else -v)
    print(f"{'none':24s} {1.0:8.2f} {best:12.6g}  kept")
    for r in rows:
        print(f"{r.label:24s} {r.steps:8.2f} {r.best:12.6g}  {'kept' if r.kept_best else 'lost'}")
    print("The configurations are held fixed: a live pruned study's sampler would also learn from the pruned\n"
          "trials and propose other ones (benchmarks/pruning.py measures both effects on the examples).")
    return 0


def cmd_report(args) -> int:
    import time

    from autotune.plots import need_plotly
    from autotune.report import write_report
    from autotune.result import Result

    need_plotly()  # before the database is read: the one thing a user may have to install
    t0 = time.perf_counter()
    result = Result(_open(args), args.name)
    path = args.output or f"{args.name}-report.html"
    if os.path.isdir(path):
        raise AutotuneError(f"-o {path} is a folder; give the report's file name, e.g. -o {args.name}.html.")
    done = write_report(result, path)
    failed = f", {done['failed_plots']} with nothing to show yet" if done["failed_plots"] else ""
    plots = f"{done['plots']} plot{'s' * (done['plots'] != 1)}"
    print(f"wrote the report of study '{args.name}' ({done['trials']:,} trials, {plots}{failed}) to "
          f"{path} ({done['bytes'] / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s; it opens offline in any "
          "browser.")
    return 0


def cmd_dashboard(args) -> int:
    from autotune.result import Result

    try:
        import optuna_dashboard  # noqa: F401
    except ImportError:
        raise AutotuneError("autotune dashboard needs optuna-dashboard: pip install optuna-dashboard (or, in the "
                            "autotune checkout, pip install -e '.[dashboard]').") from None
    from autotune.dashboard import serve

    result = Result(_open(args), args.name)
    n = sum(result.counts.values())
    print(f"serving study '{args.name}' ({n} trials so far; new ones appear as drivers save them, read-only) at "
          f"http://{args.host}:{args.port}/ ; Ctrl-C stops it.", flush=True)
    serve(result, args.host, args.port)
    return 0


def cmd_db_upgrade(args) -> int:
    from autotune.database import StudyDatabase, mask_url

    url = _storage(args)
    before, after = StudyDatabase.upgrade(url)
    if before == after:
        print(f"{mask_url(url)} is at schema version {after}; nothing to do.")
    else:
        print(f"upgraded {mask_url(url)} from schema version {before} to {after}.")
    return 0


# -- the parser and the error handler --------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    from autotune import __version__

    p = argparse.ArgumentParser(prog="autotune", description="Hyperparameter search that never loses a trial.")
    p.add_argument("--version", action="version", version=f"autotune {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def storage(sp, study_file: bool = False):
        sp.add_argument("--storage", metavar="URL", help=(
            "study database URL, sqlite:///FILE or postgresql://user:password@host/db (default: $AUTOTUNE_STORAGE, "
            + ("then the study's storage=, " if study_file else "") + "then sqlite:///autotune.db in this folder)"))

    r = sub.add_parser("run", help="create or continue a study until it holds its n_trials finished trials")
    r.add_argument("study_file", help="the Python file that declares the study")
    r.add_argument("--name", help="which study, when the file declares several")
    storage(r, study_file=True)
    r.add_argument("--backend", help="local or ray (default: the study's)")
    r.add_argument("--ray-address", help="a Ray cluster to run on (auto, ray://host:10001); with --backend ray")
    r.add_argument("--n-trials", type=int, help="the study's total number of finished trials")
    r.add_argument("--parallelism", type=int, help="trials at once")
    r.add_argument("--timeout", help="stop starting trials after this long, e.g. 30m, 2h, 90s")
    r.add_argument("--seed", type=int, help="the sampler's seed (default: the study's seed=); with parallelism 1 a "
                                           "seeded run is reproducible")
    r.add_argument("--gpu", type=float, metavar="SHARE",
                   help="GPUs per trial (1, 2, or 0.5 for two trials a GPU): overrides the study's resources, so one "
                        "study file runs on a laptop and on a GPU node")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument("--mlflow", metavar="URI", help="log each finished trial to MLflow as a run nested under the "
                                                  "study's run (sqlite:///mlflow.db, http://host:5000, a folder)")
    r.add_argument("--fresh", action="store_true",
                   help="delete the study (its trials and artifacts) first and start it anew; refused while another "
                        "driver is live on it")
    r.set_defaults(fn=cmd_run)

    s = sub.add_parser("status", help="studies with counts by state and best value")
    s.add_argument("name", nargs="?", help="one study (default: every study in the database)")
    storage(s)
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(fn=cmd_status)

    t = sub.add_parser("trials", help="every trial of a study")
    t.add_argument("name", help="the study's name")
    storage(t)
    t.add_argument("--format", choices=["table", "csv", "json"], default="table",
                   help="table (default); csv: one column per parameter and per metric; json")
    t.set_defaults(fn=cmd_trials)

    b = sub.add_parser("best", help="best value, params and trial; --export writes its artifacts")
    b.add_argument("name", help="the study's name")
    storage(b)
    b.add_argument("--json", action="store_true", help="print JSON")
    b.add_argument("--export", metavar="DIR", help="write the best trial's artifacts into DIR, and params.json (its "
                                                   "params, value, metrics and trial number)")
    b.set_defaults(fn=cmd_best)

    pr = sub.add_parser("pruning", help="replay pruners over a study's recorded learning curves: what each would "
                                        "have saved and whether it keeps the best trial")
    pr.add_argument("name", help="the study's name")
    storage(pr)
    pr.add_argument("--json", action="store_true", help="print JSON")
    pr.set_defaults(fn=cmd_pruning)

    rep = sub.add_parser("report", help="write one self-contained HTML report of a study (opens offline)")
    rep.add_argument("name", help="the study's name")
    storage(rep)
    rep.add_argument("-o", "--output", metavar="FILE", help="the HTML file to write (default: NAME-report.html)")
    rep.set_defaults(fn=cmd_report)

    dash = sub.add_parser("dashboard", help="serve optuna-dashboard on the study, live and read-only")
    dash.add_argument("name", help="the study's name")
    storage(dash)
    dash.add_argument("--host", default="127.0.0.1",
                      help="the address to serve on (default: 127.0.0.1, this machine only; 0.0.0.0 for all)")
    dash.add_argument("--port", type=int, default=8080, help="the port to serve on (default: 8080)")
    dash.set_defaults(fn=cmd_dashboard)

    de = sub.add_parser("delete", help="remove a study with its trials and artifacts (refused while a driver is "
                                       "live on it)")
    de.add_argument("name", help="the study's name")
    storage(de)
    de.add_argument("--yes", action="store_true", help="delete without asking (needed when stdin is not a terminal)")
    de.set_defaults(fn=cmd_delete)

    from autotune.automl import add_parsers as add_automl_parsers  # (scikit-learn loads only when they run)

    add_automl_parsers(sub, storage)

    d = sub.add_parser("db", help="study database maintenance")
    dsub = d.add_subparsers(dest="db_command", required=True)
    up = dsub.add_parser("upgrade", help="migrate the study database to this autotune's schema version")
    storage(up)
    up.set_defaults(fn=cmd_db_upgrade)
    return p


def _speak_plainly(debug: bool) -> None:
    """autotune's own warnings and notices as ``autotune: warning: ...`` lines on stderr (not Python's
    ``file:line: UserWarning`` form, which points into autotune rather than at the user's study)."""
    import logging
    import warnings

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if debug or not filename.startswith(os.path.dirname(os.path.abspath(__file__)) + os.sep):
            return shown(message, category, filename, lineno, file, line)
        print(f"autotune: warning: {message}", file=sys.stderr, flush=True)

    warnings.showwarning = show
    log = logging.getLogger("autotune")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("autotune: warning: %(message)s"))
        log.addHandler(handler)
        log.propagate = False


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    debug = os.environ.get("AUTOTUNE_DEBUG") == "1"
    _speak_plainly(debug)
    try:
        return args.fn(args)
    except AutotuneError as exc:
        if debug:
            raise
        print(f"autotune: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("\nautotune: interrupted; the study is saved and resumes with the same command.", file=sys.stderr)
        return 130


def entry() -> None:  # pragma: no cover - the `autotune` command (tests call main() in their own process)
    """Run the command, then leave without the interpreter's teardown (see ``autotune._leave``): other threads
    are joined and the study databases closed first, so nothing is lost by leaving early."""
    code = main()
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    from autotune._leave import leave
    from autotune.database import close_open

    close_open()
    leave(code or 0)


if __name__ == "__main__":  # pragma: no cover
    entry()
