"""Model versions of a project: list them, choose the serving one (promote, roll back)."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import AdminUser, SessionDep, get_or_404, refusals
from app.api.schemas import AUTH_ERRORS, errors, ModelVersionOut
from app.db.models import Project
from app.services.model_versions import (
    ModelVersionError, ModelVersionNotFound, list_versions, promote_version, rollback_version,
)

router = APIRouter(prefix="/api/v1/projects/{project_id}/models", tags=["models"],
                   responses={**AUTH_ERRORS, **errors(e404="no such project (or item in it)")})
SWITCH_ERRORS = {404: {"description": "no such project or version"},
                 409: {"description": "the version is not ready, or there is nothing to roll back to"}}


def _switch(session, action):
    with refusals(session, {ModelVersionNotFound: 404, ModelVersionError: 409}):
        model = action()
    session.commit()
    return model


@router.get("", response_model=list[ModelVersionOut], summary="List the model versions")
def list_models(project_id: int, session: SessionDep, _: AdminUser) -> list:
    """Newest first, with their test metrics and which one serves."""
    get_or_404(session, Project, project_id)
    return list_versions(session, project_id)


@router.post("/{version_id}/promote", response_model=ModelVersionOut, summary="Serve this version",
             responses=SWITCH_ERRORS)
def promote(project_id: int, version_id: int, session: SessionDep, _: AdminUser):
    """Switch the serving version atomically (any ready version: a newer one, or an older one to roll
    back). Scoring uses it from its next request on."""
    return _switch(session, lambda: promote_version(session, project_id=project_id, version_id=version_id))


@router.post("/rollback", response_model=ModelVersionOut, summary="Serve the previous version",
             responses=SWITCH_ERRORS)
def rollback(project_id: int, session: SessionDep, _: AdminUser):
    """Serve the newest ready version older than the serving one."""
    get_or_404(session, Project, project_id)
    return _switch(session, lambda: rollback_version(session, project_id=project_id))
