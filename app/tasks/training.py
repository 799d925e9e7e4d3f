"""Celery tasks of the active-learning loop: train the base model; score the pool and fill the labeling
queue; retrain (fine-tune, evaluate, promote). Each takes a job id and re-reads everything from the DB."""

from __future__ import annotations

from app.db.models import Job
from app.services import retrain, training
from app.services.jobs import JobError
from app.settings import get_settings
from app.tasks.celery_app import celery_app
from app.tasks.runner import run_task

# max_retries=None: a delivery that finds the job or the project leased retries until the holder is done
# (or its lease lapses); crashes are bounded by the job's own attempt count (settings.job_max_attempts).
TASK_OPTIONS = {"bind": True, "max_retries": None}


@celery_app.task(name="logaction.train_base", **TASK_OPTIONS)
def train_base(self, job_id: int) -> None:
    run_task(self, job_id, _train_base, training=True, retry_errors=True)


@celery_app.task(name="logaction.score_and_fill", **TASK_OPTIONS)
def score_and_fill(self, job_id: int) -> None:
    run_task(self, job_id, _score_and_fill, retry_errors=True)


@celery_app.task(name="logaction.retrain", **TASK_OPTIONS)
def retrain_model(self, job_id: int) -> None:
    run_task(self, job_id, _retrain, training=True, retry_errors=True)


def _train_base(job: Job, progress) -> str:
    try:
        version = training.train_base_model(project_id=job.project_id, job_id=job.id, owner=job.lease_owner,
                                            device=get_settings().device, progress=progress)
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


def _retrain(job: Job, progress) -> str:
    try:
        version = retrain.retrain_model(job_id=job.id, owner=job.lease_owner, device=get_settings().device,
                                        progress=progress)
    except training.TrainingError as exc:
        raise JobError(str(exc)) from None
    if version is None:
        return "nothing new to learn: a newer version already used these labels"
    f1 = version.metrics.get("f1")
    return f"model version {version.version} serving" + (f" (F1 {f1:.3f})" if f1 is not None else "")
