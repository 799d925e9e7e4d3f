"""A project's dashboard (quality per version against labels spent, the pool as the serving version sees it,
labels per operator, the stop hint) and its model versions page (retrain, make serving / roll back)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.api.deps import SessionDep, get_or_404
from app.db.models import Project
from app.services import dashboard as board
from app.services.jobs import flush_outbox
from app.services.model_versions import ModelVersionError, ModelVersionNotFound, list_versions, promote_version
from app.services.projects import active_jobs, overview
from app.services.retrain import RetrainError, request_retrain
from app.web.csrf import require_csrf
from app.web.pages import PageAdmin, PageRoute, PageUser, flash, templates

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _latest_ready_id(session, project_id: int) -> int:
    versions = board.ready_versions(session, project_id=project_id)
    return max((v.id for v in versions), default=0)


def _chart_data(points: list[dict], hist: dict | None) -> str:
    # Embedded in a <script type="application/json">: "</" must not end the script element early.
    return json.dumps({"points": points, "hist": hist}, default=str).replace("</", "<\\/")


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def dashboard_page(project_id: int, request: Request, session: SessionDep, user: PageUser):
    project = get_or_404(session, Project, project_id)
    info = overview(session, project)
    points = board.version_points(session, project_id=project_id)
    hist = board.pool_histograms(session, project=project, version=info["serving"])
    last = next((p for p in points if p["serving"]), None)
    context = {"user": user, "project": project, "info": info, "points": points, "hist": hist, "last": last,
               "operators": board.labels_per_operator(session, project_id=project_id),
               "hint": board.stop_hint(session, project_id=project_id), "jobs": info["jobs"],
               "seen": _latest_ready_id(session, project_id), "chart_data": _chart_data(points, hist)}
    return templates.TemplateResponse(request, "dashboard/project.html", context)


@router.get("/projects/{project_id}/fragments/activity", response_class=HTMLResponse)
def activity_fragment(project_id: int, request: Request, session: SessionDep, user: PageUser, seen: int = 0):
    """The project's running jobs. Once a new version is ready, or the jobs have ended (the new version has
    scored the pool), the whole dashboard reloads so every chart shows the new state."""
    get_or_404(session, Project, project_id)
    jobs = active_jobs(session, project_id=project_id)
    if not jobs or _latest_ready_id(session, project_id) > seen:
        return Response(status_code=status.HTTP_200_OK, headers={"HX-Refresh": "true"})
    return templates.TemplateResponse(request, "dashboard/_activity.html", {
        "user": user, "project_id": project_id, "jobs": jobs, "seen": seen})


def _models_context(session, project: Project, user) -> dict:
    versions = list_versions(session, project.id)
    serving = next((v for v in versions if v.is_serving), None)
    return {"user": user, "project": project, "versions": versions, "serving": serving,
            "jobs": active_jobs(session, project_id=project.id)}


@router.get("/projects/{project_id}/models", response_class=HTMLResponse)
def models_page(project_id: int, request: Request, session: SessionDep, user: PageUser):
    project = get_or_404(session, Project, project_id)
    return templates.TemplateResponse(request, "dashboard/models.html", _models_context(session, project, user))


@router.get("/projects/{project_id}/fragments/models", response_class=HTMLResponse)
def models_fragment(project_id: int, request: Request, session: SessionDep, user: PageUser):
    """The versions table and running jobs; polled by the models page while a job runs."""
    project = get_or_404(session, Project, project_id)
    return templates.TemplateResponse(request, "dashboard/_models.html", _models_context(session, project, user))


@router.post("/projects/{project_id}/models/retrain", dependencies=[Depends(require_csrf)])
def retrain(project_id: int, request: Request, session: SessionDep, user: PageAdmin):
    get_or_404(session, Project, project_id)
    try:
        job = request_retrain(session, project_id=project_id, user_id=user.id)
    except RetrainError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.commit()
    flush_outbox()  # a broker outage leaves the job pending_send; the outbox pump sends it later
    flash(request, f"Retrain job #{job.id} is {job.status.replace('_', ' ')}; its progress shows below.")
    return RedirectResponse(f"/projects/{project_id}/models", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/projects/{project_id}/models/{version_id}/promote", dependencies=[Depends(require_csrf)])
def promote(project_id: int, version_id: int, request: Request, session: SessionDep, user: PageAdmin):
    get_or_404(session, Project, project_id)
    try:
        model = promote_version(session, project_id=project_id, version_id=version_id)
    except ModelVersionNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except ModelVersionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    session.commit()
    flash(request, f"Version {model.version} now serves the project's scores.")
    return RedirectResponse(f"/projects/{project_id}/models", status_code=status.HTTP_303_SEE_OTHER)
