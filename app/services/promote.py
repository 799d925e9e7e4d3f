"""Promoting a trained model: artifact, version row and the serving switch in one transaction.

Nothing of a training is written before this transaction, so a failed or killed training leaves no
artifact and no version row behind, and the previous version serves until the commit.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db.models import Artifact, Job, ModelVersion, utcnow
from app.db.session import session_scope
from app.services import leases
from app.services.jobs import LeaseLost, create_job


def serving_version(session: Session, project_id: int) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.project_id == project_id,
                                                     ModelVersion.is_serving.is_(True)))


def promote(*, project_id: int, job_id: int, owner: str, blob: bytes, metrics: dict, parent_id: int | None,
            labels_used: int = 0, round: int = 0) -> ModelVersion:
    """Store ``blob`` as the project's next version and make it the serving one; returns the version.

    Idempotent per job: a job that already promoted a version gets that version back. Fenced by the
    project's training lease: a worker that lost it (it stalled past the lease and another took over)
    raises LeaseLost instead of promoting.
    """
    digest = hashlib.sha256(blob).hexdigest()
    with session_scope() as session:
        if not leases.holds(session, project_id=project_id, owner=owner):
            raise LeaseLost(f"project {project_id}: the training lease is held by another worker")
        job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
        if job is not None and job.model_version_id is not None:
            return session.get(ModelVersion, job.model_version_id)
        artifact = Artifact(kind="model", sha256=digest, size_bytes=len(blob), data=blob)
        session.add(artifact)
        session.flush()
        session.execute(update(ModelVersion).where(ModelVersion.project_id == project_id)
                        .values(is_serving=False))
        model = ModelVersion(project_id=project_id, version=_next_number(session, project_id), parent_id=parent_id,
                             round=round, status="ready", is_serving=True, labels_used=labels_used,
                             metrics=metrics, artifact_id=artifact.id, artifact_sha256=digest, finished_at=utcnow())
        session.add(model)
        session.flush()
        if job is not None:
            job.model_version_id = model.id
        # The new version rescores the pool and fills the next round once this commits.
        create_job(session, kind="score_fill", project_id=project_id, idempotency_key=f"score-fill:{model.id}")
        return model


def _next_number(session: Session, project_id: int) -> int:
    latest = session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.project_id == project_id))
    return 0 if latest is None else latest + 1
