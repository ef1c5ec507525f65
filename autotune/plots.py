"""Plots of a study: ``result.plot(kind)`` returns a plotly figure, ``result.importances()`` a pandas Series.

Optuna draws what it has a plot for (optimisation history, parameter importances, parallel coordinates, slices,
contours, the Pareto front), over ``result.to_optuna()``; autotune draws what Optuna cannot show: learning curves
with pruned and *paused* trials marked (a paused trial is not an Optuna state), and a timeline per driver with
running and paused trials and failures marked with their reason.

A study of thousands of trials is sampled where a plot would choke (a contour over 20,000 points, 20,000 curves);
the figure's subtitle says so: which trials it shows, and how they were picked (the trials that set a new best,
the best ones, and a seeded random sample of the rest, so the same study gives the same figure).

Needs plotly (``pip install plotly``, or the ``plots`` extra).
"""

from __future__ import annotations

import datetime
import math
import random
import warnings
from typing import Any

from autotune.database import FINISHED, TrialState
from autotune.errors import AutotuneError, ConfigError

KINDS = ("history", "importances", "parallel", "slice", "contour", "curves", "timeline", "pareto")

# how many trials each plot shows at most (beyond: sampled, and the figure says so)
MAX_POINTS = 2000       # history, slice, pareto: scatter points
MAX_IMPORTANCE = 2000   # trials the importance evaluator sees
MAX_PARALLEL = 300      # parallel coordinates: the best trials
MAX_CONTOUR = 300       # contour: Optuna's contour grows with the square of its trials
MAX_CURVES = 1500       # learning curves
MAX_CURVE_POINTS = 40000
MAX_TIMELINE = 3000     # timeline bars: the most recent trials

COLORS = {TrialState.COMPLETE: "#1f77b4", TrialState.PRUNED: "#ff7f0e", TrialState.PAUSED: "#9467bd",
          TrialState.RUNNING: "#2ca02c", TrialState.FAIL: "#d62728", TrialState.WAITING: "#7f7f7f"}
# the states drawn as curves and bars, in the order of their legend
DRAWN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.PAUSED, TrialState.RUNNING, TrialState.FAIL)
EVALUATORS = ("ped-anova", "fanova", "mdi")


def need_plotly() -> None:
    try:
        import plotly  # noqa: F401
    except ImportError:
        raise ConfigError("plots need plotly: pip install plotly (or, in the autotune checkout, pip install -e "
                          "'.[plots]').") from None


