"""``autotune report NAME``: one self-contained HTML file about a study, readable offline in any browser.

Everything is inside the file: plotly.js (once), each figure's data, the trial table's rows and the few lines of
script that page and sort it; viewing it fetches nothing. Its parts: a header (metric(s) and mode(s), samplers,
budget, counts by state, wall time, drivers, versions), the best trial or the Pareto front, the plots of
``autotune.plots`` (each saying how it sampled a large study) and the trial table. A study still running is
reported as it stands, and the header says it is running.
"""

from __future__ import annotations

import datetime
import html
import json
import os
import time
from collections import Counter
from typing import Any

from autotune.database import RETRIED, UNCOUNTED, TrialState
from autotune.errors import AutotuneError, StorageError

PARETO_ROWS = 200  # the Pareto table's rows at most (the plot shows the whole front)


def write_report(result, path: str | os.PathLike) -> dict[str, Any]:
    """Write the report of ``result``'s study to ``path``; returns ``{"path", "bytes", "trials", "plots",
    "failed_plots"}``."""
    page, info = build_report(result)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise AutotuneError(f"cannot write the report to {path}: {exc.strerror or type(exc).__name__}; give a "
                            "path in a folder you can write to (-o FILE.html).") from None
    return {"path": path, "bytes": os.path.getsize(path), **info}


def build_report(result) -> tuple[str, dict[str, Any]]:
    """The report's HTML, and what it holds."""
    import plotly.offline

    from autotune import plots

    view = plots.View(result)
    figures: list[dict[str, Any]] = []
    for title, kind, options in _plan(view):
        try:
            fig = plots.plot(result, kind, view=view, **options)
            figures.append({"title": title, "kind": kind, "json": fig.to_json(), "note": None})
        except AutotuneError as exc:  # nothing to draw yet (no completed trial, no reports): say why
            figures.append({"title": title, "kind": kind, "json": None, "note": str(exc)})
    parts = [
        _head(result.name, plotly.offline.get_plotlyjs()),
        _header(view),
        _best(view),
        _leaderboard(view),
        _figures(figures),
        _table(view),
        _SCRIPT,
        "</body></html>\n",
    ]
    drawn = sum(f["json"] is not None for f in figures)
    return "".join(parts), {"trials": len(view.trials), "plots": drawn, "failed_plots": len(figures) - drawn}


def _plan(view) -> list[tuple[str, str, dict[str, Any]]]:
    """Which plots, in order: the Pareto front first for a multi-objective study, then per metric what has one."""
    many = len(view.metrics) > 1
    out: list[tuple[str, str, dict[str, Any]]] = []
    if many:
        out.append(("Pareto front", "pareto", {}))
    for m in view.metrics if many else view.metrics[:1]:
        suffix = f": {m}" if many else ""
        out.append(("Optimisation history" + suffix, "history", {"metric": m}))
        out.append(("Parameter importances" + suffix, "importances", {"metric": m}))
    m = view.metrics[0]
    suffix = f": {m}" if many else ""
    out += [("Parallel coordinates of the best trials" + suffix, "parallel", {"metric": m}),
            ("Slices of the most important parameters" + suffix, "slice", {"metric": m}),
            ("Contour of the two most important parameters" + suffix, "contour", {"metric": m}),
            ("Learning curves", "curves", {}),
            ("Timeline", "timeline", {})]
    return out


# -- the parts of the page -------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _script_json(value: Any) -> str:
    """JSON to place inside a <script> element: nothing in it can close the element."""
    text = value if isinstance(value, str) else json.dumps(value, allow_nan=False, default=str)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return _e(v)


def _head(name: str, plotly_js: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>autotune report: {_e(name)}</title><style>{_CSS}</style>"
            f"<script>{plotly_js}</script></head><body>\n")


