"""Jobs and the outbox: a rolled-back job is never sent; a broker outage leaves the job pending, then sent."""

from __future__ import annotations

from sqlalchemy import func, select

from app.db.models import Job, OutboxMessage


def test_job_in_a_rolled_back_transaction_is_never_sent(session, monkeypatch):
    from app.services import jobs
    from app.tasks.celery_app import celery_app

    sent = []
    monkeypatch.setattr(celery_app, "send_task", lambda *a, **k: sent.append((a, k)))
    jobs.create_job(session, kind="train_base", idempotency_key="rolled-back")
    session.rollback()
    session.expire_all()
    assert jobs.flush_outbox() == 0 and sent == []
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_broker_down_marks_pending_then_sends(session, monkeypatch):
    from app.services import jobs
    from app.tasks.celery_app import celery_app

    def down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(celery_app, "send_task", down)
    job = jobs.create_job(session, kind="train_base", idempotency_key="k1")
    session.commit()
    assert jobs.flush_outbox() == 0
    session.rollback()
    session.expire_all()
    assert session.get(Job, job.id).status == "pending_send"
    sent = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, args, task_id: sent.append((name, args, task_id)))
    assert jobs.flush_outbox() == 1
    session.rollback()
    session.expire_all()
    assert session.get(Job, job.id).status == "queued"
    assert sent == [("logaction.train_base", [job.id], f"job-{job.id}")]
    assert jobs.flush_outbox() == 0  # sent once only
    jobs.finish_job(job.id, ok=False, message="test over")


def test_idempotency_key_returns_the_same_job(session):
    from app.services import jobs

    first = jobs.create_job(session, kind="ingest", idempotency_key="same")
    second = jobs.create_job(session, kind="ingest", idempotency_key="same")
    assert first.id == second.id
    session.rollback()
    session.expire_all()


def test_a_live_lease_blocks_a_second_delivery(session):
    from app.services import jobs

    job = jobs.create_job(session, kind="ingest")
    session.query(OutboxMessage).delete()  # this test plays the worker itself
    session.commit()
    assert jobs.claim_job(job.id, owner="a", lease_seconds=60) is not None
    assert jobs.claim_job(job.id, owner="b", lease_seconds=60) is None
    jobs.finish_job(job.id, ok=True, message="done")
    assert jobs.claim_job(job.id, owner="a", lease_seconds=60) is None


def test_an_expired_lease_can_be_taken_over(session):
    from app.services import jobs

    job = jobs.create_job(session, kind="ingest")
    session.query(OutboxMessage).delete()
    session.commit()
    assert jobs.claim_job(job.id, owner="a", lease_seconds=-1) is not None
    taken = jobs.claim_job(job.id, owner="b", lease_seconds=60)
    assert taken is not None and taken.attempts == 2 and taken.lease_owner == "b"
    jobs.finish_job(job.id, ok=False, message="test over")


def test_embedded_restart_resends_orphaned_jobs(session):
    from app.services import jobs

    job = jobs.create_job(session, kind="ingest")
    session.commit()
    jobs.claim_job(job.id, owner="dead-process", lease_seconds=600)
    session.query(OutboxMessage).update({"sent_at": func.now()})
    session.commit()
    assert jobs.resend_unfinished() == 1
    session.rollback()
    session.expire_all()
    assert session.get(Job, job.id).status == "queued"
    assert session.scalar(select(OutboxMessage)).sent_at is None
    session.query(OutboxMessage).delete()
    session.commit()
    jobs.finish_job(job.id, ok=False, message="test over")
