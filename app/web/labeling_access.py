"""Who may use the labeling pages, and how a refusal looks: pages answer with HTML (a redirect to sign in, a
403 or 404 page); HTMX fragments answer with a short status and message that the page shows in its banner."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session, lazyload

from app.db.models import Project, User
from app.web.pages import signed_in, templates

LABELING_ROLES = ("admin", "labeler")


def render(request: Request, name: str, context: dict, status_code: int = 200, headers: dict | None = None):
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=headers)


def _project(session: Session, project_id: int) -> Project | None:
    # The sources are loaded only where used (evidence): the labeling requests that run per answer skip them.
    return session.get(Project, project_id, options=[lazyload(Project.sources)])


def page_access(request: Request, session: Session, project_id: int) -> tuple[User, Project] | HTMLResponse:
    """(user, project) for a labeling page, or the response that refuses it."""
    user = signed_in(request, session)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=status.HTTP_303_SEE_OTHER)
    if user.role not in LABELING_ROLES:
        return render(request, "labeling/refused.html",
                      {"user": user, "title": "Not available to this account",
                       "message": f"Labeling needs the role labeler or admin; this account is a {user.role} "
                                  "account."}, status.HTTP_403_FORBIDDEN)
    project = _project(session, project_id)
    if project is None:
        return render(request, "labeling/refused.html",
                      {"user": user, "title": "No such project",
                       "message": f"Project {project_id} does not exist."}, status.HTTP_404_NOT_FOUND)
    return user, project


def fragment_access(request: Request, session: Session, project_id: int) -> tuple[User, Project]:
    """(user, project) for an HTMX fragment; raises 401/403/404 with a message the page can show."""
    user = signed_in(request, session)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "your session has ended: sign in again (in another tab) and retry")
    if user.role not in LABELING_ROLES:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "labeling needs the role labeler or admin")
    project = _project(session, project_id)
    if project is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"project {project_id} does not exist")
    return user, project


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"
