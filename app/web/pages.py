"""Browser pages: sign-in and the projects / jobs overview (the labeling pages build on this layout)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from app.api.deps import SessionDep
from app.db.models import Dataset, Job, Project, User
from app.services.projects import summary
from app.services.users import authenticate
from app.web.csrf import check_csrf, csrf_token

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=ROOT / "templates")
templates.env.globals["csrf_token"] = csrf_token
router = APIRouter(include_in_schema=False)


def signed_in(request: Request, session) -> User | None:
    user_id = request.session.get("user_id")
    user = session.get(User, user_id) if user_id else None
    return user if user is not None and user.is_active else None


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    return templates.TemplateResponse(request, "pages/login.html", {"error": None, "user": None})


@router.post("/login")
async def login(request: Request, session: SessionDep):
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    user = authenticate(session, email=str(form.get("email", "")), password=str(form.get("password", "")))
    if user is None:
        return templates.TemplateResponse(request, "pages/login.html",
                                          {"error": "Wrong email or password.", "user": None},
                                          status_code=status.HTTP_401_UNAUTHORIZED)
    request.session.clear()  # a fresh session (and CSRF token) on sign-in prevents session fixation
    request.session["user_id"] = user.id
    return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/logout")
async def logout(request: Request):
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    request.session.clear()
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/", response_class=HTMLResponse)
def projects_page(request: Request, session: SessionDep):
    user = signed_in(request, session)
    if user is None:
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    return templates.TemplateResponse(request, "pages/projects.html", {"user": user, **_overview(session)})


@router.get("/fragments/jobs", response_class=HTMLResponse)
def jobs_fragment(request: Request, session: SessionDep):
    if signed_in(request, session) is None:
        return HTMLResponse("", status_code=status.HTTP_401_UNAUTHORIZED)
    return templates.TemplateResponse(request, "fragments/jobs.html", _overview(session))


def _overview(session) -> dict:
    projects = [summary(session, p) for p in session.scalars(select(Project).order_by(Project.id))]
    jobs = list(session.scalars(select(Job).order_by(Job.id.desc()).limit(20)))
    datasets = list(session.scalars(select(Dataset).order_by(Dataset.id.desc()).limit(20)))
    active = any(j.status in ("queued", "running", "pending_send") for j in jobs)
    return {"projects": projects, "jobs": jobs, "datasets": datasets, "active": active}
