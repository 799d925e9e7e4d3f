"""Against the real servers: Redis as the broker, and the whole app suite on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.services
def test_tasks_are_published_to_redis(redis_url):
    import redis

    from app.settings import get_settings
    from app.tasks.celery_app import create_celery

    settings = get_settings().model_copy(update={"broker_url": redis_url})
    app = create_celery(settings)
    client = redis.Redis.from_url(redis_url)
    client.delete("logaction", "ingest")
    app.send_task("logaction.ingest_dataset", args=[123], task_id="job-123")
    app.send_task("logaction.train_base", args=[124], task_id="job-124")
    assert client.llen("ingest") == 1 and client.llen("logaction") == 1
    client.delete("logaction", "ingest")


@pytest.mark.services
def test_readyz_with_redis_broker(client, redis_url, monkeypatch):
    from app.settings import get_settings

    monkeypatch.setattr(get_settings(), "broker_url", redis_url)
    assert client.get("/readyz").json()["checks"]["broker"] == "ok"


@pytest.mark.services
@pytest.mark.skipif(os.environ.get("LOGACTION_DATABASE_URL", "").startswith("postgresql")
                    and os.environ.get("LOGACTION_NESTED_SUITE") == "1", reason="already the PostgreSQL run")
def test_app_suite_passes_on_postgres(postgres_url, tmp_path):
    """The same app tests (fast ones), run on PostgreSQL: COPY ingest, locking, migrations."""
    env = {**os.environ, "LOGACTION_DATABASE_URL": postgres_url, "LOGACTION_NESTED_SUITE": "1",
           "LOGACTION_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/app", "-q", "-x", "-p", "no:cacheprovider",
         "-m", "not slow", "--deselect", "tests/app/test_services.py::test_app_suite_passes_on_postgres"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
