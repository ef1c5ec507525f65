"""``autotune report`` and the plots: each report opened in headless Chromium, every plot rendered, the console
clean, nothing fetched from the network. ``AUTOTUNE_REPORT_SCREENSHOTS=DIR`` also saves a full-page screenshot of
each report there (the README's pictures are made so)."""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from conftest import ROOT, cli, dump, write_study

import autotune as at
from autotune.errors import AutotuneError, ConfigError

pytest.importorskip("plotly")

CHROMIUM = os.environ.get("AUTOTUNE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

HALVING = """
import math
import os

import autotune.search

STOP_AT = int(os.environ.get("STOP_AT", "-1"))


def objective(config, trial):
    # a learning curve that decays towards a floor set by the configuration
    if trial.number == STOP_AT:
        raise KeyboardInterrupt  # (the test stops the run here, as Ctrl-C would)
    lr, width = config["lr"], config["width"]
    if lr > 0.3 and config["optimizer"] == "sgd":
        raise FloatingPointError(f"loss diverged at lr={lr:.3g}")
    floor = 0.05 + 0.1 * (math.log10(lr) + 2) ** 2 + 8.0 / width + config.get("momentum", 0.5) * 0.05
    loss = floor
    for epoch in range(16):
        loss = floor + 2.0 * math.exp(-(0.15 + 0.5 * lr ** 0.25) * (epoch + 1))
        trial.report(loss, epoch)
    return loss


study = at.Study(
    name="halving",
    space={"lr": at.loguniform(1e-5, 1.0), "width": at.randint(16, 512, log=True),
           "optimizer": at.choice({"sgd": {"momentum": at.uniform(0.0, 0.99)}, "adam": {}})},
    objective=objective, pruner=autotune.search.HalvingPruner(cohort=250), sampler="random", n_trials=2000,
    seed=0)
"""

MULTI = """
import math


def objective(config, trial):
    capacity = math.log2(config["width"]) * config["depth"]
    error = 0.05 + 1.0 / (1 + capacity) + 0.2 * (config["dropout"] - 0.2) ** 2
    for epoch in range(5):
        trial.report(error * (1 + 1.0 / (epoch + 1)), epoch)
    return {"error": error, "latency": 0.02 * config["width"] * config["depth"]}


study = at.Study(name="multi", space={"width": at.randint(8, 512, log=True), "depth": at.randint(1, 6),
                                      "dropout": at.uniform(0.0, 0.5)},
                 objective=objective, metric=["error", "latency"], mode=["min", "min"], sampler="nsga2",
                 n_trials=300, parallelism=2, seed=0)
"""


def open_in_chromium(path, screenshot: str | None = None) -> dict:
    """Open the report in headless Chromium with the network cut: what the page says of its plots, the console's
    errors and warnings, and every request that was not for the file itself."""
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is not installed (apt-get install chromium); the report tests need it")
        pytest.skip("Chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            console, requests = [], []
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning")
                    else None)
            page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))

            def route(r):
                if r.request.url.startswith("file:"):
                    return r.continue_()
                requests.append(r.request.url)
                return r.abort()

            page.route("**/*", route)
            page.goto(f"file://{path}")
            page.wait_for_function("window.autotuneReport && window.autotuneReport.done", timeout=120_000)
            state = page.evaluate("""() => ({
                report: window.autotuneReport,
                plots: Array.from(document.querySelectorAll("div.plot")).map(d => ({
                    kind: d.dataset.kind, rendered: d.dataset.rendered === "1",
                    svg: d.querySelectorAll(".main-svg").length, height: d.getBoundingClientRect().height,
                    traces: (d.data || []).length})),
                notes: Array.from(document.querySelectorAll("#plots p.note")).map(p => p.textContent),
                rows: document.querySelectorAll("#trial-table tr").length,
                title: document.title,
            })""")
            if screenshot:
                page.screenshot(path=screenshot, full_page=True)
            fail = page.locator("#states button:has-text('fail')")
            if fail.count():
                fail.click()  # the trial table filters by state
                state["fail_rows"] = page.evaluate("document.querySelectorAll('#trial-table tr.FAIL').length")
                state["shown_rows"] = page.evaluate("document.querySelectorAll('#trial-table tr').length - 1")
        finally:
            browser.close()
    state["console"], state["requests"] = console, requests
    return state


