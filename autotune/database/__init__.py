"""The study database (SQLAlchemy): studies, trials, driver leases and artifacts, shared by every driver."""

from autotune.database._database import DEFAULT_STORAGE, StudyDatabase, StudyRow, mask_url, scrub
from autotune.database._states import FINISHED, TrialState

__all__ = ["DEFAULT_STORAGE", "FINISHED", "TrialState", "StudyDatabase", "StudyRow", "mask_url", "scrub"]