class View:
    """One study's trials, read once, and the samples the plots draw from (the report draws all of its plots
    from one view)."""

    def __init__(self, result, trials=None, seed: int = 0) -> None:
        need_plotly()
        self.result = result
        self.trials = sorted(result.trials if trials is None else trials, key=lambda t: t.number)
        self.metrics, self.modes = list(result.metrics), list(result.modes)
        self.seed = seed
        self.complete = [t for t in self.trials if t.state == TrialState.COMPLETE and t.values
                         and len(t.values) == len(self.metrics) and all(_finite(v) for v in t.values)]
        self._importances: dict[tuple, Any] = {}

    # -- which metric ----------------------------------------------------------------------------------------
    def metric_index(self, metric: str | None) -> int:
        if metric is None:
            return 0
        if metric not in self.metrics:
            raise ConfigError(f"study {self.result.name!r} has no metric {metric!r}; its metrics are "
                              f"{', '.join(self.metrics)}.")
        return self.metrics.index(metric)

    def key(self, i: int):
        """Sort key: best first on metric ``i``."""
        sign = 1.0 if self.modes[i] == "min" else -1.0
        return lambda t: (sign * t.values[i], t.number)

    def need_complete(self, what: str, n: int = 1) -> None:
        if len(self.complete) < n:
            have = len(self.complete)
            raise AutotuneError(f"study {self.result.name!r} has {have} completed trial{'s' * (have != 1)}; the "
                                f"{what} plot needs at least {n}.")

    # -- samples ---------------------------------------------------------------------------------------------
    def sample(self, items: list, n: int, keep: list | None = None) -> list:
        """``keep`` plus a seeded random draw from ``items`` to ``n`` in all, by trial number."""
        keep = list(keep or [])
        if len(items) <= n:
            return sorted({t.number: t for t in items + keep}.values(), key=lambda t: t.number)
        kept = {t.number for t in keep}
        rest = [t for t in items if t.number not in kept]
        drawn = random.Random(self.seed).sample(rest, max(0, min(len(rest), n - len(kept))))
        return sorted(keep + drawn, key=lambda t: t.number)

    def improvers(self, i: int) -> list:
        """The completed trials that set a new best on metric ``i``, in trial order."""
        key, best, out = self.key(i), None, []
        for t in self.complete:
            if best is None or key(t)[0] < best:
                best = key(t)[0]
                out.append(t)
        return out

    def best(self, i: int, n: int) -> list:
        return sorted(self.complete, key=self.key(i))[:n]

    # -- Optuna studies over samples ----------------------------------------------------------------------------
    def optuna(self, trials: list, metric_index: int | None = None, renumber: bool = True):
        """An in-memory Optuna study of the finished ones of ``trials`` (through ``Result.to_optuna``), each
        keeping its autotune number (unless ``renumber`` is False: Optuna's history plot indexes its values by
        trial number, so it is given Optuna's own numbers); with ``metric_index`` in a multi-objective study, a
        single-objective study of that metric."""
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        study = self.result.to_optuna(trials=trials)
        kept = [t for t in trials if t.state in FINISHED]
        if metric_index is not None and len(self.metrics) > 1:
            single = optuna.create_study(direction="minimize" if self.modes[metric_index] == "min" else "maximize",
                                         study_name=study.study_name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                single.set_metric_names([self.metrics[metric_index]])
            frozen = []
            for ft in study.get_trials(deepcopy=False):
                if ft.values is not None:
                    ft.values = [ft.values[metric_index]]
                frozen.append(ft)
            single.add_trials(frozen)
            study = single
        if renumber:
            _renumber(study, [t.number for t in kept])
        return study

    # -- importances -----------------------------------------------------------------------------------------
    def importances(self, evaluator: Any = None, metric: str | None = None, params: list[str] | None = None):
        import optuna
        import pandas as pd

        i = self.metric_index(metric)
        cache_key = (repr(evaluator), i, tuple(params or ()))
        if cache_key in self._importances:
            return self._importances[cache_key].copy()
        self.need_complete("importances", 2)
        made, label = _evaluator(evaluator, self.seed)
        sample = self.sample(self.complete, MAX_IMPORTANCE)
        study = self.optuna(sample, metric_index=i)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study, evaluator=made, params=params)
        series = pd.Series({k: float(v) for k, v in found.items()}, name=self.metrics[i], dtype=float)
        series.index.name = "param"
        series.attrs["evaluator"] = label
        series.attrs["trials"] = len(sample)
        note = f"{label}, over the {len(sample)} completed trials"
        if len(sample) < len(self.complete):
            note = f"{label}, over {len(sample):,} of {len(self.complete):,} completed trials drawn at random"
        series.attrs["note"] = note
        self._importances[cache_key] = series
        return series.copy()

    def top_params(self, n: int, metric: str | None = None) -> list[str]:
        """The ``n`` most important parameters (by the default evaluator), the space's order as a fallback."""
        try:
            return [p for p in self.importances(metric=metric).index[:n]]
        except (AutotuneError, ValueError, RuntimeError):
            names = []
            for t in self.complete:
                names += [p for p in t.params if p not in names]
            return names[:n]


def _renumber(study, numbers: list[int]) -> None:
    """Give the in-memory study's trials their autotune numbers (the plots label trials by number)."""
    frozen = study.get_trials(deepcopy=False)  # the in-memory storage's own objects
    if len(frozen) != len(numbers):
        raise RuntimeError(f"expected {len(numbers)} trials in the Optuna study, found {len(frozen)}")
    for ft, n in zip(frozen, numbers, strict=True):
        ft.number = n
    if [t.number for t in study.get_trials(deepcopy=False)] != numbers:
        raise RuntimeError("this Optuna's in-memory storage copies its trials; the plots cannot label them")


