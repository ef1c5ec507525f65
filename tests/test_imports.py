"""Every module of the package imports alone, first, in a fresh interpreter: no import circle can come back
unnoticed (a circle fails for the module imported first, whichever that is)."""

import os
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import autotune

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(autotune.__file__)))


def _modules() -> list[str]:
    names = ["autotune"]
    for info in pkgutil.walk_packages(autotune.__path__, "autotune."):
        if not info.name.endswith(".__main__"):  # ``python -m autotune``: run, never imported
            names.append(info.name)
    return sorted(names)


def _import_alone(name: str) -> tuple[str, int, str]:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    return name, done.returncode, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def test_the_walk_finds_the_packages_modules():
    names = _modules()
    assert {"autotune.engine._loop", "autotune.search._optuna_private", "autotune.spaces._domains",
            "autotune.backends.local", "autotune.study"} <= set(names)


@pytest.mark.slow  # one interpreter per module: about a minute on two cores
def test_every_module_imports_alone_in_a_fresh_interpreter():
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(_import_alone, _modules()))
    failed = [f"{name}: {last}" for name, code, last in results if code != 0]
    assert not failed, "modules that fail to import alone:\n" + "\n".join(failed)
