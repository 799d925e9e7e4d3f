"""The training lease: two trainings of one project never run at once, whatever the broker delivers; a
worker that lost its lease does not promote; a crash hands the job back for another attempt."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from app.db.models import Artifact, Job, ModelVersion, OutboxMessage
from tests.app.factories import fake_project, settle_jobs


@pytest.fixture
def project(session):
    project, model, _ = fake_project(session, queued=0)
    session.commit()
    yield project
    settle_jobs(session)


def new_job(session, project, kind="retrain") -> int:
    from app.services.jobs import create_job

    job = create_job(session, kind=kind, project_id=project.id)
    session.query(OutboxMessage).delete()  # this test plays the worker itself
    session.commit()
    return job.id


def test_two_trainings_of_one_project_one_runs_the_other_waits(session, project):
    from app.tasks.runner import BUSY, DONE, run_job

    running, overlap, outcomes = [], [], {}
    started = threading.Event()

    def work(job, progress):
        running.append(job.id)
        overlap.append(len(running))
        started.set()
        time.sleep(1.0)
        running.remove(job.id)
        return "trained"

    first, second = new_job(session, project), new_job(session, project, kind="train_base")
    thread = threading.Thread(target=lambda: outcomes.update(a=run_job(first, work, task_id="a", training=True)))
    thread.start()
    assert started.wait(10)
    outcomes["b"] = run_job(second, work, task_id="b", training=True)
    thread.join()
    assert outcomes == {"a": DONE, "b": BUSY} and overlap == [1]
    session.expire_all()
    assert session.get(Job, second).status == "queued" and session.get(Job, second).lease_owner is None
    assert run_job(second, work, task_id="b", training=True) == DONE  # the retry after the first finished
    assert session.get(Job, second).status == "succeeded"


def test_a_duplicate_delivery_of_a_running_job_does_not_run_it_again(session, project):
    from app.tasks.runner import BUSY, DONE, run_job

    calls, started, outcomes = [], threading.Event(), {}

    def work(job, progress):
        calls.append(job.id)
        started.set()
        time.sleep(1.0)
        return "trained"

    job_id = new_job(session, project)
    thread = threading.Thread(target=lambda: outcomes.update(a=run_job(job_id, work, task_id="a", training=True)))
    thread.start()
    assert started.wait(10)
    outcomes["b"] = run_job(job_id, work, task_id="b", training=True)  # e.g. past the visibility timeout
    thread.join()
    assert outcomes == {"a": DONE, "b": BUSY} and calls == [job_id]
    assert run_job(job_id, work, task_id="c", training=True) == DONE and calls == [job_id]  # finished: no-op


def test_the_heartbeat_keeps_the_lease_alive_past_its_length(session, project, monkeypatch):
    from app.settings import get_settings
    from app.tasks.runner import BUSY, run_job

    monkeypatch.setattr(get_settings(), "job_lease_seconds", 2)
    started, outcomes = threading.Event(), {}

    def work(job, progress):
        started.set()
        time.sleep(3.5)  # no progress calls at all: only the heartbeat renews
        return "trained"

    first, second = new_job(session, project), new_job(session, project)
    thread = threading.Thread(target=lambda: run_job(first, work, task_id="a", training=True))
    thread.start()
    assert started.wait(10)
    time.sleep(2.5)  # longer than the lease
    outcomes["b"] = run_job(second, work, task_id="b", training=True)
    thread.join()
    assert outcomes["b"] == BUSY


def test_a_worker_without_the_lease_does_not_promote(session, project):
    from app.services import leases
    from app.services.jobs import LeaseLost
    from app.services.promote import promote

    job_id = new_job(session, project)
    assert leases.acquire(project_id=project.id, owner="new-holder", lease_seconds=60)
    before = session.scalar(select(func.count()).select_from(Artifact))
    with pytest.raises(LeaseLost):
        promote(project_id=project.id, job_id=job_id, owner="stalled-worker", blob=b"x", metrics={}, parent_id=None)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Artifact)) == before
    assert session.scalar(select(func.count()).select_from(ModelVersion)) == 1
    leases.release(project_id=project.id, owner="new-holder")


def test_promoting_twice_for_one_job_gives_one_version(session, project):
    from app.services import leases
    from app.services.promote import promote

    job_id = new_job(session, project)
    assert leases.acquire(project_id=project.id, owner="w", lease_seconds=60)
    first = promote(project_id=project.id, job_id=job_id, owner="w", blob=b"model", metrics={"f1": 1.0},
                    parent_id=None)
    again = promote(project_id=project.id, job_id=job_id, owner="w", blob=b"model", metrics={}, parent_id=None)
    leases.release(project_id=project.id, owner="w")
    session.expire_all()
    assert first.id == again.id and first.version == 1
    serving = session.scalars(select(ModelVersion).where(ModelVersion.is_serving.is_(True))).all()
    assert [m.id for m in serving if m.project_id == project.id] == [first.id]


def test_a_crash_hands_the_job_back_until_the_attempts_run_out(session, project):
    from app.tasks.runner import DONE, RETRY, run_job

    def crash(job, progress):
        raise RuntimeError("out of memory")

    job_id = new_job(session, project)
    assert run_job(job_id, crash, task_id="a", training=True, retry_errors=True) == RETRY
    session.expire_all()
    job = session.get(Job, job_id)
    assert job.status == "queued" and "retrying" in job.message
    assert run_job(job_id, crash, task_id="a", training=True, retry_errors=True) == RETRY
    assert run_job(job_id, crash, task_id="a", training=True, retry_errors=True) == DONE
    session.expire_all()
    assert session.get(Job, job_id).status == "failed" and session.get(Job, job_id).attempts == 3
