"""Celery task: ingest one uploaded dataset."""

from __future__ import annotations

from app.db.models import Job
from app.services import ingest, pipeline
from app.services.embedder import get_embedder
from app.services.jobs import JobError
from app.tasks.celery_app import celery_app
from app.tasks.runner import run_task

MAX_PARSER_RACES = 3


@celery_app.task(name="logaction.ingest_dataset", bind=True, max_retries=None)
def ingest_dataset(self, job_id: int) -> None:
    run_task(self, job_id, _ingest)


def _ingest(job: Job, progress) -> str:
    from ml.reading import LogReadError

    for _ in range(MAX_PARSER_RACES):
        try:
            dataset = ingest.ingest_dataset(dataset_id=job.dataset_id, embedder=get_embedder(), progress=progress)
            break
        except ingest.RetryIngest:
            continue
        except LogReadError as exc:
            # A bad file is the uploader's to fix: keep nothing of it, say which line.
            ingest.mark_failed(job.dataset_id, message=str(exc), line_no=exc.line_no, remove_file=True)
            raise JobError(str(exc)) from None
        except LookupError as exc:
            raise JobError(str(exc)) from None
        except Exception:
            ingest.mark_failed(job.dataset_id, message="ingest failed; see the job", line_no=None,
                               remove_file=False)
            raise
    else:
        raise JobError("the system kept changing during ingest; try again")
    pipeline.after_ingest(dataset_id=dataset.id)
    return f"{dataset.line_count:,} lines, {dataset.window_count:,} windows, {dataset.template_count} templates"
