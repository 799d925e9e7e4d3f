"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ORM(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SystemIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["bgl-prod"])
    log_format: str = Field(min_length=1, examples=["BGL", "<Date> <Time> <Level> <Component>: <Content>"])
    label_rule: str | None = Field(default=None, examples=["first_token", "level:ERROR,FATAL", None])
    strip_prefix: bool = False
    window_size: int = Field(default=20, ge=1, le=10000)
    window_stride: int | None = Field(default=None, ge=1, le=10000)
    session_regex: str | None = None


class SystemPatch(BaseModel):
    log_format: str | None = None
    label_rule: str | None = None
    strip_prefix: bool | None = None
    window_size: int | None = Field(default=None, ge=1, le=10000)
    window_stride: int | None = Field(default=None, ge=1, le=10000)
    session_regex: str | None = None


class SystemOut(ORM):
    id: int
    name: str
    log_format: str
    label_rule: str | None
    strip_prefix: bool
    window_size: int
    window_stride: int
    session_regex: str | None
    created_at: datetime


class PreviewIn(BaseModel):
    log_format: str
    label_rule: str | None = None
    strip_prefix: bool = False
    session_regex: str | None = None
    lines: list[str] = Field(max_length=1000)


class DatasetOut(ORM):
    id: int
    system_id: int
    role: str
    original_name: str
    size_bytes: int
    sha256: str | None
    status: str
    line_count: int
    labeled_lines: int
    anomalous_lines: int
    window_count: int
    template_count: int
    error: str | None
    error_line: int | None
    created_at: datetime
    ready_at: datetime | None


class JobOut(ORM):
    id: int
    kind: str
    status: str
    progress: float
    message: str
    error: str | None
    attempts: int
    project_id: int | None
    dataset_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class UploadOut(BaseModel):
    dataset: DatasetOut
    job: JobOut | None


class LinesIn(BaseModel):
    lines: list[str] = Field(min_length=1)


class ProjectIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    target_system_id: int
    source_system_ids: list[int] = Field(min_length=1)
    budget_fraction: float = Field(default=0.02, gt=0, le=1)
    round_fraction: float = Field(default=0.01, gt=0, le=1)
    lambda1: float = Field(default=0.1, gt=0, le=1)
    rounds: int = Field(default=2, ge=1, le=100)
    strategy: Literal["logaction", "random", "energy", "uncertainty"] = "logaction"
    seed: int = 0
    model_options: dict = Field(default_factory=dict, examples=[{"hidden": 128}])
    train_options: dict = Field(default_factory=dict, examples=[{"epochs": 8}])
    retrain_every: int = Field(default=0, ge=0, description="retrain after this many new labels (0 = per round)")


class ModelVersionOut(ORM):
    id: int
    version: int
    status: str
    is_serving: bool
    metrics: dict
    artifact_sha256: str | None
    created_at: datetime


class ProjectOut(ORM):
    id: int
    name: str
    target_system_id: int
    source_system_ids: list[int]
    budget_fraction: float
    round_fraction: float
    lambda1: float
    rounds: int
    strategy: str
    retrain_every: int = 0
    queue_open: int = 0
    labels: int = 0
    labels_spent: int = 0  # windows queued or labeled: what the budget is spent on
    label_budget: int = 0  # budget_fraction of the pool
    round: int = 0
    serving: ModelVersionOut | None = None
