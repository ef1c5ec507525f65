"""The rules for study and artifact names, the same on every storage, and the one way to join a name to a folder.

A study name is shown in messages, stored in a 255-character column and used as one folder name (the cache of
``best_artifact``, the keys of an external artifact store). An artifact name is a relative path under a trial's
folder. Both are checked where they enter (``Study(name=)``, ``trial.save_artifact``) and again where a path is
built from them, since a shared database may hold names written by anyone who can write to it.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Any

MAX_STUDY_NAME = 200  # characters; the column holds 255 (PostgreSQL counts characters, SQLite does not check)
MAX_NAME_BYTES = 255  # one folder or file name on common file systems
MAX_ARTIFACT_NAME = 512  # characters: the artifacts table's name column
_UNPRINTABLE = {"Cc", "Cs", "Zl", "Zp"}  # control characters, lone surrogates, line and paragraph separators
_SAFE_PART = re.compile(r"^[A-Za-z0-9._\-][A-Za-z0-9._\- ]*$")

STUDY_NAME_RULE = (f"a study name is 1 to {MAX_STUDY_NAME} characters ({MAX_NAME_BYTES} bytes as UTF-8), without "
                   "'/', '\\' or control characters, and not '.' or '..'")
ARTIFACT_NAME_RULE = (f"an artifact name is a relative path of at most {MAX_ARTIFACT_NAME} characters made of "
                      "letters, digits, '.', '_', '-', spaces and '/' (no '..' part, no leading '/', each part at "
                      f"most {MAX_NAME_BYTES} characters)")


def _shown(name: Any) -> str:
    text = repr(name)
    return text if len(text) <= 80 else f"{text[:60]}...{text[-10:]} ({len(name)} characters)"


def study_name_problem(name: Any) -> str | None:
    """What is wrong with a study name, in words; None for a good one."""
    if not isinstance(name, str) or not name.strip():
        return f"the name must be a non-empty string, but got {_shown(name)}"
    if len(name) > MAX_STUDY_NAME:
        return f"the name is {len(name)} characters long, more than {MAX_STUDY_NAME}"
    bad = next((c for c in name if unicodedata.category(c) in _UNPRINTABLE), None)
    if bad is not None:
        return f"{_shown(name)} holds the control character {bad!r}"
    if "/" in name or "\\" in name:
        return f"{_shown(name)} holds a path separator ('/' or '\\')"
    if name in (".", ".."):
        return f"{name!r} names a folder"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"{_shown(name)} takes {len(name.encode('utf-8'))} bytes as UTF-8, more than {MAX_NAME_BYTES}"
    return None


def artifact_name_problem(name: Any) -> str | None:
    """What is wrong with an artifact name, in words; None for a good one."""
    if not isinstance(name, str) or not name:
        return f"the name must be a non-empty string, but got {_shown(name)}"
    if len(name) > MAX_ARTIFACT_NAME:
        return f"the name is {len(name)} characters long, more than {MAX_ARTIFACT_NAME}"
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") or not _SAFE_PART.match(p) for p in parts):
        return f"{_shown(name)} is not a safe artifact name"
    if any(len(p) > MAX_NAME_BYTES for p in parts):
        return f"{_shown(name)} has a part longer than {MAX_NAME_BYTES} characters"
    return None


def inside(folder: str, *names: str) -> str | None:
    """``folder/name/...`` if that path, with every link resolved, stays inside ``folder``; else None."""
    path = os.path.join(folder, *names)
    root = os.path.realpath(folder)
    real = os.path.realpath(path)
    return path if real != root and real.startswith(root.rstrip(os.sep) + os.sep) else None
