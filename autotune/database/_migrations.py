"""Schema migrations: one function per version step, applied in order, in one transaction, by
``autotune db upgrade``. Each step is written against the previous version's tables, never against _schema.py's
current ones, so that old steps keep working as the schema moves on.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from autotune.database import _schema as S


def _v1_to_v2(conn: Connection, dialect: str) -> None:
    """v1 kept each artifact's bytes in one ``autotune_artifacts.data`` value; v2 keeps them in 1 MiB chunks
    (or at an external fsspec ``location``) so that large models fit every database."""
    md = sa.MetaData()
    sa.Table("autotune_artifacts", md, sa.Column("id", sa.Integer, primary_key=True))
    chunks = sa.Table(
        "autotune_artifact_chunks", md,
        sa.Column("artifact_id", sa.Integer, sa.ForeignKey("autotune_artifacts.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    chunk_size = 1 << 20
    conn.execute(sa.schema.CreateTable(chunks))
    conn.exec_driver_sql("ALTER TABLE autotune_artifacts ADD COLUMN location TEXT")
    rows = conn.exec_driver_sql("SELECT id, data FROM autotune_artifacts").all()
    for aid, data in rows:
        blob = bytes(data)
        parts = [blob[k:k + chunk_size] for k in range(0, len(blob), chunk_size)] or [b""]
        conn.execute(chunks.insert(), [{"artifact_id": aid, "idx": i, "data": p}
                                                  for i, p in enumerate(parts)])
    conn.exec_driver_sql("ALTER TABLE autotune_artifacts DROP COLUMN data")
    if dialect == "postgresql":
        conn.exec_driver_sql("ALTER TABLE autotune_artifacts ALTER COLUMN size TYPE BIGINT")


MIGRATIONS = {2: _v1_to_v2}  # target version -> step from the version before


def pending(found: int) -> list[int]:
    return [v for v in sorted(MIGRATIONS) if found < v <= S.SCHEMA_VERSION]
