"""The study database (SQLAlchemy): studies, trials, driver leases and artifacts, shared by every driver.

The states, the feasibility rule, the storage URL rules and the artifact stores import without SQLAlchemy (worker
processes use them); ``StudyDatabase`` and ``StudyRow`` load it when first named.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from autotune.database._artifacts import ArtifactStore, FsspecArtifactStore, delete_external, sha256
from autotune.database._constraints import CONSTRAINTS, FEASIBLE, feasible
from autotune.database._states import FINISHED, RETRIED, SET_ASIDE, UNCOUNTED, TrialState
from autotune.database._urls import DEFAULT_STORAGE, mask_url, resolve_storage, scrub

if TYPE_CHECKING:
    from autotune.database._database import StudyDatabase, StudyRow

__all__ = ["CONSTRAINTS", "DEFAULT_STORAGE", "FEASIBLE", "FINISHED", "RETRIED", "SET_ASIDE", "UNCOUNTED",
           "ArtifactStore", "FsspecArtifactStore", "StudyDatabase", "StudyRow", "TrialState", "close_open",
           "delete_external", "feasible", "mask_url", "resolve_storage", "scrub", "sha256"]


def close_open() -> None:
    """Close every study database this process still holds open (one about to leave with ``os._exit``); nothing
    is loaded when it opened none."""
    connection = sys.modules.get("autotune.database._connection")
    if connection is not None:
        connection.close_open()


def __getattr__(name: str):
    if name in ("StudyDatabase", "StudyRow"):
        from autotune.database import _database

        return getattr(_database, name)
    raise AttributeError(f"module 'autotune.database' has no attribute {name!r}")
