"""The shared life cycle of every task: claim the job under a lease, work, record the outcome.

A task returns one of three outcomes: ``done`` (the job is finished, by this delivery or an earlier one),
``busy`` (another delivery holds the job's or the project's lease: try again later), or ``retry`` (the work
crashed and the job has attempts left). The Celery task turns the last two into ``self.retry``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from app.db.models import Job
from app.services import leases
from app.services.jobs import (
    JobError, LeaseLost, claim_job, finish_job, flush_outbox, is_finished, release_job, renew_job_lease, report_progress,
    worker_id,
)
from app.settings import get_settings

log = logging.getLogger(__name__)
Work = Callable[[Job, Callable[[float, str], None]], str]
DONE, BUSY, RETRY = "done", "busy", "retry"


class Progress:
    """Writes progress to the job row at most once a second."""

    def __init__(self, job_id: int, lease_seconds: int, every: float = 1.0):
        self.job_id, self.lease_seconds, self.every = job_id, lease_seconds, every
        self.last = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            try:
                report_progress(self.job_id, fraction, message, lease_seconds=self.lease_seconds)
            except OperationalError:  # a busy database must not fail the job; the next tick retries
                log.warning("job %s: could not record progress", self.job_id)


class Heartbeat:
    """Renews the job's lease (and the project's training lease) from a thread while the work runs.

    Progress callbacks alone are not enough: loading data or scoring a large pool can go a long time
    without one, and a lapsed lease would let a redelivered copy of the task start a second training.
    """

    def __init__(self, job: Job, *, project_lease: bool, lease_seconds: int):
        self.job_id, self.owner, self.project_id = job.id, job.lease_owner, job.project_id
        self.project_lease, self.lease_seconds = project_lease, lease_seconds
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"lease-{job.id}")

    def _run(self) -> None:
        while not self.stop_event.wait(max(self.lease_seconds / 4, 0.5)):
            try:
                renew_job_lease(self.job_id, owner=self.owner, lease_seconds=self.lease_seconds)
                if self.project_lease:
                    leases.renew(project_id=self.project_id, owner=self.owner, lease_seconds=self.lease_seconds)
            except Exception:  # the database may be briefly away; the lease has slack for a missed beat
                log.warning("job %s: could not renew the lease", self.job_id, exc_info=True)

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)


@contextmanager
def _project_lease(job: Job, lease_seconds: int):
    try:
        yield
    finally:
        leases.release(project_id=job.project_id, owner=job.lease_owner)


def run_job(job_id: int, work: Work, *, task_id: str | None = None, training: bool = False,
            retry_errors: bool = False) -> str:
    """Claim, work, record. ``training``: also hold the project's training lease.
    ``retry_errors``: a crash (not a JobError) hands the job back for another attempt while any are left."""
    settings = get_settings()
    owner = f"{worker_id()}:{task_id or 'direct'}"
    job = claim_job(job_id, owner=owner, lease_seconds=settings.job_lease_seconds)
    if job is None:
        if is_finished(job_id):
            log.info("job %s is finished; nothing to do", job_id)
            return DONE
        log.info("job %s is leased by another delivery; retrying later", job_id)
        return BUSY
    if training and not leases.acquire(project_id=job.project_id, owner=owner,
                                       lease_seconds=settings.job_lease_seconds):
        release_job(job_id, owner=owner, message="waiting for the project's running training to finish")
        return BUSY
    outcome = _work(job, work, training=training, retry_errors=retry_errors)
    # Follow-up jobs written by the work (train after ingest, fill after train) go out now.
    flush_outbox()
    return outcome


def _work(job: Job, work: Work, *, training: bool, retry_errors: bool) -> str:
    settings = get_settings()
    lease = _project_lease(job, settings.job_lease_seconds) if training else _nothing()
    with lease, Heartbeat(job, project_lease=training, lease_seconds=settings.job_lease_seconds):
        try:
            message = work(job, Progress(job.id, settings.job_lease_seconds))
        except JobError as exc:
            finish_job(job.id, ok=False, message=str(exc)[:500], error=str(exc))
            return DONE
        except LeaseLost:
            log.warning("job %s: lease lost to another delivery; dropping this one's result", job.id)
            return DONE
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            if retry_errors and job.attempts < settings.job_max_attempts:
                release_job(job.id, owner=job.lease_owner,
                            message=f"attempt {job.attempts} failed ({type(exc).__name__}); retrying")
                return RETRY
            finish_job(job.id, ok=False, message="internal error; see the worker log",
                       error=f"{type(exc).__name__}: {exc}")
            return DONE
    finish_job(job.id, ok=True, message=message)
    return DONE


@contextmanager
def _nothing():
    yield


def run_task(task, job_id: int, work: Work, *, training: bool = False, retry_errors: bool = False) -> None:
    """Run a job from a Celery task; a busy or crashed job is retried by Celery with a delay."""
    outcome = run_job(job_id, work, task_id=task.request.id, training=training, retry_errors=retry_errors)
    if outcome == DONE:
        return
    settings = get_settings()
    delay = min(settings.job_lease_seconds, 30) if outcome == BUSY else 5 * 2 ** min(task.request.retries, 5)
    raise task.retry(countdown=delay)  # the tasks are declared with max_retries=None
