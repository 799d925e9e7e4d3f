"""The shared life cycle of every task: claim the job under a lease, work, record the outcome."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from app.db.models import Job
from app.services.jobs import JobError, claim_job, finish_job, flush_outbox, report_progress, worker_id
from app.settings import get_settings

log = logging.getLogger(__name__)
Work = Callable[[Job, Callable[[float, str], None]], str]


class Progress:
    """Writes progress to the job row at most once a second (each write also renews the lease)."""

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


def run_job(job_id: int, work: Work, *, task_id: str | None = None) -> None:
    settings = get_settings()
    owner = f"{worker_id()}:{task_id or 'direct'}"
    job = claim_job(job_id, owner=owner, lease_seconds=settings.job_lease_seconds)
    if job is None:
        log.info("job %s is finished or leased by another worker; nothing to do", job_id)
        return
    try:
        message = work(job, Progress(job_id, settings.job_lease_seconds))
    except JobError as exc:
        finish_job(job_id, ok=False, message=str(exc)[:500], error=str(exc))
    except Exception as exc:
        log.exception("job %s (%s) failed", job_id, job.kind)
        finish_job(job_id, ok=False, message="internal error; see the worker log",
                   error=f"{type(exc).__name__}: {exc}")
    else:
        finish_job(job_id, ok=True, message=message)
    # Follow-up jobs written by the work (train after ingest, fill after train) go out now.
    flush_outbox()