def _evaluator(evaluator: Any, seed: int):
    import optuna

    if evaluator is None or evaluator == "ped-anova":
        return optuna.importance.PedAnovaImportanceEvaluator(), "PED-ANOVA"
    if evaluator == "fanova":
        return optuna.importance.FanovaImportanceEvaluator(seed=seed), "fANOVA"
    if evaluator == "mdi":
        return optuna.importance.MeanDecreaseImpurityImportanceEvaluator(seed=seed), "mean decrease impurity"
    if isinstance(evaluator, optuna.importance.BaseImportanceEvaluator):
        return evaluator, type(evaluator).__name__
    raise ConfigError(f"evaluator must be one of {', '.join(EVALUATORS)} or an Optuna importance evaluator, but got "
                      f"{evaluator!r}.")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _subtitle(fig, note: str | None, title: str | None = None):
    if title:
        fig.update_layout(title={"text": title})
    if note:
        fig.update_layout(title={"subtitle": {"text": note}}, margin={"t": 90})
    return fig


def _shown(n: int, total: int, what: str = "trials") -> str:
    return f"{n:,} of {total:,} {what}"


# -- the plots -------------------------------------------------------------------------------------------------
def importances(result, evaluator: Any = None, metric: str | None = None, params: list[str] | None = None,
                view: View | None = None):
    """Each parameter's importance for ``metric`` (default: the study's first), a pandas Series summing to 1,
    most important first. ``evaluator``: ``"ped-anova"`` (default: Optuna's PED-ANOVA, fast at any size),
    ``"fanova"`` (Optuna's default, slower), ``"mdi"``, or an Optuna importance evaluator. Over at most 2,000
    completed trials (drawn at random, seeded, from a larger study: ``series.attrs["note"]`` says so)."""
    return (view or View(result)).importances(evaluator=evaluator, metric=metric, params=params)


