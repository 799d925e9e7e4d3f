"""When a retrain is requested: a fully labeled round, N new labels, an admin; once per serving version;
and a retrain created in a transaction that rolls back is never sent."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db.models import Job, OutboxMessage
from tests.app.factories import fake_project, settle_jobs


@pytest.fixture
def operator(session):
    from app.services.users import create_user

    user = create_user(session, email=f"op-{id(session)}@example.com", role="labeler", password="pw-123456")
    session.commit()
    yield user
    settle_jobs(session)


def label(session, project, window_id, user, value="normal", **kw):
    from app.services.labels import record_label

    return record_label(session, project_id=project.id, window_id=window_id, user_id=user.id, value=value, **kw)


def retrain_jobs(session) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.kind == "retrain").order_by(Job.id)))


def test_the_last_answer_of_a_round_requests_one_retrain(session, operator):
    project, model, items = fake_project(session, queued=3)
    results = [label(session, project, item.window_id, operator, value) for item, value
               in zip(items, ("normal", "skip", "anomaly"))]
    session.commit()
    assert [r.retrain_job is not None for r in results] == [False, False, True]
    [job] = retrain_jobs(session)
    assert job.payload["reason"] == "round" and job.payload["from_version_id"] == model.id
    assert session.scalar(select(func.count()).where(OutboxMessage.job_id == job.id)) == 1
    # Relabeling inside the finished round does not ask again.
    assert label(session, project, items[0].window_id, operator, "anomaly").retrain_job.id == job.id
    session.commit()
    assert len(retrain_jobs(session)) == 1


def test_n_new_training_labels_request_a_retrain_skips_do_not_count(session, operator):
    project, _, items = fake_project(session, queued=10, retrain_every=3)
    values = ["normal", "skip", "unsure", "anomaly"]
    assert [label(session, project, i.window_id, operator, v).retrain_job for i, v in zip(items, values)] == [None] * 4
    assert label(session, project, items[4].window_id, operator, "normal").retrain_job is not None
    session.commit()
    [job] = retrain_jobs(session)
    assert job.payload["reason"] == "labels"


def test_only_one_automatic_retrain_per_serving_version(session, operator):
    project, _, items = fake_project(session, queued=10, retrain_every=1)
    first = label(session, project, items[0].window_id, operator).retrain_job
    session.commit()
    first.status = "failed"  # a failed automatic retrain waits for an admin instead of looping
    session.commit()
    assert label(session, project, items[1].window_id, operator).retrain_job.id == first.id
    session.commit()
    assert len(retrain_jobs(session)) == 1


def test_an_admin_request_joins_a_waiting_retrain_or_starts_one(session, operator):
    from app.services.retrain import RetrainError, request_retrain

    project, _, items = fake_project(session, queued=10, retrain_every=1)
    auto = label(session, project, items[0].window_id, operator).retrain_job
    assert request_retrain(session, project_id=project.id).id == auto.id
    auto.status = "succeeded"
    session.flush()
    manual = request_retrain(session, project_id=project.id, user_id=operator.id)
    assert manual.id != auto.id and manual.payload["reason"] == "admin"
    session.commit()
    bare, model, _ = fake_project(session)
    model.is_serving = False
    session.flush()
    with pytest.raises(RetrainError, match="no trained model"):
        request_retrain(session, project_id=bare.id)


def test_a_retrain_in_a_rolled_back_transaction_is_never_sent(session, operator, monkeypatch):
    from app.services import jobs
    from app.tasks.celery_app import celery_app

    project, _, items = fake_project(session, queued=1)
    session.commit()
    sent = []
    monkeypatch.setattr(celery_app, "send_task", lambda *a, **k: sent.append(a))
    assert label(session, project, items[0].window_id, operator).retrain_job is not None
    session.rollback()
    assert jobs.flush_outbox() == 0 and sent == []
    assert retrain_jobs(session) == [] and session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_labels_are_kept_and_the_retrain_waits_while_the_broker_is_down(session, operator, monkeypatch):
    from app.db.models import Label
    from app.services import jobs
    from app.tasks.celery_app import celery_app

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    project, _, items = fake_project(session, queued=1)
    monkeypatch.setattr(celery_app, "send_task", down)
    job = label(session, project, items[0].window_id, operator).retrain_job
    session.commit()
    assert jobs.flush_outbox() == 0
    session.expire_all()
    assert session.get(Job, job.id).status == "pending_send" and session.scalar(select(func.count(Label.id))) == 1
    sent = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, args, task_id: sent.append(name))
    assert jobs.flush_outbox() == 1 and sent == ["logaction.retrain"]
