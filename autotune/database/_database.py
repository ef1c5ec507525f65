"""The study database: every state change of a study, durable when it happens, shared by any number of drivers.

``StudyDatabase`` is one class over one SQLAlchemy engine, written in parts by job: opening the database and
running transactions (``_connection``), the studies and the reads of their trials (``_studies``), the drivers'
rows (``_drivers``), the trial ledger with the halving pruner's pauses (``_ledger``) and the artifacts' rows
(``_artifact_table``).
"""

from __future__ import annotations

from autotune.database._drivers import Drivers
from autotune.database._ledger import TrialTable
from autotune.database._studies import Studies, StudyRow

__all__ = ["StudyDatabase", "StudyRow"]


class StudyDatabase(Studies, Drivers, TrialTable):
    """All reads and writes of studies, trials, drivers and artifacts, over one SQLAlchemy engine."""
