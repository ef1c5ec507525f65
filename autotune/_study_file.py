"""Importing a study file, with one clear message for each way that fails: the ``Study`` it declares (for the
driver, :func:`load_study_file`) and the objective a worker process loads from it (:func:`load_objective`).

Importing this module imports nothing of ``autotune.study`` (the backends import it, and ``autotune.study`` imports
them): :func:`load_study_file` imports ``Study`` when called."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback

from autotune.errors import AutotuneError, StudyFileError


def import_study_file(path: str):
    """The module of a study file, imported once per process."""
    if os.path.isdir(path):
        raise StudyFileError(f"{path} is a folder; give the study file in it (a .py file that declares a Study).")
    if not os.path.isfile(path):
        raise StudyFileError(f"study file {path} does not exist; check the path.")
    if not path.endswith(".py"):
        raise StudyFileError(f"study file {path} is not a Python file; give the .py file that declares the Study "
                             "(a study database goes to --storage sqlite:///FILE).")
    full = os.path.abspath(path)
    modname = "autotune_study_" + hashlib.sha1(full.encode()).hexdigest()[:12]
    if modname in sys.modules:
        return sys.modules[modname]
    spec = importlib.util.spec_from_file_location(modname, full)
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(full)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # a study file may import modules that sit beside it
    sys.modules[modname] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[modname]
        where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
        raise StudyFileError(f"study file {path} has a syntax error at {where}: {exc.msg}.") from None
    except AutotuneError as exc:
        del sys.modules[modname]
        raise type(exc)(f"{path}: {exc}") from None
    except Exception as exc:
        del sys.modules[modname]
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f.filename) == full]
        where = f" (line {frames[-1].lineno})" if frames else ""
        raise StudyFileError(f"study file {path} failed to import{where}: {type(exc).__name__}: {exc}") from None
    return module


def load_study_file(path: str, name: str | None = None):
    """The Study declared in ``path``; ``name`` picks one when the file declares several."""
    from autotune.study import Study

    module = import_study_file(path)
    found: dict[int, tuple[str, Study]] = {}
    for attr, obj in vars(module).items():
        if isinstance(obj, Study) and id(obj) not in found:
            found[id(obj)] = (attr, obj)
    studies = list(found.values())
    if not studies:
        raise StudyFileError(f"study file {path} declares no study; assign one at module level, e.g. "
                             "study = at.Study(name=..., space=..., objective=...).")
    if name is not None:
        matches = [s for s in studies if s[1].name == name] or [s for s in studies if s[0] == name]
        if not matches:
            names = ", ".join(s[1].name for s in studies)
            raise StudyFileError(f"study file {path} declares no study named '{name}'; it declares: {names}.")
        attr, study = matches[0]
    elif len(studies) > 1:
        names = ", ".join(s[1].name for s in studies)
        raise StudyFileError(f"study file {path} declares several studies ({names}); pick one with --name.")
    else:
        attr, study = studies[0]
    study._source = (os.path.abspath(path), attr)
    return study


def load_objective(path: str, attr: str, study_name: str):
    """The objective of the study ``study_name`` that the study file at ``path`` holds in its attribute ``attr``
    (where the driver found it)."""
    module = import_study_file(path)
    study = getattr(module, attr, None)
    if getattr(study, "name", None) != study_name or not callable(getattr(study, "objective", None)):
        raise StudyFileError(f"study file {path} no longer declares the study '{study_name}' as `{attr}`; run it "
                             "again.")
    return study.objective
