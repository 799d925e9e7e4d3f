"""Item 15: a PostgreSQL restart costs no request and no label.

The shared server is not restarted (other runs use it); instead every backend of this run's pool is
terminated with pg_terminate_backend, which is what a restart does to the pool's connections. The pool's
pre-ping then replaces each dead connection before it is used."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db.models import Label, OutboxMessage
from tests.reliability.conftest import new_user

pytestmark = pytest.mark.services


def session_scope():
    from app.db.session import session_scope as scope

    return scope()


def label_count(project_id: int) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).where(Label.project_id == project_id))


def claim_and_label(api, headers, project_id: int, value: str = "normal") -> int:
    claimed = api.post(f"/api/v1/projects/{project_id}/queue/claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
    window_id = claimed.json()["window_id"]
    answer = api.post(f"/api/v1/projects/{project_id}/labels", headers=headers,
                      json={"window_id": window_id, "value": value})
    assert answer.status_code == 201, answer.text
    return window_id


def test_after_the_connections_are_killed_the_next_requests_succeed_and_no_label_is_lost(api, services,
                                                                                         queue_project):
    project_id, _, _ = queue_project(queued=6)
    _, labeler = new_user("labeler")
    _, admin = new_user("admin")
    before = [claim_and_label(api, labeler, project_id) for _ in range(3)]
    for _ in range(3):  # idle connections in the pool, as a running server has
        assert api.get(f"/api/v1/projects/{project_id}", headers=admin).status_code == 200

    assert services.terminate_backends() >= 1

    # The very next requests (a read, then a write through the whole claim/label path) succeed.
    assert api.get(f"/api/v1/projects/{project_id}", headers=admin).status_code == 200
    after = claim_and_label(api, labeler, project_id, value="anomaly")
    assert api.get("/readyz").json()["checks"]["database"] == "ok"
    assert label_count(project_id) == len(before) + 1
    with session_scope() as session:
        stored = dict(session.execute(select(Label.window_id, Label.value).where(Label.project_id == project_id)).all())
    assert stored == {**{w: "normal" for w in before}, after: "anomaly"}


def test_background_work_survives_the_restart_too(services, queue_project):
    """Workers use the same pool: a job claimed after the restart is claimed normally."""
    from app.services import jobs

    project_id, _, _ = queue_project(queued=1)
    with session_scope() as session:
        job_id = jobs.create_job(session, kind="retrain", project_id=project_id).id
        session.query(OutboxMessage).filter_by(job_id=job_id).delete()  # this test plays the worker
    assert services.terminate_backends() >= 1
    claimed = jobs.claim_job(job_id, owner="after-restart", lease_seconds=60)
    assert claimed is not None and claimed.lease_owner == "after-restart"
    jobs.finish_job(job_id, ok=False, message="test over")