def _header(view) -> str:
    from autotune import __version__

    result = view.result
    trials = view.trials
    rows: list[tuple[str, str]] = []
    goals = ", ".join(f"{m} ({mode})" for m, mode in zip(view.metrics, view.modes, strict=True))
    rows.append(("metric" if len(view.metrics) == 1 else "metrics", _e(goals)))
    origins = Counter(t.origin or "?" for t in trials)
    rows.append(("proposed by", _e(", ".join(f"{o} ({n:,})" for o, n in origins.most_common())) or "-"))
    budget = result.row.n_trials
    rows.append(("budget", f"{budget:,} trials" if budget else "none recorded (a timeout)"))
    counts = result.counts
    rows.append(("trials", _e(", ".join(f"{n:,} {s.lower()}" for s, n in sorted(counts.items(), key=_state_order)))
                 or "none yet"))
    starts = [t.started_at for t in trials if t.started_at is not None]
    ends = [t.finished_at for t in trials if t.finished_at is not None]
    running = sum(t.state == TrialState.RUNNING for t in trials)
    now = time.time()
    if starts:
        last = now if running else max(ends or starts)
        busy = sum(t.duration for t in trials if t.duration is not None)
        rows.append(("wall time", f"{_duration(last - min(starts))} from {_when(min(starts))} to "
                                  f"{'now' if running else _when(last)}; {_duration(busy)} in trials"))
    rows.append(("created", _when(result.row.created_at)))
    owners = sorted({t.owner for t in trials if t.owner})
    live = _live_drivers(result)
    drivers = f"{len(owners)} ran its finished trials" if owners else "not recorded for its trials"
    if live:
        drivers += "; live now: " + ", ".join(f"{_e(d.host)} pid {d.pid} (heartbeat {now - d.heartbeat_at:.0f} s "
                                               "ago)" for d in live)
    rows.append(("drivers", drivers))
    state = "running" if running or live else "not running"
    rows.append(("status", f"{state}" + (f", {running} trial{'s' * (running != 1)} running" if running else "")
                 + ("; this report shows the study as it stood when it was made" if state == "running" else "")))
    versions = f"autotune {_e(__version__)}, Optuna {_e(_version('optuna'))}, plotly {_e(_version('plotly'))}"
    rows.append(("made by", f"{versions} on {_when(now)}, from {_e(result.db.shown_url)}"))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (f"<header><h1>Study <q>{_e(result.name)}</q></h1><p class=\"sub\">autotune report, "
            f"{len(trials):,} trials</p></header>\n<section id=\"summary\"><table class=\"kv\">{body}</table>"
            "</section>\n")


def _best(view) -> str:
    result = view.result
    if len(view.metrics) > 1:
        front = sorted(result.pareto_front, key=lambda t: t.values)
        if not front:
            return "<section id=\"best\"><h2>Pareto front</h2><p class=\"note\">No completed trial yet.</p></section>\n"
        shown = front[:PARETO_ROWS]
        params = _param_names([result.config(t.params) for t in shown])
        head = "".join(f"<th>{_e(m)} ({m_})</th>" for m, m_ in zip(view.metrics, view.modes, strict=True))
        head += "".join(f"<th>{_e(p)}</th>" for p in params)
        rows = []
        for t in shown:
            config = result.config(t.params)
            cells = "".join(f"<td>{_num(v)}</td>" for v in t.values)
            cells += "".join(f"<td>{_num(config.get(p, ''))}</td>" for p in params)
            rows.append(f"<tr><td>{t.number}</td>{cells}</tr>")
        more = (f"<p class=\"note\">The first {len(shown)} of {len(front):,} trials on the front, by "
                f"{_e(view.metrics[0])}; the plot shows them all.</p>" if len(shown) < len(front) else "")
        return (f"<section id=\"best\"><h2>Pareto front: {len(front):,} trials no other trial beats on every "
                f"metric</h2><div class=\"scroll\"><table class=\"grid\"><tr><th>trial</th>{head}</tr>"
                f"{''.join(rows)}</table></div>{more}</section>\n")
    try:
        best = result.best_trial
    except StorageError as exc:
        return f"<section id=\"best\"><h2>Best trial</h2><p class=\"note\">{_e(exc)}</p></section>\n"
    config = result.config(best.params)
    rows = [("trial", str(best.number)), (_e(view.metrics[0]), _num(best.value))]
    rows += [(_e(k), _num(v)) for k, v in config.items()]
    rows += [(f"metric {_e(k)}", _num(v)) for k, v in best.metrics.items()
             if not k.startswith("_") and k != view.metrics[0]]
    if best.duration is not None:
        rows.append(("duration", _duration(best.duration)))
    try:
        names = result.artifact_names()
    except AutotuneError:
        names = []
    if names:
        rows.append(("artifacts", _e(", ".join(names)) + f" (<code>autotune best {_e(result.name)} --export DIR"
                                                          "</code>)"))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<section id=\"best\"><h2>Best trial</h2><table class=\"kv\">{body}</table></section>\n"


