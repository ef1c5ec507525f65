"""The README's first command: the quickstart example runs to a finished study with its best value."""

import os

from tests.conftest import ROOT, cli


def test_quickstart_finishes_with_a_best_value(tmp_path):
    r = cli("run", os.path.join(ROOT, "examples", "quickstart.py"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "study 'quickstart': " in r.stdout and "best loss = " in r.stdout
    r = cli("best", "quickstart", "--json", cwd=tmp_path)
    assert r.returncode == 0 and '"trial"' in r.stdout