def check_rendered(state: dict, kinds: list[str]) -> None:
    assert state["console"] == [] and state["requests"] == [], (state["console"], state["requests"])
    assert state["report"]["errors"] == [] and state["notes"] == [], (state["report"], state["notes"])
    assert sorted(p["kind"] for p in state["plots"]) == sorted(kinds)
    for p in state["plots"]:
        assert p["rendered"] and p["svg"] >= 1 and p["height"] > 200 and p["traces"] >= 1, p


def _screenshot(name: str) -> str | None:
    folder = os.environ.get("AUTOTUNE_REPORT_SCREENSHOTS")
    return os.path.join(folder, name) if folder else None


def _figure(path, kind: str) -> dict:
    """A figure's data as the report holds it."""
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r'<div class="plot" id="plot-(\d+)" data-kind="(\w+)">', text):
        if m.group(2) == kind:
            start = text.index(f'<script type="application/json" id="fig-{m.group(1)}">')
            body = text[text.index(">", start) + 1:text.index("</script>", start)]
            return json.loads(body.replace("<\\/", "</"))
    raise AssertionError(f"no {kind} plot")


@pytest.mark.slow
def test_report_of_a_2000_trial_halving_study_in_chromium(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    write_study(tmp_path, HALVING)
    # the first run stops at trial 300 (as Ctrl-C would): trials paused at their rung, one failed, one queued
    out = cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path, env={"STOP_AT": "300"})
    assert out.returncode == 130, out.stderr
    out = cli("report", "halving", "--storage", url, "-o", "paused.html", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    kinds = ["history", "importances", "parallel", "slice", "contour", "curves", "timeline"]
    check_rendered(open_in_chromium(tmp_path / "paused.html"), kinds)
    curves = _figure(tmp_path / "paused.html", "curves")
    paused = [t for t in curves["data"] if t.get("legendgroup") == "PAUSED"]
    assert paused and any(t.get("marker", {}).get("symbol") == "diamond" for t in paused)  # paused marked
    timeline = _figure(tmp_path / "paused.html", "timeline")
    assert any(t["name"].startswith("paused") for t in timeline["data"] if t.get("showlegend", True))

    # the rest of the budget, by a second driver with two workers
    out = cli("run", "study.py", "--storage", url, "--quiet", "--parallelism", "2", cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr
    result = at.load_study("halving", storage=url)
    counts = result.counts
    assert counts["COMPLETE"] + counts["PRUNED"] + counts["FAIL"] == 2000 and "PAUSED" not in counts
    before = dump(url)
    out = cli("report", "halving", "--storage", url, "-o", "report.html", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert dump(url) == before  # a report only reads
    assert re.search(r"wrote the report of study 'halving' \(2,001 trials, 7 plots\) to report\.html", out.stdout)
    size = os.path.getsize(tmp_path / "report.html")
    assert size < 20e6
    state = open_in_chromium(tmp_path / "report.html", _screenshot("report-halving.png"))
    check_rendered(state, kinds)
    assert state["title"] == "autotune report: halving"
    assert state["rows"] == 51  # a page of 50 trials and the header
    assert state["fail_rows"] == state["shown_rows"] == min(50, counts["FAIL"] + counts.get("RETRIED", 0))
    curves = _figure(tmp_path / "report.html", "curves")
    pruned = [t for t in curves["data"] if t.get("legendgroup") == "PRUNED"]
    assert any(t.get("marker", {}).get("symbol") == "x" for t in pruned)  # pruned marked
    timeline = _figure(tmp_path / "report.html", "timeline")
    titles = [a["text"] for a in timeline["layout"]["annotations"]]
    assert [t.split(":")[0] for t in titles] == ["driver 1", "driver 2"]  # one panel per driver
    fails = [t for t in timeline["data"] if t.get("legendgroup") == "FAIL" and t["type"] == "scatter"]
    assert any("FloatingPointError: loss diverged" in text for t in fails for text in t["text"])
    html = open(tmp_path / "report.html", encoding="utf-8").read()
    best = result.best_trial
    assert f"<tr><th>trial</th><td>{best.number}</td></tr>" in html
    assert "2 ran its finished trials" in html and "loss (min)" in html


@pytest.mark.slow
def test_report_of_a_multi_objective_study_in_chromium(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    write_study(tmp_path, MULTI)
    assert cli("run", "study.py", "--storage", url, "--quiet", cwd=tmp_path).returncode == 0
    out = cli("report", "multi", "--storage", url, "-o", "multi.html", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    state = open_in_chromium(tmp_path / "multi.html", _screenshot("report-multi-objective.png"))
    check_rendered(state, ["pareto", "history", "history", "importances", "importances", "parallel", "slice",
                           "contour", "curves", "timeline"])
    result = at.load_study("multi", storage=url)
    front = result.pareto_front
    html = open(tmp_path / "multi.html", encoding="utf-8").read()
    assert f"Pareto front: {len(front):,} trials no other trial beats on every metric" in html
    table = html[html.index('<section id="best">'):html.index("</section>", html.index('<section id="best">'))]
    assert sorted(int(n) for n in re.findall(r"<tr><td>(\d+)</td>", table)) == sorted(t.number for t in front)
    pareto = _figure(tmp_path / "multi.html", "pareto")
    assert pareto["layout"]["xaxis"]["title"]["text"] == "error"
    assert pareto["layout"]["yaxis"]["title"]["text"] == "latency"


# -- the plots API, and a report's edges (no browser) ----------------------------------------------------------
def _objective(config, trial):
    if config["x"] > 0.9:
        raise ValueError("x too large")
    for step in range(3):
        trial.report(config["x"] * (3 - step) + config["y"], step)
    return (config["x"] - 0.3) ** 2 + 0.01 * config["y"]


SPACE = {"x": at.uniform(0, 1), "y": at.uniform(0, 1), "c": at.choice(["a", "b"])}


@pytest.fixture
def result(tmp_path):
    study = at.Study(name="p", space=SPACE, objective=_objective, n_trials=40, sampler="random", seed=0)
    return study.run(storage=f"sqlite:///{tmp_path / 'studies.db'}")


def test_every_plot_kind_is_a_plotly_figure_labelled_with_autotune_trial_numbers(result):
    import plotly.graph_objects as go

    for kind in ("history", "importances", "parallel", "slice", "contour", "curves", "timeline"):
        assert isinstance(result.plot(kind), go.Figure), kind
    complete = {t.number for t in result.trials if t.state == "COMPLETE"}
    fails = {t.number for t in result.trials if t.state == "FAIL"}
    assert fails  # so Optuna's own numbering (finished trials, counted from 0) would differ from autotune's
    history = result.plot("history")
    assert set(history.data[0].x) == complete
    slices = result.plot("slice", params=["x"])
    assert set(slices.data[0].marker.color) == complete  # colour: trial number
    with pytest.raises(AutotuneError, match="one metric"):
        result.plot("pareto")
    with pytest.raises(ConfigError, match="unknown plot 'scatter'; choose one of history, importances"):
        result.plot("scatter")
    with pytest.raises(ConfigError, match="has no metric 'acc'"):
        result.plot("history", metric="acc")


def test_importances_are_a_series_that_finds_the_parameter_that_matters(result):
    import pandas as pd

    for evaluator in (None, "fanova", "mdi"):
        imp = result.importances(evaluator=evaluator)
        assert isinstance(imp, pd.Series) and imp.name == "loss"
        assert set(imp.index) == {"x", "y", "c"} and imp.sum() == pytest.approx(1.0)
        assert imp.index[0] == "x" and list(imp) == sorted(imp, reverse=True), imp
    with pytest.raises(ConfigError, match="evaluator must be one of ped-anova, fanova, mdi"):
        result.importances(evaluator="shap")


def test_a_large_study_is_sampled_and_the_figure_says_so(result, monkeypatch):
    from autotune import plots

    monkeypatch.setattr(plots, "MAX_POINTS", 10)
    monkeypatch.setattr(plots, "MAX_CURVES", 8)
    monkeypatch.setattr(plots, "MAX_TIMELINE", 5)
    view = plots.View(result)
    history = plots.plot(result, "history", view=view)
    shown = set(history.data[0].x)
    improvers = {t.number for t in view.improvers(0)}
    assert improvers <= shown and len(shown) == 10
    assert history.layout.title.subtitle.text.startswith(
        f"10 of {len(view.complete)} completed trials: every one that set a new best")
    best_line = [t for t in history.data if t.name == "Best Value"][0]
    assert min(best_line.y) == pytest.approx(result.best_value)  # exact: the best is among the improvers
    curves = plots.plot(result, "curves", view=view)
    reported = sum(bool(t.intermediate) for t in result.trials)  # (the failed trials report nothing)
    assert curves.layout.title.subtitle.text.startswith(f"8 of {reported} trials with reports: the best 4 and")
    timeline = plots.plot(result, "timeline", view=view)
    assert "the last 5 of 40 trials started" in timeline.layout.title.subtitle.text


def test_report_of_a_study_with_nothing_to_plot_yet_says_why(tmp_path):
    def fails(config, trial):
        raise ValueError("broken")

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    study = at.Study(name="empty", space=SPACE, objective=fails, n_trials=3, sampler="random", seed=0)
    study.run(storage=url)  # three failures (fewer than would stop the run as a broken study file)
    out = cli("report", "empty", "--storage", url, "-o", "r.html", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "(3 trials, 1 plot, 6 with nothing to show yet)" in out.stdout
    html = open(tmp_path / "r.html", encoding="utf-8").read()
    assert "study &#x27;empty&#x27; has 0 completed trials; the history plot needs at least 1." in html
    assert "has no completed trial yet, so it has no best trial" in html


def test_report_of_a_missing_study_or_to_a_folder_is_refused(tmp_path, result):
    url = f"sqlite:///{tmp_path / 'studies.db'}"  # (the result fixture's database)
    before = dump(url)
    out = cli("report", "nosuch", "--storage", url, "-o", "r.html", cwd=tmp_path)
    assert out.returncode == 1 and "nosuch" in out.stderr and "Traceback" not in out.stderr
    os.mkdir(tmp_path / "folder")
    out = cli("report", "p", "--storage", url, "-o", "folder", cwd=tmp_path)
    assert out.returncode == 1 and "-o folder is a folder" in out.stderr
    out = cli("report", "p", "--storage", url, "-o", str(tmp_path / "no" / "such" / "r.html"), cwd=tmp_path)
    assert out.returncode == 1 and "cannot write the report to" in out.stderr
    assert not os.path.exists(tmp_path / "r.html") and dump(url) == before


def test_report_escapes_what_the_study_holds(tmp_path):
    def ok(config, trial):
        if config["x"] > 0.5:
            raise RuntimeError("</script><img src=x onerror=alert(1)>")
        return config["x"]

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    at.Study(name="x<y>", space={"x": at.uniform(0, 1)}, objective=ok, n_trials=8, sampler="random",
             seed=2).run(storage=url)
    path = at.load_study("x<y>", storage=url).report(tmp_path / "r.html")
    html = open(path, encoding="utf-8").read()
    assert "</script><img" not in html  # (inside the embedded JSON the text cannot end its script element)
    outside = re.sub(r"<script\b.*?</script>", "", html, flags=re.S)
    assert "<img" not in outside and "x&lt;y&gt;" in outside
    assert "<title>autotune report: x&lt;y&gt;</title>" in html


def test_report_without_plotly_says_how_to_install_it(tmp_path, result):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "plotly.py").write_text("raise ImportError('No module named plotly')\n")
    out = cli("report", "p", "--storage", url, cwd=tmp_path, env={"PYTHONPATH": f"{shim}{os.pathsep}{ROOT}"})
    assert out.returncode == 1 and "plots need plotly: pip install plotly (or, in the autotune checkout, pip " \
        "install -e '.[plots]')" in out.stderr, out.stderr
    assert not os.path.exists(tmp_path / "p-report.html")


@pytest.mark.slow
def test_report_of_an_automl_study_has_its_leaderboard(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("lightgbm")
    pytest.importorskip("skops")
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"num": rng.normal(size=300), "cat": rng.choice(["a", "b", "c"], size=300)})
    frame["y"] = np.where(frame["num"] + (frame["cat"] == "a") > 0.3, "yes", "no")
    frame.to_csv(tmp_path / "train.csv", index=False)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    r = cli("automl", "train.csv", "--target", "y", "--time", "60s", "--n-trials", "4", "--estimators",
            "lgbm,linear", "--quiet", "--storage", url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    from autotune.automl._run import leaderboard

    board = leaderboard(at.load_study("train-y", storage=url))
    out = cli("report", "train-y", "--storage", url, "-o", "r.html", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    html = open(tmp_path / "r.html", encoding="utf-8").read()
    section = html[html.index('<section id="leaderboard">'):]
    section = section[:section.index("</section>")]
    assert "the best" in section and sorted(board["estimator"]) == ["lgbm", "linear"]
    for row in board.itertuples(index=False):
        assert f"<tr><td>{row.estimator}</td>" in section and f"<td>{row.best_trial}</td>" in section
