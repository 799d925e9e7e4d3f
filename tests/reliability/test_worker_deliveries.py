"""Items 11 and 12 with real ``logaction worker`` processes on Redis: a retrain that outlives the broker's
visibility timeout is redelivered to the other worker while it runs, and that copy does not run it again;
the same task delivered once more after it finished changes nothing. Either way: one model version.

Item 10 (SIGKILL mid-training) is tests/loop/test_loop.py::test_a_worker_killed_mid_training_...;
tests/app/test_leases.py checks the same leases with threads in one process."""

from __future__ import annotations

import re
import threading

import pytest
import redis
from sqlalchemy import select, update

from app.db.models import Job, ModelVersion, OutboxMessage
from tests.loop.builders import answer_round, describe_jobs, ingested_project, jobs_of, long_finetune, wait_for
from tests.loop.conftest import Worker
from tests.reliability.conftest import REL_REDIS_URL

pytestmark = [pytest.mark.services, pytest.mark.slow]
VISIBILITY_S = 4
# A short visibility timeout, swept every second: a training of ~10 s is redelivered while it runs.
WORKER_ENV = {"LOGACTION_JOB_LEASE_SECONDS": "3", "LOGACTION_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_S),
              "LOGACTION_BROKER_RESTORE_INTERVAL": "1", "LOGACTION_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
LOOP_OPTIONS = {"round_fraction": 0.05, "budget_fraction": 0.2}


def clean_slate() -> None:
    """Nothing left by earlier tests for these workers to pick up."""
    from app.db.session import session_scope

    with session_scope() as session:
        session.query(OutboxMessage).filter(OutboxMessage.sent_at.is_(None)).delete()
        session.execute(update(Job).where(Job.status.not_in(("succeeded", "failed")))
                        .values(status="failed", message="test over"))
    redis.Redis.from_url(REL_REDIS_URL).flushdb()


@pytest.fixture
def two_workers(services, tmp_path):
    env = {**services.env, **WORKER_ENV}
    workers = [Worker(env, tmp_path / f"worker-{i}.log") for i in (1, 2)]
    starting = [threading.Thread(target=w.start) for w in workers]  # both import torch at the same time
    for t in starting:
        t.start()
    for t in starting:
        t.join(120)
    assert all(w.proc is not None and w.proc.poll() is None for w in workers), [w.tail() for w in workers]
    yield workers
    for w in workers:
        w.stop()


def finished(project_id: int, n: int):
    jobs = jobs_of(project_id)
    done = all(s in ("succeeded", "failed") for _, s in jobs)
    return jobs if done and (len(jobs) >= n or any(s == "failed" for _, s in jobs)) else None


def log_count(workers, task_id: str, event: str) -> int:
    """How often the workers logged ``event`` (received, succeeded) for the retrain task ``task_id``."""
    pattern = re.compile(rf"Task logaction\.retrain\[{re.escape(task_id)}\] {event}")
    return sum(len(pattern.findall(w.log.read_text())) for w in workers)


def versions(project_id: int) -> list[tuple[int, bool]]:
    from app.db.session import session_scope

    with session_scope() as session:
        return [(v.version, v.is_serving) for v in session.scalars(
            select(ModelVersion).where(ModelVersion.project_id == project_id).order_by(ModelVersion.version))]


def test_a_redelivered_or_repeated_training_runs_once_and_yields_one_version(services, two_workers):
    from app.db.session import session_scope
    from app.services.jobs import flush_outbox
    from app.services.users import create_user
    import app.tasks.celery_app as celery_module

    clean_slate()
    project_id = ingested_project(train_options=long_finetune(40), **LOOP_OPTIONS)
    assert flush_outbox() == 1
    jobs = wait_for(lambda: finished(project_id, 2), timeout=180, what="the base training and the first queue",
                    detail=lambda: (describe_jobs(project_id), [w.tail() for w in two_workers]))
    assert jobs == [("train_base", "succeeded"), ("score_fill", "succeeded")]
    with session_scope() as session:
        operator = create_user(session, email=f"op-{project_id}@example.com", role="labeler", password=None).id

    job_id = answer_round(project_id, user_id=operator, round=1)  # sends the retrain task once
    task_id = f"job-{job_id}"
    jobs = wait_for(lambda: finished(project_id, 4), timeout=240, what="the retrain and the refill",
                    detail=lambda: (describe_jobs(project_id), [w.tail() for w in two_workers]))
    assert jobs[2:] == [("retrain", "succeeded"), ("score_fill", "succeeded")], describe_jobs(project_id)
    with session_scope() as session:
        job = session.get(Job, job_id)
        took = (job.finished_at - job.started_at).total_seconds()
        attempts = job.attempts
    assert took > VISIBILITY_S + 1, f"the retrain took {took:.1f} s: too short to outlive the visibility timeout"
    # Published once, yet Redis handed the unacknowledged task out again while it ran ...
    assert log_count(two_workers, task_id, "received") >= 2, [w.tail() for w in two_workers]
    assert any(f"job {job_id} is leased by another delivery" in w.log.read_text() for w in two_workers)
    # ... and no copy ran it: one claim of the job, one new version.
    assert attempts == 1
    assert versions(project_id) == [(0, False), (1, True)]

    # The same task once more, after it finished (a duplicate publish, a late redelivery).
    done = log_count(two_workers, task_id, "succeeded")
    celery_module.celery_app.send_task("logaction.retrain", args=[job_id], task_id=task_id)
    wait_for(lambda: log_count(two_workers, task_id, "succeeded") > done, timeout=30,
             what="the duplicate to be handled", detail=lambda: [w.tail() for w in two_workers])
    with session_scope() as session:
        assert session.get(Job, job_id).attempts == attempts
    assert versions(project_id) == [(0, False), (1, True)]
    assert [kind for kind, _ in jobs_of(project_id)] == ["train_base", "score_fill", "retrain", "score_fill"]