def plot(result, kind: str, *, view: View | None = None, **options):
    """A plotly figure of the study; ``kind`` one of ``KINDS``. Options: ``metric`` (multi-objective studies:
    which one; default the first), ``params`` (importances, parallel, slice, contour), ``evaluator``
    (importances)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown plot {kind!r}; choose one of {', '.join(KINDS)}.")
    view = view or View(result)
    fn = globals()[f"_{kind}"]
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's experimental-API and small-sample warnings
        try:
            return fn(view, **options)
        except TypeError as exc:
            if "unexpected keyword" in str(exc):
                raise ConfigError(f"plot({kind!r}): {exc}") from None
            raise


def _history(view: View, metric: str | None = None):
    import optuna.visualization as ov

    i = view.metric_index(metric)
    view.need_complete("history")
    shown = view.sample(view.complete, MAX_POINTS, keep=view.improvers(i))
    fig = ov.plot_optimization_history(view.optuna(shown, metric_index=i, renumber=False),
                                       target_name=view.metrics[i])
    numbers = [t.number for t in shown]  # Optuna numbered them 0, 1, ...: the x axis gets autotune's numbers
    for trace in fig.data:
        if trace.x is not None:
            trace.x = [numbers[int(x)] for x in trace.x]
    note = None
    if len(shown) < len(view.complete):
        note = (f"{_shown(len(shown), len(view.complete), 'completed trials')}: every one that set a new best "
                "(the best-so-far line is exact) and a random sample of the rest")
    return _subtitle(fig, note, f"Optimisation history of {view.metrics[i]} ({view.modes[i]})")


def _importances(view: View, metric: str | None = None, evaluator: Any = None, params: list[str] | None = None):
    import optuna.visualization as ov

    series = view.importances(evaluator=evaluator, metric=metric, params=params)
    i = view.metric_index(metric)
    fixed = _fixed(series.to_dict())
    study = view.optuna(view.complete[:2], metric_index=i)  # Optuna draws the bars; the values are computed
    fig = ov.plot_param_importances(study, evaluator=fixed, params=list(series.index),
                                    target_name=view.metrics[i])
    return _subtitle(fig, series.attrs["note"], f"Parameter importances for {view.metrics[i]}")


def _fixed(values: dict[str, float]):
    """An importance 'evaluator' that gives importances already computed (Optuna's bar chart draws them)."""
    import optuna

    class Fixed(optuna.importance.BaseImportanceEvaluator):
        def evaluate(self, study, params=None, *, target=None):
            return dict(values)

    return Fixed()


def _parallel(view: View, metric: str | None = None, params: list[str] | None = None):
    import optuna.visualization as ov

    i = view.metric_index(metric)
    view.need_complete("parallel coordinates")
    shown = view.best(i, MAX_PARALLEL)
    fig = ov.plot_parallel_coordinate(view.optuna(shown, metric_index=i), params=params,
                                      target_name=view.metrics[i])
    note = None
    if len(shown) < len(view.complete):
        note = f"the best {len(shown):,} of {len(view.complete):,} completed trials by {view.metrics[i]}"
    return _subtitle(fig, note, f"Parallel coordinates of the best trials ({view.metrics[i]})")


def _slice(view: View, metric: str | None = None, params: list[str] | None = None):
    import optuna.visualization as ov

    i = view.metric_index(metric)
    view.need_complete("slice")
    params = params or view.top_params(4, view.metrics[i])
    best = view.best(i, min(100, MAX_POINTS // 2))
    shown = view.sample(view.complete, MAX_POINTS, keep=best)
    fig = ov.plot_slice(view.optuna(shown, metric_index=i), params=params, target_name=view.metrics[i])
    note = f"the {len(params)} most important parameters" if len(params) > 1 else None
    if len(shown) < len(view.complete):
        note = ((note + "; ") if note else "") + (f"{_shown(len(shown), len(view.complete), 'completed trials')}: "
                                                  f"the best {len(best)} and a random sample of the rest")
    return _subtitle(fig, note, f"Slices of {view.metrics[i]}")


def _contour(view: View, metric: str | None = None, params: list[str] | None = None):
    import optuna.visualization as ov

    i = view.metric_index(metric)
    view.need_complete("contour", 2)
    params = params or view.top_params(2, view.metrics[i])
    if len(params) < 2:
        raise AutotuneError(f"a contour needs two parameters, but study {view.result.name!r} has "
                            f"{len(params)} with values in its completed trials.")
    best = view.best(i, MAX_CONTOUR // 3)
    shown = view.sample(view.complete, MAX_CONTOUR, keep=best)
    fig = ov.plot_contour(view.optuna(shown, metric_index=i), params=params, target_name=view.metrics[i])
    note = f"{params[0]} and {params[1]}" + (", the two most important parameters" if len(params) == 2 else "")
    if len(shown) < len(view.complete):
        note += (f"; {_shown(len(shown), len(view.complete), 'completed trials')}: the best {len(best)} "
                 "and a random sample of the rest")
    return _subtitle(fig, note, f"Contour of {view.metrics[i]}")


def _pareto(view: View, metrics: list[str] | None = None):
    import optuna.visualization as ov

    if len(view.metrics) < 2:
        raise AutotuneError(f"study {view.result.name!r} has one metric ({view.metrics[0]}); the Pareto front is "
                            "for a study of several (see the history plot instead).")
    view.need_complete("Pareto front")
    names = list(metrics or view.metrics[:3])
    idx = [view.metric_index(m) for m in names]
    front_numbers = {t.number for t in view.result.pareto_front} if len(view.complete) else set()
    front = [t for t in view.complete if t.number in front_numbers]
    shown = view.sample(view.complete, MAX_POINTS, keep=front)
    study = view.optuna(shown)
    targets = None if idx == list(range(len(view.metrics))) else (lambda t: [t.values[k] for k in idx])
    fig = ov.plot_pareto_front(study, targets=targets, target_names=names, include_dominated_trials=True)
    notes = []
    if len(idx) < len(view.metrics):
        notes.append(f"{', '.join(names)} of its {len(view.metrics)} metrics")
    notes.append(f"{len(front):,} trials on the front")
    if len(shown) < len(view.complete):
        notes.append(f"{_shown(len(shown), len(view.complete), 'completed trials')}: the whole front and a random "
                     "sample of the rest")
    return _subtitle(fig, "; ".join(notes), "Pareto front")


def _curves(view: View, states: tuple[str, ...] = DRAWN):
    """Learning curves (each trial's reports), one line per trial, coloured by state; a pruned trial ends in an
    x, a paused one (halving: waiting at its rung) in a diamond."""
    import plotly.graph_objects as go

    with_reports = [t for t in view.trials if t.intermediate and t.state in states]
    if not with_reports:
        raise AutotuneError(f"study {view.result.name!r} has no trial that reported intermediate values "
                            "(trial.report); there are no learning curves to draw.")
    shown = with_reports
    total_points = sum(len(t.intermediate) for t in with_reports)
    if len(with_reports) > MAX_CURVES or total_points > MAX_CURVE_POINTS:
        per = total_points / len(with_reports)
        n = int(min(MAX_CURVES, MAX_CURVE_POINTS / max(per, 1)))
        keep = [t for t in view.best(0, min(50, n // 2)) if t.intermediate] if len(view.metrics) == 1 else []
        shown = view.sample(with_reports, n, keep=keep)
    fig = go.Figure()
    mode = view.modes[0]
    for state in states:
        group = [t for t in shown if t.state == state]
        if not group:
            continue
        xs: list[Any] = []
        ys: list[Any] = []
        text: list[Any] = []
        for t in group:
            for s, v in sorted(t.intermediate):
                xs.append(s)
                ys.append(v if _finite(v) else None)
                text.append(f"trial {t.number}")
            xs.append(None)
            ys.append(None)
            text.append(None)
        n_all = sum(t.state == state for t in with_reports)
        label = state.lower() + (f" ({len(group):,} of {n_all:,})" if len(group) < n_all else f" ({n_all:,})")
        fig.add_trace(go.Scatter(x=xs, y=ys, text=text, mode="lines", name=label, legendgroup=state,
                                 line={"color": COLORS[state], "width": 1}, opacity=0.55,
                                 hovertemplate="%{text}<br>step %{x}: %{y}<extra>" + state.lower() + "</extra>"))
        if state in (TrialState.PRUNED, TrialState.PAUSED):
            ends = [(t, sorted(t.intermediate)[-1]) for t in group]
            fig.add_trace(go.Scatter(
                x=[e[1][0] for e in ends], y=[e[1][1] if _finite(e[1][1]) else None for e in ends],
                text=[f"trial {t.number}" for t, _ in ends], mode="markers", legendgroup=state, showlegend=False,
                marker={"symbol": "x" if state == TrialState.PRUNED else "diamond", "color": COLORS[state], "size": 7},
                hovertemplate="%{text} " + state.lower() + " at step %{x}: %{y}<extra></extra>"))
    fig.update_layout(xaxis_title="step", yaxis_title=f"reported value ({view.metrics[0]}, {mode})",
                      legend_title_text="trials")
    note = None
    if len(shown) < len(with_reports):
        note = f"{_shown(len(shown), len(with_reports), 'trials with reports')}: " + (
            f"the best {len(keep)} and a random sample of the rest" if keep else "a random sample")
    return _subtitle(fig, note, "Learning curves (x: pruned, diamond: paused at a rung)")


def drivers(trials: list) -> dict[str, str]:
    """Each driver that ran a trial (its id, as the database keeps it with each trial) named ``driver 1``,
    ``driver 2``, ... in the order they started their first trial; trials the database holds no driver for
    (finished by an autotune that did not keep it) fall under ``driver ?``."""
    first: dict[str, float] = {}
    for t in trials:
        if t.started_at is not None:
            d = getattr(t, "owner", None) or "?"
            first[d] = min(first.get(d, t.started_at), t.started_at)
    known = sorted((d for d in first if d != "?"), key=lambda d: first[d])
    names = {d: f"driver {i + 1}" for i, d in enumerate(known)}
    if "?" in first:
        names["?"] = "driver ?"
    return names


def _timeline(view: View, max_drivers: int = 6):
    """Each trial a bar from its start to its end (a running or paused one to now), one panel per driver, by
    trial number; failures marked with their reason. (Which worker process of a driver ran a trial is not
    stored: trials of one driver that overlap in time ran side by side, or waited paused at a rung.)"""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    started = [t for t in view.trials if t.started_at is not None and t.state != TrialState.WAITING]
    if not started:
        raise AutotuneError(f"study {view.result.name!r} has no trial that started yet; there is no timeline.")
    started.sort(key=lambda t: (t.started_at, t.number))
    shown = started[-MAX_TIMELINE:]
    names = drivers(view.trials)
    by_driver: dict[str, list] = {}
    for t in shown:
        by_driver.setdefault(names[getattr(t, "owner", None) or "?"], []).append(t)
    panels = sorted(by_driver, key=lambda n: (n == "driver ?", int(n.split()[-1]) if n[-1].isdigit() else 0))
    if len(panels) > max_drivers:  # the drivers with most trials get a panel each, the rest share one
        ranked = sorted(panels, key=lambda n: -len(by_driver[n]))
        kept, rest = ranked[:max_drivers - 1], ranked[max_drivers - 1:]
        by_driver[f"{len(rest)} other drivers"] = [t for n in rest for t in by_driver.pop(n)]
        panels = [n for n in panels if n in kept] + [f"{len(rest)} other drivers"]
    sizes = [len(by_driver[n]) for n in panels]
    heights = [max(0.12, k / sum(sizes)) for k in sizes]
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.06 / len(panels),
                        row_heights=[h / sum(heights) for h in heights],
                        subplot_titles=[f"{n}: {len(by_driver[n]):,} trials" for n in panels])
    now = datetime.datetime.now().timestamp()
    legend: set[str] = set()
    for row, panel in enumerate(panels, start=1):
        for state in DRAWN:
            group = [t for t in by_driver[panel] if t.state == state]
            if not group:
                continue
            ends = [t.finished_at if t.finished_at is not None else now for t in group]
            text = [_bar_text(t, end) for t, end in zip(group, ends, strict=True)]
            n_all = sum(t.state == state for t in shown)
            fig.add_trace(go.Bar(
                orientation="h", base=[_iso(t.started_at) for t in group],
                x=[max(1.0, (end - t.started_at) * 1000) for t, end in zip(group, ends, strict=True)],
                y=[t.number for t in group], name=f"{state.lower()} ({n_all:,})", legendgroup=state,
                showlegend=state not in legend, marker={"color": COLORS[state], "line": {"width": 0}},
                opacity=0.45 if state == TrialState.PAUSED else 0.9, text=text, textposition="none",
                hovertemplate="%{text}<extra></extra>"), row=row, col=1)
            legend.add(state)
            if state == TrialState.FAIL:
                fig.add_trace(go.Scatter(
                    x=[_iso(e) for e in ends], y=[t.number for t in group], mode="markers", showlegend=False,
                    legendgroup=state, marker={"symbol": "x", "color": COLORS[TrialState.FAIL], "size": 8}, text=text,
                    hovertemplate="%{text}<extra>failed</extra>"), row=row, col=1)
        fig.update_yaxes(title_text="trial", autorange="reversed", row=row, col=1)
    fig.update_xaxes(type="date")
    fig.update_xaxes(title_text="time", row=len(panels), col=1)
    fig.update_layout(barmode="overlay", bargap=0.1, height=max(360, min(1000, 220 + 160 * len(panels))))
    notes = []
    if len(shown) < len(started):
        notes.append(f"the last {_shown(len(shown), len(started), 'trials')} started")
    if "driver ?" in by_driver:
        notes.append("driver ?: trials whose driver the database did not keep")
    if any(t.state == TrialState.PAUSED for t in shown):
        notes.append("paused trials (faint) wait at their rung until now")
    return _subtitle(fig, "; ".join(notes) or None, "Timeline of trials by driver")


def _bar_text(t, end: float) -> str:
    if t.state == TrialState.PAUSED:
        line = (f"trial {t.number} paused at a rung ({len(t.intermediate)} reports), started "
                f"{end - t.started_at:.3g} s ago")
    elif t.state == TrialState.RUNNING:
        line = f"trial {t.number} running for {end - t.started_at:.3g} s"
    else:
        line = f"trial {t.number} {t.state.lower()} after {end - t.started_at:.3g} s"
    if t.error:
        line += "<br>" + _html(t.error)[:300]
    return line


def _iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).isoformat(timespec="milliseconds")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
