"""Model versions of a project: listing them and switching which one serves (promotion and roll back)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import ModelVersion, Project
from app.services.promote import serving_version


class ModelVersionError(ValueError):
    """A version that cannot serve now (not ready, no older version to roll back to) (HTTP 409)."""


class ModelVersionNotFound(LookupError):
    """No such version in the project (HTTP 404)."""


def list_versions(session: Session, project_id: int) -> list[ModelVersion]:
    """All versions of the project, newest first."""
    return list(session.scalars(select(ModelVersion).where(ModelVersion.project_id == project_id)
                                .order_by(ModelVersion.version.desc())))


def promote_version(session: Session, *, project_id: int, version_id: int) -> ModelVersion:
    """Make ``version_id`` the serving version of the project in one transaction; the caller commits.

    Only a ready version can serve. Promoting the serving version again changes nothing. Scoring picks the
    switch up at its next request (it checks the serving id each time).
    """
    # Lock the project row: two admins switching at once take turns instead of racing on the serving index.
    project = session.scalar(select(Project).where(Project.id == project_id).with_for_update(of=Project))
    if project is None:
        raise ModelVersionNotFound(f"project {project_id} does not exist")
    model = session.get(ModelVersion, version_id)
    if model is None or model.project_id != project_id:
        raise ModelVersionNotFound(f"model version {version_id} does not exist in project {project_id}")
    if model.status != "ready" or model.artifact_id is None:
        raise ModelVersionError(f"model version {model.version} is {model.status}; only a ready version can serve")
    if model.is_serving:
        return model
    try:
        session.execute(update(ModelVersion).where(ModelVersion.project_id == project_id,
                                                   ModelVersion.id != model.id, ModelVersion.is_serving.is_(True))
                        .values(is_serving=False).execution_options(synchronize_session=False))
        session.execute(update(ModelVersion).where(ModelVersion.id == model.id).values(is_serving=True)
                        .execution_options(synchronize_session=False))
        session.flush()
    except IntegrityError:
        # A training promoted its new version between our lock and our write (it does not take the lock).
        session.rollback()
        raise ModelVersionError("another version was promoted at the same moment; try again") from None
    session.refresh(model)
    return model


def rollback_version(session: Session, *, project_id: int) -> ModelVersion:
    """Serve the newest ready version older than the serving one."""
    serving = serving_version(session, project_id)
    if serving is None:
        raise ModelVersionError("the project has no serving version to roll back from")
    previous = session.scalar(select(ModelVersion).where(
        ModelVersion.project_id == project_id, ModelVersion.status == "ready",
        ModelVersion.artifact_id.is_not(None), ModelVersion.version < serving.version)
        .order_by(ModelVersion.version.desc()).limit(1))
    if previous is None:
        raise ModelVersionError(f"no ready version older than version {serving.version} to roll back to")
    return promote_version(session, project_id=project_id, version_id=previous.id)
