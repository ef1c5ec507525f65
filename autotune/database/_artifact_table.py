"""The artifacts' rows: a trial's artifacts recorded as it finishes (bytes chunked into the database, or the
location of a file an external store holds), the best trials' kept and the rest dropped, and every read verified
against the SHA-256 recorded."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from autotune._names import ARTIFACT_NAME_RULE, artifact_name_problem
from autotune.database import _schema as S
from autotune.database._artifacts import read_location, sha256
from autotune.database._connection import DatabaseConnection
from autotune.database._constraints import feasible
from autotune.errors import StorageError


class ArtifactTable(DatabaseConnection):
    """Artifacts stored, dropped and loaded."""

    def _store_artifacts(self, conn: Connection, study_id: int, number: int, data: dict[str, Any],
                         keep: int, mode: str) -> list[str]:
        """Record a trial's artifacts (bytes go into chunks; a ``(location, size, sha256)`` tuple was already
        written to an external store), then drop those of trials beyond the best ``keep``. Returns external
        locations to delete once the transaction commits."""
        now = time.time()
        for name, blob in data.items():
            problem = artifact_name_problem(name)
            if problem:
                raise StorageError(f"trial {number} saved an artifact that cannot be stored: {problem}; "
                                   f"{ARTIFACT_NAME_RULE}.")
            if isinstance(blob, tuple):
                location, size, digest = blob
            else:
                location, size, digest = None, len(blob), sha256(blob)
            aid = conn.execute(S.artifacts.insert().values(
                study_id=study_id, trial_number=number, name=name, size=size, sha256=digest, location=location,
                created_at=now).returning(S.artifacts.c.id)).scalar_one()
            if location is None:
                chunks = [blob[k:k + S.CHUNK_SIZE] for k in range(0, len(blob), S.CHUNK_SIZE)] or [b""]
                conn.execute(S.artifact_chunks.insert(), [
                    {"artifact_id": aid, "idx": k, "data": c} for k, c in enumerate(chunks)])
        if keep <= 0:
            return []
        holders = conn.execute(
            sa.select(S.trials.c.number, S.trials.c.value, S.trials.c.metrics).where(
                S.trials.c.study_id == study_id, S.trials.c.number.in_(
                    sa.select(S.artifacts.c.trial_number).where(S.artifacts.c.study_id == study_id)))).all()
        if len(holders) <= keep:
            return []

        ranked = sorted(holders, key=lambda r: (not feasible(r.metrics), r.value if mode == "min" else -r.value,
                                                r.number))  # feasible trials first, then by value
        return self._drop_artifacts(conn, study_id, [r.number for r in ranked[keep:]])

    def _drop_artifacts(self, conn: Connection, study_id: int, numbers: list[int]) -> list[str]:
        doomed = conn.execute(sa.select(S.artifacts).where(
            S.artifacts.c.study_id == study_id, S.artifacts.c.trial_number.in_(numbers))).all()
        ids = [r.id for r in doomed]
        conn.execute(S.artifact_chunks.delete().where(S.artifact_chunks.c.artifact_id.in_(ids)))
        conn.execute(S.artifacts.delete().where(S.artifacts.c.id.in_(ids)))
        if not any(r.location for r in doomed):
            return []
        study = conn.execute(sa.select(S.studies.c.name).where(S.studies.c.id == study_id)).scalar_one()
        return [r.location for r in doomed if r.location and written_here(r.location, study, r.trial_number, r.name)]

    def artifact_names(self, study_id: int, number: int) -> list[str]:
        return list(self.read(lambda c: c.execute(
            sa.select(S.artifacts.c.name).where(S.artifacts.c.study_id == study_id,
                                                S.artifacts.c.trial_number == number)
            .order_by(S.artifacts.c.name)).scalars()))

    def load_artifact(self, study_id: int, number: int, name: str) -> bytes:
        """An artifact's bytes, refused if their SHA-256 no longer matches what was recorded."""
        def fn(c: Connection):
            meta = c.execute(sa.select(S.artifacts).where(
                S.artifacts.c.study_id == study_id, S.artifacts.c.trial_number == number,
                S.artifacts.c.name == name)).first()
            if meta is None or meta.location:
                return meta, None
            chunks = c.execute(sa.select(S.artifact_chunks.c.data).where(
                S.artifact_chunks.c.artifact_id == meta.id).order_by(S.artifact_chunks.c.idx)).scalars()
            return meta, b"".join(bytes(x) for x in chunks)

        meta, data = self.read(fn)
        if meta is None:
            names = self.artifact_names(study_id, number)
            raise StorageError(f"trial {number} has no artifact named '{name}'"
                               + (f"; it has: {', '.join(names)}." if names else "; it saved none (or they were "
                                  "dropped by keep_artifacts)."))
        if meta.location:
            data = read_location(meta.location)
        if len(data) != meta.size or sha256(data) != meta.sha256:
            raise StorageError(f"artifact '{name}' of trial {number} fails its SHA-256 check: it was changed after "
                               "it was stored. Refusing to return it.")
        return data


def written_here(location: str, study: str, number: int, name: str) -> bool:
    """Whether an external artifact's stored location is where autotune writes it (``STORE/study/number/name``,
    no '..' part): a location changed in a shared database to point at another file is never deleted."""
    return location.endswith(f"/{study}/{number}/{name}") and ".." not in location.replace("\\", "/").split("/")
