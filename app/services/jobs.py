"""Jobs: durable rows plus an outbox, so a job created in a rolled-back transaction is never sent.

A task claims its job with a lease before working; a second delivery of the same task (a retry, or a
redelivery after the broker's visibility timeout) finds the job running under a live lease or finished,
and does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Job, OutboxMessage, utcnow
from app.db.session import is_postgres, session_scope

log = logging.getLogger(__name__)

TASKS = {
    "ingest": "logaction.ingest_dataset",
    "train_base": "logaction.train_base",
    "score_fill": "logaction.score_and_fill",
    "retrain": "logaction.retrain",
}
FINISHED = ("succeeded", "failed")


class JobError(Exception):
    """A failure to show to the user as is (bad input, missing data): no traceback, no retry."""


class LeaseLost(Exception):
    """This worker's lease lapsed and another delivery took the job over: stop, record nothing."""


def aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes for timezone-aware columns; they were written in UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def create_job(session: Session, *, kind: str, project_id: int | None = None, dataset_id: int | None = None,
               payload: dict[str, Any] | None = None, idempotency_key: str | None = None) -> Job:
    """Add a job and its outbox message to the caller's transaction (sent by ``flush_outbox`` after commit)."""
    if idempotency_key is not None:
        existing = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if existing is not None:
            return existing
    job = Job(kind=kind, project_id=project_id, dataset_id=dataset_id, payload=payload or {},
              idempotency_key=idempotency_key, message="queued")
    if idempotency_key is None or not is_postgres(session):
        # SQLite serialises writers, and its driver cannot be trusted with SAVEPOINT (see db/session.py).
        session.add(job)
        session.flush()
        return _with_message(session, job, kind)
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        # A concurrent transaction created the same idempotent job first.
        existing = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if existing is None:
            raise
        return existing
    return _with_message(session, job, kind)


def _with_message(session: Session, job: Job, kind: str) -> Job:
    session.add(OutboxMessage(job_id=job.id, task_name=TASKS[kind], task_id=f"job-{job.id}"))
    return job


def flush_outbox(limit: int = 100) -> int:
    """Send unsent outbox messages; a message that cannot be sent stays for the next flush."""
    from app.tasks.celery_app import celery_app

    sent = 0
    with session_scope() as session:
        query = select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)).order_by(OutboxMessage.id)
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        for message in session.scalars(query.limit(limit)).all():
            job = session.get(Job, message.job_id)
            try:
                celery_app.send_task(message.task_name, args=[message.job_id], task_id=message.task_id)
            except Exception as exc:  # broker down: keep it, mark the job so the UI can say so
                message.attempts += 1
                message.last_error = f"{type(exc).__name__}: {exc}"[:500]
                if job is not None and job.status == "queued":
                    job.status, job.message = "pending_send", "waiting for the job broker"
                log.warning("outbox: could not send job %s: %s", message.job_id, exc)
                break
            message.sent_at = utcnow()
            if job is not None and job.status == "pending_send":
                job.status, job.message = "queued", "queued"
            sent += 1
    return sent


def claim_job(job_id: int, *, owner: str, lease_seconds: int) -> Job | None:
    """Mark the job running under a lease; None when it is finished or someone else holds a live lease."""
    with session_scope() as session:
        job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
        if job is None or job.status in FINISHED:
            return None
        now = utcnow()
        expires = aware(job.lease_expires_at)
        if job.status == "running" and expires is not None and expires > now and job.lease_owner != owner:
            return None
        job.status, job.lease_owner = "running", owner
        job.lease_expires_at = now + timedelta(seconds=lease_seconds)
        job.attempts += 1
        job.started_at = job.started_at or now
        job.message = "started"
        return job


def report_progress(job_id: int, fraction: float, message: str, *, lease_seconds: int) -> None:
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            return
        job.progress = max(0.0, min(1.0, fraction))
        job.message = message[:500]
        job.lease_expires_at = utcnow() + timedelta(seconds=lease_seconds)


def renew_job_lease(job_id: int, *, owner: str, lease_seconds: int) -> bool:
    """Extend the lease if ``owner`` still holds it; False means another worker took the job over."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None or job.lease_owner != owner or job.status != "running":
            return False
        job.lease_expires_at = utcnow() + timedelta(seconds=lease_seconds)
        return True


def release_job(job_id: int, *, owner: str, message: str) -> None:
    """Hand a claimed job back (it will be retried): queued again, no lease, nothing recorded as done."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None or job.lease_owner != owner or job.status in FINISHED:
            return
        job.status, job.message = "queued", message[:500]
        job.lease_owner = job.lease_expires_at = None


def is_finished(job_id: int) -> bool:
    with session_scope() as session:
        job = session.get(Job, job_id)
        return job is None or job.status in FINISHED


def finish_job(job_id: int, *, ok: bool, message: str, error: str | None = None) -> None:
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            return
        job.status = "succeeded" if ok else "failed"
        job.progress = 1.0 if ok else job.progress
        job.message, job.error = message[:500], error
        job.finished_at = utcnow()
        job.lease_owner = job.lease_expires_at = None


def resend_unfinished() -> int:
    """Embedded mode only: the in-memory broker lost its messages when the process stopped, and this
    process is the only worker, so every unfinished job is an orphan; send them all again."""
    with session_scope() as session:
        jobs = session.scalars(select(Job).where(Job.status.in_(("queued", "running", "pending_send")))).all()
        for job in jobs:
            job.status, job.message = "queued", "re-queued after a restart"
            job.lease_owner = job.lease_expires_at = None
            for message in session.scalars(select(OutboxMessage).where(OutboxMessage.job_id == job.id)):
                message.sent_at = None
        return len(jobs)
