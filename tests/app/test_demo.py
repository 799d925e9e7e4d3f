"""The embedded demo: seeding, the job chain ingest → base training → queue, and idempotent restarts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db.models import Dataset, Job, ModelVersion, Project, QueueItem, System, User, Window
from app.settings import get_settings
from tests.app_fixtures import wait_for_jobs


@pytest.mark.slow
def test_demo_seeds_trains_and_fills_the_queue(client, session):
    from app.services.demo import ADMIN_EMAIL, seed_demo
    from app.services.jobs import flush_outbox
    from app.services.queue import round_budget

    login = seed_demo(session, settings=get_settings(), scale=0.1, train_options={"epochs": 1, "min_steps": 5})
    session.commit()
    flush_outbox()
    assert login.email == ADMIN_EMAIL and login.password
    jobs = wait_for_jobs(timeout=150)
    assert [(j.kind, j.status) for j in jobs] == [
        ("ingest", "succeeded"), ("ingest", "succeeded"), ("train_base", "succeeded"), ("score_fill", "succeeded")
    ], [j.error for j in jobs]
    session.rollback()
    model = session.scalar(select(ModelVersion))
    assert model.is_serving and model.version == 0 and model.metrics["test_windows"] > 0
    project = session.scalar(select(Project))
    pool = session.scalar(select(func.count()).where(Window.system_id == project.target_system_id,
                                                     Window.split == "pool"))
    queued = session.scalar(select(func.count()).select_from(QueueItem))
    assert queued == round_budget(project, pool_size=pool, spent=0) > 0
    target = session.scalar(select(Dataset).where(Dataset.role == "target"))
    assert target.labeled_lines > 0  # ground truth is kept for evaluation

    again = seed_demo(session, settings=get_settings(), scale=0.1)
    session.commit()
    assert again.password == login.password
    assert session.scalar(select(func.count()).select_from(System)) == 2
    assert session.scalar(select(func.count()).select_from(User)) == 1
    assert session.scalar(select(func.count()).select_from(Job)) == 4
