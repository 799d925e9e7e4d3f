"""App test fixtures (a pytest plugin loaded by tests/conftest.py): one migrated database per run (SQLite, or a fresh schema in the PostgreSQL named by
LOGACTION_DATABASE_URL), one app with its embedded worker, tables emptied after each test."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from app.settings import get_settings


def _postgres_schema_url(base: str) -> tuple[str, str]:
    schema = f"test_{uuid.uuid4().hex[:10]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", schema


def _drop_schema(base: str, schema: str) -> None:
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """The run's database, migrated to head. PostgreSQL runs get their own schema, dropped at the end."""
    from app.db import migrate

    configured = os.environ.get("LOGACTION_DATABASE_URL", "")
    schema = None
    if configured.startswith("postgresql"):
        url, schema = _postgres_schema_url(configured)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    os.environ["LOGACTION_DATABASE_URL"] = url
    get_settings.cache_clear()
    migrate.upgrade("head")
    yield url
    if schema is not None:
        from app.db.session import engine_for

        engine_for(url).dispose()
        _drop_schema(configured, schema)


@pytest.fixture(scope="session")
def app(database_url):
    from app.main import create_app

    return create_app(get_settings())


@pytest.fixture(scope="session")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:  # runs the lifespan: the embedded worker starts here
        yield test_client


@pytest.fixture(autouse=True)
def _clean_tables(request):
    yield
    if "database_url" not in request.fixturenames:
        return
    from app.db.models import Base
    from app.db.session import get_engine

    jobs = wait_for_jobs(timeout=30)
    assert all(j.status in ('succeeded', 'failed') for j in jobs), 'a test left a job unfinished'
    with get_engine().begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def session(database_url):
    from app.db.session import session_factory

    with session_factory()() as s:
        yield s


def wait_for_jobs(timeout: float = 60.0) -> list:
    """Block until no job is queued or running; returns all jobs."""
    from sqlalchemy import select

    from app.db.models import Job
    from app.db.session import session_factory

    deadline = time.monotonic() + timeout
    while True:
        with session_factory()() as s:
            jobs = list(s.scalars(select(Job).order_by(Job.id)))
        if all(j.status in ("succeeded", "failed") for j in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.1)


def make_user(session, role: str = "admin", email: str | None = None, password: str = "pw-123456"):
    from app.services.users import create_token, create_user

    user = create_user(session, email=email or f"{role}-{uuid.uuid4().hex[:6]}@example.com", role=role,
                       password=password)
    _, secret = create_token(session, user=user, name="test")
    session.commit()
    return user, {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def admin(session):
    return make_user(session, "admin")[1]


def make_system(client, headers, **overrides) -> dict:
    body = {"name": f"sys-{uuid.uuid4().hex[:6]}", "log_format": "synthetic-a", "label_rule": "first_token",
            "window_size": 10, "window_stride": 10, **overrides}
    response = client.post("/api/v1/systems", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def synthetic_text(name: str = "synthetic-a", n_lines: int = 400, label_token: bool = True, seed: int = 0) -> str:
    from ml.synthetic import generate

    return "".join(f"{line}\n" for line in generate(name, n_lines=n_lines, seed=seed, label_token=label_token).lines)
