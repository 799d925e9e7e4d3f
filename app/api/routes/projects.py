"""Projects: create, list, read, start the base training."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from app.api.deps import AdminUser, LabelerUser, SessionDep, get_or_404
from app.api.schemas import AUTH_ERRORS, NOT_FOUND, JobOut, ProjectIn, ProjectOut
from app.db.models import Project
from app.services import pipeline
from app.services.jobs import create_job, flush_outbox
from app.services.projects import ProjectError, create_project, summary
from app.services.retrain import RetrainError, request_retrain

router = APIRouter(prefix="/api/v1/projects", tags=["projects"], responses=AUTH_ERRORS)


def get_project(session, project_id: int) -> Project:
    return get_or_404(session, Project, project_id)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProjectOut, summary="Create a project",
             responses={422: {"description": "unknown systems, a duplicate name, or bad options"}})
def create(body: ProjectIn, session: SessionDep, user: AdminUser) -> dict:
    try:
        project = create_project(session, user_id=user.id, **body.model_dump())
    except ProjectError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    session.commit()
    flush_outbox()
    return summary(session, project)


@router.get("", response_model=list[ProjectOut], summary="List projects")
def list_projects(session: SessionDep, _: LabelerUser) -> list[dict]:
    return [summary(session, p) for p in session.scalars(select(Project).order_by(Project.id))]


@router.get("/{project_id}", response_model=ProjectOut, summary="Read a project", responses=NOT_FOUND)
def read(project_id: int, session: SessionDep, _: LabelerUser) -> dict:
    return summary(session, get_project(session, project_id))


@router.post("/{project_id}/train", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut,
             summary="Train the base model",
             responses={**NOT_FOUND, 409: {"description": "a system has no ingested data"}})
def train(project_id: int, session: SessionDep, _: AdminUser):
    """Train the base model (version 0) once every system of the project has ingested data."""
    project = get_project(session, project_id)
    system_ids = [project.target_system_id] + [s.id for s in project.sources]
    if not pipeline.systems_ready(session, system_ids=system_ids):
        raise HTTPException(status.HTTP_409_CONFLICT, "some systems of the project have no ingested data yet")
    job = create_job(session, kind="train_base", project_id=project.id,
                     idempotency_key=pipeline.train_key(session, project.id))
    session.commit()
    flush_outbox()
    return job


@router.post("/{project_id}/retrain", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut,
             summary="Retrain now", responses={**NOT_FOUND, 409: {"description": "no trained model yet"}})
def retrain(project_id: int, session: SessionDep, user: AdminUser):
    """Fine-tune the serving version on all labels so far now (or return the retrain already waiting)."""
    get_project(session, project_id)
    try:
        job = request_retrain(session, project_id=project_id, user_id=user.id)
    except RetrainError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.commit()
    flush_outbox()  # a broker outage leaves the job pending_send; the outbox pump sends it later
    return job
