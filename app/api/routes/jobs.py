"""Jobs: progress and outcome of background work."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from app.api.deps import LabelerUser, SessionDep, get_or_404
from app.api.schemas import AUTH_ERRORS, NOT_FOUND, JobOut
from app.db.models import Job

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=AUTH_ERRORS)


@router.get("", response_model=list[JobOut], summary="List jobs")
def list_jobs(session: SessionDep, _: LabelerUser, project_id: int | None = None, limit: int = 50) -> list[Job]:
    query = select(Job).order_by(Job.id.desc()).limit(max(1, min(limit, 500)))
    if project_id is not None:
        query = query.where(Job.project_id == project_id)
    return list(session.scalars(query))


@router.get("/{job_id}", response_model=JobOut, summary="Read a job", responses=NOT_FOUND)
def read(job_id: int, session: SessionDep, _: LabelerUser) -> Job:
    return get_or_404(session, Job, job_id)
