"""The README's first command: the quickstart example runs to a finished study with its best value."""

import os

from tests.conftest import ROOT, cli


def test_quickstart_finishes_with_a_best_value(tmp_path):
    r = cli("run", os.path.join(ROOT, "examples", "quickstart.py"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "study 'quickstart': " in r.stdout and "best loss = " in r.stdout
    r = cli("best", "quickstart", "--json", cwd=tmp_path)
    assert r.returncode == 0 and '"trial"' in r.stdout


def test_the_cli_prints_the_pareto_front_of_a_multi_objective_study(tmp_path):
    import json

    r = cli("run", os.path.join(ROOT, "examples", "multi_objective.py"), "--quiet", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("best", "multi_objective", cwd=tmp_path)
    assert r.returncode == 0 and "Pareto front of" in r.stdout and "error (min), latency (min)" in r.stdout
    front = json.loads(cli("best", "multi_objective", "--json", cwd=tmp_path).stdout)["pareto_front"]
    assert len(front) >= 3
    for a in front:  # no member dominates another
        assert not any(b["values"]["error"] < a["values"]["error"] and b["values"]["latency"] < a["values"]["latency"]
                       for b in front)
