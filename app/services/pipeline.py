"""What follows what: a project whose systems are all ingested gets its base model trained, and so on."""

from __future__ import annotations

from sqlalchemy import exists, func, select

from app.db.models import Dataset, Job, ModelVersion, Project, System, project_sources
from app.db.session import session_scope
from app.services.jobs import create_job


def systems_ready(session, *, system_ids: list[int]) -> bool:
    """Every system has a ready dataset and none still waiting or parsing."""
    for system_id in system_ids:
        statuses = set(session.scalars(select(Dataset.status).where(Dataset.system_id == system_id)))
        if "ready" not in statuses or statuses & {"uploaded", "parsing"}:
            return False
    return True


def maybe_train_base(session, *, project: Project) -> bool:
    """Queue the base training once all of the project's systems are ingested (at most once per project)."""
    system_ids = [project.target_system_id] + [s.id for s in project.sources]
    has_model = session.scalar(select(exists().where(ModelVersion.project_id == project.id,
                                                     ModelVersion.status == "ready")))
    if has_model or not systems_ready(session, system_ids=system_ids):
        return False
    create_job(session, kind="train_base", project_id=project.id, idempotency_key=train_key(session, project.id))
    return True


def train_key(session, project_id: int) -> str:
    """Idempotency key of the base training: one live attempt at a time, a new one after a failure."""
    failed = session.scalar(select(func.count()).where(Job.project_id == project_id, Job.kind == "train_base",
                                                       Job.status == "failed"))
    return f"train-base:{project_id}:{failed}"


def after_ingest(*, dataset_id: int) -> None:
    with session_scope() as session:
        dataset = session.get(Dataset, dataset_id)
        system_id = dataset.system_id
        as_source = select(project_sources.c.project_id).where(project_sources.c.system_id == system_id)
        projects = session.scalars(select(Project).where(
            (Project.target_system_id == system_id) | Project.id.in_(as_source))).all()
        for project in projects:
            maybe_train_base(session, project=project)


def system_names(session, ids: list[int]) -> list[str]:
    return list(session.scalars(select(System.name).where(System.id.in_(ids))))
