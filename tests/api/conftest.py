"""API test fixtures: a bearer token per role, and one really trained demo project shared by the tests that
score (trained once per run, then restored row for row before each test that asks for it, since every test
ends with the tables emptied)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import select, text

from tests.app_fixtures import wait_for_jobs

DEMO_SCALE = 0.3
DEMO_TRAINING = {"epochs": 1, "min_steps": 30, "batch_size": 128, "finetune_steps": 10}
# Users are not part of it: tests make their own (the demo admin is removed after the snapshot).
SKIPPED_TABLES = ("jobs", "outbox", "users", "api_tokens")


def token_user(session, role: str, email: str | None = None):
    """(user, bearer headers) of a fresh user without a password (no argon2 hashing: tests stay fast)."""
    from app.services.users import create_token, create_user

    user = create_user(session, email=email or f"{role}-{uuid.uuid4().hex[:8]}@example.com", role=role,
                       password=None)
    _, secret = create_token(session, user=user, name="test")
    session.commit()
    return user, {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def roles(session) -> dict[str, dict]:
    """Bearer headers of a fresh admin, labeler and service user."""
    return {role: token_user(session, role)[1] for role in ("admin", "labeler", "service")}


@dataclass
class Demo:
    project_id: int
    target_system_id: int
    version_id: int


@pytest.fixture(scope="session")
def _demo_rows(client) -> dict[str, list[dict]]:
    """Seed the demo, let the worker ingest and train it, and keep every row of it in memory."""
    from app.db.models import Base
    from app.db.session import get_engine, session_factory
    from app.services.demo import ADMIN_EMAIL, seed_demo
    from app.services.jobs import flush_outbox
    from app.settings import get_settings

    with session_factory()() as session:
        seed_demo(session, settings=get_settings(), scale=DEMO_SCALE, train_options=DEMO_TRAINING)
        session.commit()
    flush_outbox()
    jobs = wait_for_jobs(timeout=300)
    assert [j.status for j in jobs] == ["succeeded"] * 4, [(j.kind, j.status, j.error) for j in jobs]
    _answer_first_round()
    jobs = wait_for_jobs(timeout=300)
    assert [j.status for j in jobs] == ["succeeded"] * 6, [(j.kind, j.status, j.error) for j in jobs]
    with get_engine().begin() as conn:
        rows = {t.name: [dict(r) for r in conn.execute(t.select()).mappings()]
                for t in Base.metadata.sorted_tables if t.name not in SKIPPED_TABLES}
        # Back to what the test had before: the demo fixture restores these rows when asked.
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "users":
                conn.execute(table.delete())
        conn.execute(text("DELETE FROM users WHERE email = :email"), {"email": ADMIN_EMAIL})
    return rows


def _answer_first_round() -> None:
    """Play the operator: answer round 1 with the ground truth, which starts the first fine-tuning."""
    from app.db.models import QueueItem, Window
    from app.db.session import session_factory
    from app.services.jobs import flush_outbox
    from app.services.labels import record_label

    with session_factory()() as session:
        for item in session.scalars(select(QueueItem).order_by(QueueItem.position)).all():
            truth = session.get(Window, item.window_id).label
            record_label(session, project_id=item.project_id, window_id=item.window_id, user_id=None,
                         value="anomaly" if truth == 1 else "normal")
        session.commit()
    flush_outbox()


@pytest.fixture
def demo(_demo_rows, session) -> Demo:
    """The trained demo project, restored into the (empty) database for this test."""
    from app.db.models import Base, ModelVersion, Project
    from app.db.session import get_engine

    with get_engine().begin() as conn:
        for table in Base.metadata.sorted_tables:
            rows = _demo_rows.get(table.name)
            if rows:
                conn.execute(table.insert(), rows)
                if conn.dialect.name == "postgresql" and "id" in table.c:
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                      f"(SELECT max(id) FROM {table.name}))"))
    project = session.scalar(select(Project))
    version = session.scalar(select(ModelVersion).where(ModelVersion.is_serving.is_(True)))
    return Demo(project.id, project.target_system_id, version.id)
