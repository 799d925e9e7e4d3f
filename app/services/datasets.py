"""Registering uploaded files as datasets (after a strict check of every line)."""

from __future__ import annotations

import gzip
import zlib

from fastapi import HTTPException, status
from sqlalchemy.orm import Session

from app.db.models import Dataset, System, User
from app.services.ingest import validate_file
from app.services.jobs import create_job, flush_outbox
from app.services.systems import ReadSpec
from app.services.uploads import StoredUpload


def register_upload(session: Session, *, system: System, stored: StoredUpload, role: str, ingest: bool,
                    user: User) -> dict:
    """Check the stored file, then create the dataset (and its ingest job) or delete the file."""
    from ml.reading import LogReadError

    try:
        records = validate_file(ReadSpec.of(system), stored.path, source=stored.original_name)
        if records == 0:
            raise LogReadError(f"{stored.original_name}: no log lines found", None)
    except LogReadError as exc:
        stored.path.unlink(missing_ok=True)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            {"message": str(exc), "line_no": exc.line_no}) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:  # a gzip file that is corrupt or cut short
        stored.path.unlink(missing_ok=True)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            {"message": f"{stored.original_name}: not a readable gzip file ({exc})",
                             "line_no": None}) from None
    except BaseException:
        stored.path.unlink(missing_ok=True)
        raise
    dataset = Dataset(system_id=system.id, role=role, original_name=stored.original_name,
                      stored_name=stored.stored_name, size_bytes=stored.size, sha256=stored.sha256,
                      line_count=records, created_by=user.id)
    session.add(dataset)
    session.flush()
    job = start_ingest(session, dataset=dataset) if ingest else None
    session.commit()
    if job is not None:
        flush_outbox()
    return {"dataset": dataset, "job": job}


def start_ingest(session: Session, *, dataset: Dataset):
    if dataset.status not in ("uploaded", "failed") or dataset.stored_name is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"dataset {dataset.id} is {dataset.status}; it cannot be ingested")
    dataset.status = "uploaded"
    return create_job(session, kind="ingest", dataset_id=dataset.id,
                      idempotency_key=f"ingest:{dataset.id}:{dataset.sha256}:{_attempt(session, dataset)}")


def _attempt(session: Session, dataset: Dataset) -> int:
    from sqlalchemy import func, select

    from app.db.models import Job

    return session.scalar(select(func.count()).where(Job.dataset_id == dataset.id, Job.kind == "ingest")) or 0
