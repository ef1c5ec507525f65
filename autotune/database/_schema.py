"""The study database's tables (SQLAlchemy Core) and the schema version this autotune writes.

One row per study carries the counters that make claiming a trial a single conditional UPDATE:
``next_number`` (trial numbers), ``n_active`` (running trials plus finished trials that count towards
``n_trials``), ``n_waiting`` (queued configurations) and ``log_seq`` (the last finish sequence number).
Every finish takes the next ``log_seq`` under the study row's lock, so reading ``finish_seq > k`` in order is
reading finishes in commit order: a driver catching up on other drivers' trials can never skip one.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 2  # 2: artifacts stored in chunks (or at an fsspec location); see _migrations.py

metadata = MetaData()

meta = Table(
    "autotune_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
)

studies = Table(
    "autotune_studies", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("metrics", Text, nullable=False),      # JSON list of metric names
    Column("modes", Text, nullable=False),        # JSON list of "min"/"max"
    Column("space", Text, nullable=False),        # JSON description of the space
    Column("n_trials", Integer),                  # the total declared when the study was created
    Column("next_number", Integer, nullable=False, default=0),
    Column("n_active", Integer, nullable=False, default=0),
    Column("n_waiting", Integer, nullable=False, default=0),
    Column("log_seq", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
)

drivers = Table(
    "autotune_drivers", metadata,
    Column("id", String(32), primary_key=True),
    Column("study_id", Integer, ForeignKey("autotune_studies.id", ondelete="CASCADE"), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
)

trials = Table(
    "autotune_trials", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("autotune_studies.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # WAITING RUNNING PAUSED COMPLETE PRUNED FAIL
    Column("params", Text, nullable=False),       # JSON: what the sampler proposed
    Column("value", Float),                       # first objective's value, for ordering
    Column("objective_values", Text),             # JSON list, one per metric
    Column("metrics", Text),                      # JSON dict of everything the objective returned
    Column("intermediate", Text),                 # JSON list of [step, value]
    Column("error", Text),
    Column("traceback", Text),
    Column("owner", String(32)),                  # driver id while RUNNING; kept after (the driver that ran it last)
    Column("origin", String(32), nullable=False),  # the sampler that proposed it, or "queue"
    Column("attempt", Integer, nullable=False, default=0),
    Column("retry_of", Integer),                  # the trial number this configuration is retried from
    Column("counted", Boolean, nullable=False, default=True),  # False once superseded by a retry
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("finish_seq", Integer),
    UniqueConstraint("study_id", "number", name="uq_trial_number"),
)
Index("ix_trials_seq", trials.c.study_id, trials.c.finish_seq)
Index("ix_trials_state", trials.c.study_id, trials.c.state)

artifacts = Table(
    "autotune_artifacts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("autotune_studies.id", ondelete="CASCADE"), nullable=False),
    Column("trial_number", Integer, nullable=False),
    Column("name", String(512), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("location", Text),                     # an fsspec URL; NULL: the bytes are in artifact_chunks
    Column("created_at", Float, nullable=False),
    UniqueConstraint("study_id", "trial_number", "name", name="uq_artifact"),
)

CHUNK_SIZE = 1 << 20  # 1 MiB: large models never need one huge value (MySQL's packet limit, PostgreSQL's memory)

artifact_chunks = Table(
    "autotune_artifact_chunks", metadata,
    Column("artifact_id", Integer, ForeignKey("autotune_artifacts.id", ondelete="CASCADE"), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)
