"""Typed SQLAlchemy models. The same schema runs on PostgreSQL (production) and SQLite (embedded).

Conventions: ids are integers (64-bit for the big tables), times are timezone-aware UTC, enumerations are
short strings checked by CHECK constraints (portable, and a new value needs a migration, not a type ALTER).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON, BigInteger, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, LargeBinary,
    Column, MetaData, SmallInteger, String, Table, Text, UniqueConstraint, text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names make Alembic migrations reproducible on both backends.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")

ROLES = ("admin", "labeler", "service")
DATASET_ROLES = ("source", "target")
DATASET_STATUSES = ("uploaded", "parsing", "ready", "failed")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "pending_send")
JOB_KINDS = ("ingest", "train_base", "score_fill", "retrain")
MODEL_STATUSES = ("training", "ready", "failed")
QUEUE_STATES = ("open", "claimed", "done")
LABEL_VALUES = ("normal", "anomaly", "unsure", "skip")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _in(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=name)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[int]: JSON, datetime: DateTime(timezone=True)}


class User(Base):
    __tablename__ = "users"
    __table_args__ = (_in("role", ROLES, "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings so users can tell tokens apart
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the secret
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class System(Base):
    """A log source: how to read its lines, label them and cut them into windows; owns one Drain tree."""

    __tablename__ = "systems"
    __table_args__ = (CheckConstraint("window_size > 0 AND window_stride > 0", name="window"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    log_format: Mapped[str] = mapped_column(Text)  # a preset name or a log_format string
    label_rule: Mapped[str | None] = mapped_column(String(200))
    strip_prefix: Mapped[bool] = mapped_column(Boolean, default=False)
    window_size: Mapped[int] = mapped_column(Integer, default=20)
    window_stride: Mapped[int] = mapped_column(Integer, default=20)
    session_regex: Mapped[str | None] = mapped_column(String(500))
    parser_state: Mapped[bytes | None] = mapped_column(LargeBinary)  # TemplateParser.to_bytes()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (_in("role", DATASET_ROLES, "role"), _in("status", DATASET_STATUSES, "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(8))
    original_name: Mapped[str] = mapped_column(String(255))  # display only, never used as a path
    stored_name: Mapped[str | None] = mapped_column(String(64), unique=True)  # generated id under upload_dir
    # Optional ground truth beside the file: an "id,label" CSV (id = line number, or session id).
    truth_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="uploaded")
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    labeled_lines: Mapped[int] = mapped_column(Integer, default=0)
    anomalous_lines: Mapped[int] = mapped_column(Integer, default=0)
    window_count: Mapped[int] = mapped_column(Integer, default=0)
    template_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    error_line: Mapped[int | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None]

    system: Mapped[System] = relationship(lazy="joined")


class Template(Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("system_id", "cluster_id"), Index("ix_templates_hash", "text_hash"))

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id", ondelete="CASCADE"))
    cluster_id: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    embedder: Mapped[str | None] = mapped_column(String(200))
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 little-endian, L2-normalised
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LogLine(Base):
    __tablename__ = "log_lines"
    __table_args__ = (
        UniqueConstraint("dataset_id", "line_no"),
        Index("ix_log_lines_system_template", "system_id", "template_id"),
        Index("ix_log_lines_dataset_session", "dataset_id", "session"),  # the lines of a session window
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)  # 1-based line number in the uploaded file
    raw: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str | None] = mapped_column(String(32))
    component: Mapped[str | None] = mapped_column(String(200))
    session: Mapped[str | None] = mapped_column(String(200))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    label: Mapped[int | None] = mapped_column(SmallInteger)  # ground truth from the file, if any


class Window(Base):
    """A sequence of events; its lines are log_lines (dataset_id, first_line_no..last_line_no), or the
    lines of one session. ``events`` holds template ids (0 = padding)."""

    __tablename__ = "windows"
    __table_args__ = (
        UniqueConstraint("dataset_id", "seq"),
        Index("ix_windows_system_split", "system_id", "split"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("systems.id", ondelete="CASCADE"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)  # order within the dataset
    first_line_no: Mapped[int] = mapped_column(Integer)
    last_line_no: Mapped[int] = mapped_column(Integer)
    session: Mapped[str | None] = mapped_column(String(200))
    label: Mapped[int | None] = mapped_column(SmallInteger)  # ground truth: for evaluation, never shown
    split: Mapped[str | None] = mapped_column(String(8))  # pool | test (chronological), set at first training
    events: Mapped[list[int]] = mapped_column(JSON)


project_sources = Table(
    "project_sources",
    Base.metadata,
    Column("project_id", ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("system_id", ForeignKey("systems.id", ondelete="CASCADE"), primary_key=True),
)


class Project(Base):
    """Transfer from one or more labeled source systems to one target system, with a label budget."""

    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("budget_fraction > 0 AND budget_fraction <= 1", name="budget"),
        CheckConstraint("round_fraction > 0 AND round_fraction <= 1", name="round"),
        CheckConstraint("retrain_every >= 0", name="retrain_every"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    target_system_id: Mapped[int] = mapped_column(ForeignKey("systems.id", ondelete="RESTRICT"), index=True)
    budget_fraction: Mapped[float] = mapped_column(Float, default=0.02)
    round_fraction: Mapped[float] = mapped_column(Float, default=0.01)
    lambda1: Mapped[float] = mapped_column(Float, default=0.1)
    rounds: Mapped[int] = mapped_column(Integer, default=2)
    strategy: Mapped[str] = mapped_column(String(16), default="logaction")
    seed: Mapped[int] = mapped_column(Integer, default=0)
    model_options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # ModelConfig overrides
    train_options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # TrainConfig overrides
    # Retrain after this many new normal/anomaly labels (0 = only when a round's queue is fully labeled).
    retrain_every: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The training lease: at most one training per project runs, whatever the broker delivers.
    training_owner: Mapped[str | None] = mapped_column(String(200))
    training_expires_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    target: Mapped[System] = relationship(lazy="joined")
    sources: Mapped[list[System]] = relationship(secondary=project_sources, lazy="selectin")


class Artifact(Base):
    """Model bytes live in the database so a worker on another machine needs only the DB and broker URLs."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="model")
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("project_id", "version"),
        _in("status", MODEL_STATUSES, "status"),
        # At most one serving version per project, enforced by the database itself.
        Index("uq_model_versions_serving", "project_id", unique=True,
              postgresql_where=text("is_serving"), sqlite_where=text("is_serving")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)  # 0 = base model
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    round: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="training")
    is_serving: Mapped[bool] = mapped_column(Boolean, default=False)
    labels_used: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifact_id: Mapped[int | None] = mapped_column(ForeignKey("artifacts.id", ondelete="RESTRICT"))
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Job(Base):
    """A background task's durable state. Celery carries only the job id; the row is the truth."""

    __tablename__ = "jobs"
    __table_args__ = (
        _in("status", JOB_STATUSES, "status"),
        _in("kind", JOB_KINDS, "kind"),
        Index("ix_jobs_status", "status", "kind"),
        Index("ix_jobs_project", "project_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(500), default="")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutboxMessage(Base):
    """Tasks to send to the broker, written in the same transaction as their job (sent after commit)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unsent", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    task_name: Mapped[str] = mapped_column(String(200))
    task_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class QueueItem(Base):
    __tablename__ = "queue_items"
    __table_args__ = (
        UniqueConstraint("project_id", "window_id"),  # a window is never queued twice
        _in("state", QUEUE_STATES, "state"),
        # The next claim: first open item of the oldest round, found by walking this index (no sort).
        Index("ix_queue_items_next", "project_id", "state", "round", "position"),
        Index("ix_queue_items_claims", "state", "claim_expires_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(Integer)  # serving order within the round
    free_energy: Mapped[float] = mapped_column(Float)
    uncertainty: Mapped[float] = mapped_column(Float)
    p_anomaly: Mapped[float] = mapped_column(Float)
    free_energy_rank: Mapped[int] = mapped_column(Integer)  # 1 = highest free energy in the pool
    uncertainty_rank: Mapped[int] = mapped_column(Integer)  # 1 = most uncertain in the pool
    pool_size: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(8), default="open")
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    claim_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Label(Base):
    """The current human label of a window in a project; earlier values are kept in label_audit."""

    __tablename__ = "labels"
    __table_args__ = (
        UniqueConstraint("project_id", "window_id"),
        # A retried POST carries the same key and must not create a second label.
        UniqueConstraint("project_id", "idempotency_key", name="uq_labels_idempotency_key"),
        _in("value", LABEL_VALUES, "value"),
        Index("ix_labels_project_user", "project_id", "user_id"),
        Index("ix_labels_project_updated", "project_id", "updated_at"),  # label history, newest first
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    value: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(Text)
    line_nos: Mapped[list[int]] = mapped_column(default=list)  # lines the operator marked as anomalous
    round: Mapped[int] = mapped_column(Integer, default=0)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LabelAudit(Base):
    __tablename__ = "label_audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    label_id: Mapped[int | None] = mapped_column(ForeignKey("labels.id", ondelete="SET NULL"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"))
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(8))  # create | update | delete
    old_value: Mapped[str | None] = mapped_column(String(8))
    new_value: Mapped[str | None] = mapped_column(String(8))
    old_reason: Mapped[str | None] = mapped_column(Text)
    old_line_nos: Mapped[list[int] | None] = mapped_column(JSON)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class WindowScore(Base):
    __tablename__ = "window_scores"
    __table_args__ = (UniqueConstraint("model_version_id", "window_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"), index=True)
    free_energy: Mapped[float] = mapped_column(Float)
    uncertainty: Mapped[float] = mapped_column(Float)
    p_anomaly: Mapped[float] = mapped_column(Float)
