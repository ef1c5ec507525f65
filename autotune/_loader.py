"""Importing a study file and finding the ``Study`` it declares, with one clear message for each way that fails."""

from __future__ import annotations

import os

from autotune._study_file import import_study_file
from autotune.errors import StudyFileError


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
