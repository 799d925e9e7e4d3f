"""Projects: a target system, its source systems and the labeling budget."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Job, Label, ModelVersion, Project, QueueItem, System
from app.services import pipeline
from app.services.queue import current_round, pool_size, taken_windows, total_budget


class ProjectError(ValueError):
    pass


def create_project(session: Session, *, name: str, target_system_id: int, source_system_ids: list[int],
                   user_id: int | None = None, **options) -> Project:
    if session.scalar(select(Project).where(Project.name == name)) is not None:
        raise ProjectError(f"a project named {name!r} already exists")
    target = session.get(System, target_system_id)
    sources = [session.get(System, i) for i in dict.fromkeys(source_system_ids)]
    if target is None or any(s is None for s in sources):
        raise ProjectError("unknown target or source system id")
    if target in sources:
        raise ProjectError("the target system cannot also be a source")
    project = Project(name=name, target_system_id=target.id, sources=sources, created_by=user_id, **options)
    session.add(project)
    session.flush()
    pipeline.maybe_train_base(session, project=project)
    return project


def summary(session: Session, project: Project) -> dict:
    serving = session.scalar(select(ModelVersion).where(ModelVersion.project_id == project.id,
                                                        ModelVersion.is_serving.is_(True)))
    queue_open = session.scalar(select(func.count()).where(QueueItem.project_id == project.id,
                                                           QueueItem.state != "done"))
    labels = session.scalar(select(func.count()).where(Label.project_id == project.id))
    return {
        "id": project.id, "name": project.name, "target_system_id": project.target_system_id,
        "source_system_ids": [s.id for s in project.sources], "budget_fraction": project.budget_fraction,
        "round_fraction": project.round_fraction, "lambda1": project.lambda1, "rounds": project.rounds,
        "strategy": project.strategy, "retrain_every": project.retrain_every, "queue_open": queue_open or 0,
        "labels": labels or 0, "serving": serving,
        "labels_spent": len(taken_windows(session, project_id=project.id)),
        "label_budget": total_budget(project, pool_size=pool_size(session, project=project)),
        "round": current_round(session, project_id=project.id),
        "target_name": project.target.name, "source_names": [s.name for s in project.sources],
    }


ACTIVE_JOBS = ("queued", "running", "pending_send")
# Settings an admin may change after creation (the rest define the experiment): type, rule, what is allowed.
EDITABLE = {
    "budget_fraction": (float, lambda v: 0 < v <= 1, "a share of the pool above 0 and at most 1"),
    "round_fraction": (float, lambda v: 0 < v <= 1, "a share of the pool above 0 and at most 1"),
    "rounds": (int, lambda v: 1 <= v <= 100, "a whole number from 1 to 100"),
    "retrain_every": (int, lambda v: v >= 0, "a whole number of labels, 0 or more"),
}


def active_jobs(session: Session, *, project_id: int | None = None) -> list[Job]:
    """Jobs still waiting or running (of one project, or all), oldest first."""
    query = select(Job).where(Job.status.in_(ACTIVE_JOBS)).order_by(Job.id)
    if project_id is not None:
        query = query.where(Job.project_id == project_id)
    return list(session.scalars(query))


def overview(session: Session, project: Project) -> dict:
    """The summary plus what the projects page shows beside it: F1 when known and the project's live jobs."""
    info = summary(session, project)
    metrics = info["serving"].metrics if info["serving"] is not None else {}
    known = metrics.get("f1") is not None and metrics.get("test_windows", 1)
    info["f1"] = float(metrics["f1"]) if known else None
    info["jobs"] = active_jobs(session, project_id=project.id)
    return info


def update_settings(session: Session, *, project: Project, **changes) -> Project:
    """Change budget, round size, rounds or the retrain rule; the caller commits."""
    for name, value in changes.items():
        if name not in EDITABLE:
            raise ProjectError(f"{name} cannot be changed after the project is created")
        kind, allowed, wanted = EDITABLE[name]
        if not isinstance(value, kind) or not allowed(value):
            raise ProjectError(f"{name} must be {wanted}, not {value!r}")
        setattr(project, name, value)
    if project.round_fraction > project.budget_fraction:
        raise ProjectError("a round cannot be larger than the whole label budget")
    session.flush()
    return project
