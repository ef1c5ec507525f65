"""The study database (SQLAlchemy): studies, trials, driver leases and artifacts, shared by every driver."""

from autotune.database._database import DEFAULT_STORAGE, StudyDatabase, StudyRow, mask_url, scrub

__all__ = ["DEFAULT_STORAGE", "StudyDatabase", "StudyRow", "mask_url", "scrub"]
