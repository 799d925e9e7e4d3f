"""Small builders of loop state for unit tests: a project with windows, a serving version (no real model)
and a queued round, written straight to the database."""

from __future__ import annotations

import uuid

from app.db.models import Dataset, ModelVersion, Project, QueueItem, Window


def fake_project(session, *, n_pool: int = 40, n_test: int = 10, queued: int = 5, retrain_every: int = 0):
    """(project, serving version, queue items of round 1); nothing is committed."""
    from app.services.systems import create_system

    tag = uuid.uuid4().hex[:6]
    source = create_system(session, name=f"src-{tag}", log_format="synthetic-a", label_rule="first_token")
    target = create_system(session, name=f"tgt-{tag}", log_format="synthetic-a")
    dataset = Dataset(system_id=target.id, role="target", original_name="t.log", status="ready")
    session.add(dataset)
    session.flush()
    windows = [Window(system_id=target.id, dataset_id=dataset.id, seq=i, first_line_no=10 * i + 1,
                      last_line_no=10 * i + 10, label=int(i % 7 == 0), events=[1, 2, 3],
                      split="pool" if i < n_pool else "test") for i in range(n_pool + n_test)]
    session.add_all(windows)
    project = Project(name=f"p-{tag}", target_system_id=target.id, sources=[source], retrain_every=retrain_every)
    session.add(project)
    session.flush()
    model = ModelVersion(project_id=project.id, version=0, status="ready", is_serving=True)
    session.add(model)
    session.flush()
    items = [QueueItem(project_id=project.id, window_id=w.id, round=1, model_version_id=model.id, position=i,
                       free_energy=0.0, uncertainty=0.0, p_anomaly=0.5, free_energy_rank=i + 1,
                       uncertainty_rank=i + 1, pool_size=n_pool, state="open")
             for i, w in enumerate(windows[:queued])]
    session.add_all(items)
    session.flush()
    return project, model, items


def settle_jobs(session) -> None:
    """Unit tests play the worker: unsent messages are dropped and open jobs closed, so no worker runs
    them on the fake (model-less) project."""
    from sqlalchemy import update

    from app.db.models import Job, OutboxMessage

    session.rollback()
    session.query(OutboxMessage).filter(OutboxMessage.sent_at.is_(None)).delete()
    session.execute(update(Job).where(Job.status.not_in(("succeeded", "failed")))
                    .values(status="failed", message="test over"))
    session.commit()
