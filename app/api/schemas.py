"""Request and response bodies of the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ORM(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    """Every 4xx answer: what was wrong, in words (422s from body validation list the fields instead)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "project 42 does not exist"}]})

    detail: str


def errors(**described: str) -> dict:
    """OpenAPI ``responses`` for error statuses: ``errors(e404="no such project")``."""
    return {int(code[1:]): {"model": ErrorOut, "description": text} for code, text in described.items()}


NOT_FOUND = errors(e404="no such resource")
AUTH_ERRORS = errors(e401="no, malformed, unknown or revoked token (WWW-Authenticate: Bearer)",
                     e403="the caller's role may not do this, or a cookie call without its X-CSRF-Token")


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
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": 7, "version": 2, "status": "ready", "is_serving": True, "round": 2, "labels_used": 31,
        "parent_id": 6, "metrics": {"f1": 0.91, "precision": 0.93, "recall": 0.89, "test_windows": 880},
        "artifact_sha256": "9f2c…", "error": None, "created_at": "2026-03-01T12:00:00Z",
        "finished_at": "2026-03-01T12:00:09Z"}]})

    id: int
    version: int
    status: str
    is_serving: bool
    round: int = 0
    labels_used: int = 0
    parent_id: int | None = None
    metrics: dict
    artifact_sha256: str | None
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None


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


# --- queue and labels -------------------------------------------------------------------------------------

class LineOut(ORM):
    id: int
    line_no: int
    raw: str
    template_id: int | None


class ClaimOut(BaseModel):
    """A claimed window with the scores that picked it and its raw lines (never its ground truth)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "item_id": 12, "window_id": 3301, "round": 1, "position": 0, "free_energy": -1.25, "uncertainty": 0.04,
        "p_anomaly": 0.48, "free_energy_rank": 3, "uncertainty_rank": 1, "pool_size": 1400,
        "claim_expires_at": "2026-03-01T12:10:00Z",
        "lines": [{"id": 90211, "line_no": 4411, "raw": "2026-03-01 12:00:01 ERROR [worker-3] db.Pool - "
                   "connection refused", "template_id": 17}]}]})

    item_id: int
    window_id: int
    round: int
    position: int
    free_energy: float
    uncertainty: float
    p_anomaly: float
    free_energy_rank: int
    uncertainty_rank: int
    pool_size: int
    claim_expires_at: datetime | None
    lines: list[LineOut]


class QueueStatusOut(BaseModel):
    round: int = Field(description="the current round (0 = no queue yet)")
    size: int = Field(description="windows queued in the current round")
    done: int
    open: int
    claimed: int
    complete: bool


class LabelIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"window_id": 3301, "value": "anomaly", "reason": "connection refused burst", "line_ids": [90211]},
        {"window_id": 3302, "value": "normal"}]})

    window_id: int
    value: Literal["normal", "anomaly", "unsure", "skip"]
    reason: str | None = Field(default=None, max_length=2000)
    line_ids: list[int] = Field(default_factory=list, max_length=10000,
                                description="ids of the window's log lines that are the anomalous ones")


class LabelOut(ORM):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": 5, "window_id": 3301, "value": "anomaly", "reason": "connection refused burst", "line_nos": [4411],
        "user_id": 2, "user_email": "ops@example.com", "round": 1, "created_at": "2026-03-01T12:01:00Z",
        "updated_at": "2026-03-01T12:01:00Z"}]})

    id: int
    window_id: int
    value: str
    reason: str | None
    line_nos: list[int]
    user_id: int | None
    user_email: str | None = None
    round: int
    created_at: datetime
    updated_at: datetime


class LabelPage(BaseModel):
    total: int
    items: list[LabelOut]


class LabelPatch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"value": "normal", "reason": "planned restart"}]})

    value: Literal["normal", "anomaly", "unsure", "skip"] | None = None
    reason: str | None = Field(default=None, max_length=2000)
    line_nos: list[int] | None = Field(default=None, max_length=10000)


class LabelAuditOut(ORM):
    id: int
    label_id: int | None
    window_id: int
    changed_by: int | None
    action: str
    old_value: str | None
    new_value: str | None
    old_reason: str | None
    old_line_nos: list[int] | None
    changed_at: datetime


# --- users and tokens -------------------------------------------------------------------------------------

class UserOut(ORM):
    id: int
    email: str
    role: str
    is_active: bool
    created_at: datetime


class UserIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ops@example.com", "role": "labeler"}]})

    email: str = Field(min_length=3, max_length=320)
    role: Literal["admin", "labeler", "service"]
    password: str | None = Field(default=None, min_length=8, max_length=200,
                                 description="omit to have one generated (shown once in the answer)")


class UserCreated(BaseModel):
    user: UserOut
    password: str | None = Field(description="the generated password, shown only in this answer")


class UserPatch(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "admin"}, {"is_active": False}]})

    role: Literal["admin", "labeler", "service"] | None = None
    is_active: bool | None = None


class TokenIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "log shipper"},
                                                              {"name": "scorer", "user_id": 4}]})

    name: str = Field(default="", max_length=100)
    user_id: int | None = Field(default=None, description="admins only: create the token for this user")


class TokenOut(ORM):
    id: int
    user_id: int
    name: str
    prefix: str = Field(description="the first characters of the secret, to tell tokens apart")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [{
        "id": 3, "user_id": 4, "name": "scorer", "prefix": "la_Zx81qP", "created_at": "2026-03-01T12:00:00Z",
        "last_used_at": None, "revoked_at": None, "token": "la_Zx81qP…"}]})

    token: str = Field(description="the secret: shown only in this answer, stored only as a hash")


# --- scoring ----------------------------------------------------------------------------------------------

class ScoreWindow(BaseModel):
    first_line: int = Field(description="index (0-based) in the request of the window's first line")
    last_line: int = Field(description="index of its last line (inclusive)")
    p_anomaly: float
    anomalous: bool = Field(description="p_anomaly >= the serving version's threshold")
    free_energy: float = Field(description="F(V): high where the model has seen little like this window")
    unknown_templates: int = Field(description="distinct messages in the window that match no known template")
    top_lines: list[int] = Field(description="indexes of the lines that raised the score most (occlusion), "
                                             "most important first; empty for windows not explained")


class ScoreOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "model_version": 2, "model_version_id": 7, "threshold": 0.5, "lines_scored": 40, "windows_explained": 1,
        "windows": [{"first_line": 0, "last_line": 19, "p_anomaly": 0.02, "anomalous": False,
                     "free_energy": -4.1, "unknown_templates": 0, "top_lines": []},
                    {"first_line": 10, "last_line": 29, "p_anomaly": 0.97, "anomalous": True,
                     "free_energy": -3.2, "unknown_templates": 1, "top_lines": [23, 24]}]}]})

    model_version: int = Field(description="the serving version's number")
    model_version_id: int
    threshold: float
    lines_scored: int = Field(description="non-blank lines read")
    windows_explained: int = Field(description="windows whose top_lines were computed (the highest scores "
                                               "first, at most score_max_explained distinct ones per request)")
    windows: list[ScoreWindow]