def _leaderboard(view) -> str:
    """An AutoML study's leaderboard: per model family, the best validation score and its trial, the trials run
    and the time spent (what ``autotune automl`` prints at the end)."""
    space = view.result.row.space
    if not (isinstance(space, dict) and space.get("estimator", {}).get("kind") == "conditional"):
        return ""
    try:
        from autotune.automl import leaderboard

        board = leaderboard(view.result)
    except ImportError as exc:
        return ("<section id=\"leaderboard\"><h2>Leaderboard</h2><p class=\"note\">The leaderboard of this AutoML "
                f"study needs the automl extra ({_e(exc)}).</p></section>\n")
    if board.empty:
        return ""
    head = "".join(f"<th>{_e(c)}</th>" for c in board.columns)
    rows = "".join("<tr>" + "".join(f"<td>{'' if v is None or v != v else _num(v)}</td>" for v in row) + "</tr>"
                   for row in board.itertuples(index=False))
    return (f"<section id=\"leaderboard\"><h2>Leaderboard: the best {_e(view.metrics[0])} per model family</h2>"
            f"<div class=\"scroll\"><table class=\"grid\"><tr>{head}</tr>{rows}</table></div></section>\n")


def _figures(figures: list[dict[str, Any]]) -> str:
    out = ["<section id=\"plots\">"]
    for i, f in enumerate(figures):
        out.append(f"<h2>{_e(f['title'])}</h2>")
        if f["json"] is None:
            out.append(f"<p class=\"note\" data-kind=\"{f['kind']}\">{_e(f['note'])}</p>")
            continue
        out.append(f"<div class=\"plot\" id=\"plot-{i}\" data-kind=\"{f['kind']}\"></div>"
                   f"<script type=\"application/json\" id=\"fig-{i}\">{_script_json(f['json'])}</script>")
    out.append("</section>\n")
    return "".join(out)


def _table(view) -> str:
    from autotune.plots import drivers

    result = view.result
    configs = [result.config(t.params) for t in view.trials]
    params = _param_names(configs)
    names = drivers(view.trials)
    many = len(view.metrics) > 1
    columns = ["#", "state", *(view.metrics if many else [view.metrics[0]]), "secs", "started", "driver",
               "origin", *params, "error"]
    rows = []
    for t, config in zip(view.trials, configs, strict=True):
        values = (t.values or [None] * len(view.metrics)) if many else [t.value]
        rows.append([t.number, t.state + ("" if t.counted else " (uncounted)"), *[_cell(v) for v in values],
                     round(t.duration, 3) if t.duration is not None else None,
                     _when(t.started_at) if t.started_at is not None else None,
                     names.get(t.owner or "?") if t.started_at is not None else None,
                     t.origin, *[_cell(config.get(p)) for p in params], t.error])
    data = {"columns": columns, "rows": rows}
    return ("<section id=\"trials\"><h2>Trials</h2><div class=\"controls\"><span id=\"states\"></span>"
            "<input id=\"search\" type=\"search\" placeholder=\"filter rows (text)\"><span id=\"pager\"></span></div>"
            "<div class=\"scroll\"><table class=\"grid\" id=\"trial-table\"></table></div>"
            f"<script type=\"application/json\" id=\"trial-data\">{_script_json(data)}</script></section>\n")


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return float(f"{v:.6g}") if v == v and abs(v) != float("inf") else str(v)
    if v is None or isinstance(v, (int, str, bool)):
        return v
    return json.dumps(v, default=str)


def _param_names(configs: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for c in configs:
        for k in c:
            if k not in seen:
                seen.add(k)
                names.append(k)
    return names


def _state_order(item: tuple[str, int]) -> int:
    order = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.PAUSED, TrialState.RUNNING, TrialState.WAITING,
             TrialState.FAIL, RETRIED, UNCOUNTED]
    return order.index(item[0]) if item[0] in order else len(order)


