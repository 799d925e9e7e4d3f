"""Celery tasks: train the base model of a project; score the target pool and fill the labeling queue."""

from __future__ import annotations

from app.db.models import Job
from app.services import training
from app.services.jobs import JobError
from app.settings import get_settings
from app.tasks.celery_app import celery_app
from app.tasks.runner import run_job


@celery_app.task(name="logaction.train_base", bind=True)
def train_base(self, job_id: int) -> None:
    run_job(job_id, _train_base, task_id=self.request.id)


@celery_app.task(name="logaction.score_and_fill", bind=True)
def score_and_fill(self, job_id: int) -> None:
    run_job(job_id, _score_and_fill, task_id=self.request.id)


def _train_base(job: Job, progress) -> str:
    try:
        version = training.train_base_model(project_id=job.project_id, device=get_settings().device,
                                            progress=progress)
    except training.TrainingError as exc:
        raise JobError(str(exc)) from None
    return f"model version {version.version} ready"


def _score_and_fill(job: Job, progress) -> str:
    try:
        added = training.score_and_fill(project_id=job.project_id, device=get_settings().device,
                                        progress=progress)
    except training.TrainingError as exc:
        raise JobError(str(exc)) from None
    return f"{added} windows queued for labeling"
