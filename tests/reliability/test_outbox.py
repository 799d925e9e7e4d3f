"""Item 13 on PostgreSQL and the real Redis: a job enqueued in a transaction that rolls back never reaches
the broker, not even when the outbox is flushed while that transaction is still open.
tests/app/test_jobs.py checks the same on SQLite with a recording stand-in for the broker."""

from __future__ import annotations

import json
import threading

import pytest
import redis
from sqlalchemy import func, select

from app.db.models import Job, OutboxMessage
from tests.reliability.conftest import REL_REDIS_URL

pytestmark = pytest.mark.services
INGEST_QUEUE = "ingest"  # no worker of these tests consumes it, so what is sent stays to be read


def task_ids(client: redis.Redis) -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in client.lrange(INGEST_QUEUE, 0, -1)]


def test_a_job_of_a_rolled_back_transaction_is_never_sent(services):
    from app.db.session import session_factory
    from app.services import jobs

    client = redis.Redis.from_url(REL_REDIS_URL)
    client.delete(INGEST_QUEUE)
    with session_factory()() as session:
        doomed = jobs.create_job(session, kind="ingest", idempotency_key="rolled-back-on-postgres")
        doomed_task = f"job-{doomed.id}"
        # Another process flushes the outbox while this transaction is open: it must not see the message.
        flushed = threading.Thread(target=jobs.flush_outbox)
        flushed.start()
        flushed.join(10)
        session.rollback()
    jobs.flush_outbox()
    with session_factory()() as session:
        assert session.scalar(select(func.count()).where(Job.idempotency_key == "rolled-back-on-postgres")) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.task_id == doomed_task)) == 0
        kept = jobs.create_job(session, kind="ingest", idempotency_key="committed-on-postgres")
        session.commit()
    jobs.flush_outbox()
    assert doomed_task != f"job-{kept.id}"  # PostgreSQL never hands out a rolled-back id again
    # The committed job is in Redis exactly once (so the observation works); the rolled-back one never.
    assert task_ids(client) == [f"job-{kept.id}"]
    jobs.finish_job(kept.id, ok=False, message="test over")
    client.delete(INGEST_QUEUE)