def _live_drivers(result) -> list[Any]:
    """The drivers registered on the study that heartbeat within the last minute."""
    return [d for d in result.db.drivers(result.row.id) if d.heartbeat_at > time.time() - 60]


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def _when(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3g} s"
    minutes, s = divmod(int(round(seconds)), 60)
    h, m = divmod(minutes, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1180px;
padding:12px 24px 48px;color:#222}
h1{font-size:24px;margin:16px 0 0}h2{font-size:18px;margin:28px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}
.sub{color:#666;margin:2px 0 12px}.note{color:#555;font-style:italic}
table{border-collapse:collapse}.kv th{text-align:left;padding:2px 16px 2px 0;color:#555;font-weight:600;
vertical-align:top;white-space:nowrap}.kv td{padding:2px 0}
.grid{font-size:12.5px}.grid th,.grid td{border:1px solid #ddd;padding:2px 6px;text-align:left;white-space:nowrap;
max-width:420px;overflow:hidden;text-overflow:ellipsis}.grid th{background:#f4f4f4;cursor:pointer;position:sticky;
top:0}.scroll{overflow:auto;max-height:640px}.plot{width:100%;min-height:420px}
.controls{margin:6px 0;display:flex;gap:12px;align-items:center;flex-wrap:wrap}.controls button{margin-right:4px}
.controls button.on{background:#1f77b4;color:#fff;border-color:#1f77b4}
tr.FAIL td{background:#fdecea}tr.PRUNED td{color:#8a4b00}tr.PAUSED td{color:#5b3f86}
"""

_SCRIPT = """<script>
(function () {
  "use strict";
  var report = window.autotuneReport = {plots: 0, rendered: 0, errors: [], done: false};
  var divs = document.querySelectorAll("div.plot");
  report.plots = divs.length;
  var pending = [];
  divs.forEach(function (div) {
    var fig = JSON.parse(document.getElementById("fig-" + div.id.slice(5)).textContent);
    var layout = fig.layout || {};
    layout.autosize = true;
    pending.push(Plotly.newPlot(div, fig.data, layout, {responsive: true, displaylogo: false})
      .then(function () { div.setAttribute("data-rendered", "1"); report.rendered += 1; })
      .catch(function (err) {
        report.errors.push(div.dataset.kind + ": " + err);
        console.error("plot " + div.dataset.kind + " failed: " + err);
      }));
  });

  var data = JSON.parse(document.getElementById("trial-data").textContent);
  var table = document.getElementById("trial-table"), pager = document.getElementById("pager");
  var search = document.getElementById("search"), statesBox = document.getElementById("states");
  var PAGE = 50, page = 0, sortCol = 0, sortDir = 1, state = null, rows = data.rows;
  var states = {};
  data.rows.forEach(function (r) { var s = r[1].split(" ")[0]; states[s] = (states[s] || 0) + 1; });
  function button(label, value) {
    var b = document.createElement("button");
    b.textContent = label;
    b.onclick = function () {
      state = value; page = 0;
      statesBox.querySelectorAll("button").forEach(function (x) { x.classList.remove("on"); });
      b.classList.add("on"); refresh();
    };
    statesBox.appendChild(b);
    return b;
  }
  button("all (" + data.rows.length + ")", null).classList.add("on");
  Object.keys(states).sort().forEach(function (s) { button(s.toLowerCase() + " (" + states[s] + ")", s); });
  function cmp(a, b) {
    var x = a[sortCol], y = b[sortCol];
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    if (typeof x === "number" && typeof y === "number") return (x - y) * sortDir;
    return String(x).localeCompare(String(y)) * sortDir;
  }
  function refresh() {
    var text = search.value.toLowerCase();
    rows = data.rows.filter(function (r) {
      if (state !== null && r[1].split(" ")[0] !== state) return false;
      return !text || r.join(" ").toLowerCase().indexOf(text) >= 0;
    });
    rows.sort(cmp);
    var pages = Math.max(1, Math.ceil(rows.length / PAGE));
    page = Math.min(page, pages - 1);
    var head = "<tr>" + data.columns.map(function (c, i) {
      var mark = i === sortCol ? (sortDir > 0 ? " \\u25b2" : " \\u25bc") : "";
      return "<th data-i='" + i + "'>" + esc(c) + mark + "</th>";
    }).join("") + "</tr>";
    var body = rows.slice(page * PAGE, page * PAGE + PAGE).map(function (r) {
      return "<tr class='" + esc(r[1].split(" ")[0]) + "'>" + r.map(function (v) {
        var t = v === null || v === undefined ? "" : String(v);
        return "<td title='" + esc(t) + "'>" + esc(t) + "</td>";
      }).join("") + "</tr>";
    }).join("");
    table.innerHTML = head + body;
    table.querySelectorAll("th").forEach(function (th) {
      th.onclick = function () {
        var i = Number(th.dataset.i);
        sortDir = i === sortCol ? -sortDir : 1; sortCol = i; refresh();
      };
    });
    pager.innerHTML = "";
    var prev = document.createElement("button"), next = document.createElement("button");
    prev.textContent = "\\u2039 prev"; next.textContent = "next \\u203a";
    prev.disabled = page === 0; next.disabled = page >= pages - 1;
    prev.onclick = function () { page -= 1; refresh(); };
    next.onclick = function () { page += 1; refresh(); };
    var info = document.createElement("span");
    info.textContent = " page " + (page + 1) + " of " + pages + " (" + rows.length + " rows) ";
    pager.appendChild(prev); pager.appendChild(info); pager.appendChild(next);
  }
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/'/g, "&#39;").replace(/"/g, "&quot;");
  }
  search.oninput = function () { page = 0; refresh(); };
  refresh();
  Promise.all(pending).then(function () { report.done = true; });
})();
</script>
"""
