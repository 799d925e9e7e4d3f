"""The project training lease: at most one training (base or retrain) per project runs at a time.

The job lease stops two deliveries of *one* job from running together; this one stops two *different*
training jobs of a project (a base training and a retrain, or two retrains) from doing so. Both are rows in
the database, so they hold whatever the broker does (a duplicate delivery, a redelivery after Redis's
visibility timeout, several workers on several machines). A holder renews it while it works; a killed
holder's lease simply expires.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.db.models import Project, utcnow
from app.db.session import session_scope
from app.services.jobs import aware


def acquire(*, project_id: int, owner: str, lease_seconds: int) -> bool:
    """Take the project's training lease; False while another owner holds a live one."""
    with session_scope() as session:
        project = session.scalar(select(Project).where(Project.id == project_id).with_for_update(of=Project))
        if project is None:
            return True  # nothing to protect; the work itself reports the missing project
        now = utcnow()
        expires = aware(project.training_expires_at)
        if project.training_owner not in (None, owner) and expires is not None and expires > now:
            return False
        project.training_owner = owner
        project.training_expires_at = now + timedelta(seconds=lease_seconds)
        return True


def renew(*, project_id: int, owner: str, lease_seconds: int) -> bool:
    """Extend the lease if ``owner`` still holds it."""
    with session_scope() as session:
        result = session.execute(update(Project)
                                 .where(Project.id == project_id, Project.training_owner == owner)
                                 .values(training_expires_at=utcnow() + timedelta(seconds=lease_seconds)))
        return result.rowcount == 1


def release(*, project_id: int, owner: str) -> None:
    with session_scope() as session:
        session.execute(update(Project).where(Project.id == project_id, Project.training_owner == owner)
                        .values(training_owner=None, training_expires_at=None))


def holds(session, *, project_id: int, owner: str) -> bool:
    """Inside the caller's transaction, with the project row locked: is ``owner`` still the holder?

    Checked when a new version is promoted, so a worker whose lease lapsed (and was taken over) never
    promotes what it trained.
    """
    project = session.scalar(select(Project).where(Project.id == project_id).with_for_update(of=Project))
    return project is not None and project.training_owner == owner
