"""Browser pages: sign-in, the projects overview, and what every page shares (templates, who may see what).

Page routes use ``PageRoute``: a visitor who is not signed in is sent to the sign-in page, and a refused
request (wrong role, expired form, missing row) gets a readable page, or a short message for HTMX, instead
of the JSON error body the API gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from app.api.deps import SessionDep
from app.db.models import Dataset, Job, Project, User
from app.services.projects import overview
from app.services.users import authenticate
from app.web.csrf import check_csrf, csrf_token

ROOT = Path(__file__).resolve().parents[2]
templates = Jinja2Templates(directory=ROOT / "templates")
templates.env.globals["csrf_token"] = csrf_token
ACTIVE = ("queued", "running", "pending_send")


def flash(request: Request, message: str) -> None:
    """A one-line notice for the next page (after a redirect); it is shown once."""
    request.session["flash"] = message


def _pop_flash(request: Request) -> str | None:
    return request.session.pop("flash", None) if "session" in request.scope else None


templates.env.globals["pop_flash"] = _pop_flash


class NotSignedIn(Exception):
    pass


def _detail_text(detail) -> str:
    if isinstance(detail, dict):  # e.g. an upload's {"message", "line_no"}
        return str(detail.get("message") or detail)
    return str(detail)


def error_response(request: Request, code: int, detail, headers: dict | None = None) -> Response:
    context = {"user": getattr(request.state, "user", None), "code": code, "message": _detail_text(detail)}
    name = "fragments/error.html" if request.headers.get("hx-request") else "pages/error.html"
    return templates.TemplateResponse(request, name, context, status_code=code, headers=headers)


class PageRoute(APIRoute):
    def get_route_handler(self):
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotSignedIn:
                if request.headers.get("hx-request"):  # HTMX follows this header with a full page load
                    return Response(status_code=status.HTTP_401_UNAUTHORIZED, headers={"HX-Redirect": "/login"})
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                login = "/login" if target == "/" else f"/login?next={quote(target)}"
                return RedirectResponse(login, status_code=status.HTTP_303_SEE_OTHER)
            except HTTPException as exc:
                return error_response(request, exc.status_code, exc.detail, exc.headers)
            except RequestValidationError as exc:  # e.g. /projects/abc
                wrong = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
                return error_response(request, status.HTTP_422_UNPROCESSABLE_CONTENT, f"Not a valid address ({wrong}).")

        return page_handler


def signed_in(request: Request, session) -> User | None:
    user_id = request.session.get("user_id")
    user = session.get(User, user_id) if user_id else None
    return user if user is not None and user.is_active else None


def page_user(request: Request, session: SessionDep) -> User:
    """The signed-in operator or admin; service accounts only call the API."""
    user = signed_in(request, session)
    if user is None:
        raise NotSignedIn()
    request.state.user = user
    if user.role not in ("admin", "labeler"):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"The {user.role} role is for API clients; its pages are not available.")
    return user


def page_admin(user: Annotated[User, Depends(page_user)]) -> User:
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "This page needs the admin role. Ask an admin if you need "
                                                       "to change systems, datasets, projects or users.")
    return user


PageUser = Annotated[User, Depends(page_user)]
PageAdmin = Annotated[User, Depends(page_admin)]
router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _local(target: str | None) -> str:
    # Only a path on this site: "//evil.example" or "https://..." would make the sign-in an open redirect.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None):
    return templates.TemplateResponse(request, "pages/login.html",
                                      {"error": None, "user": None, "next": _local(next)})


@router.post("/login")
async def login(request: Request, session: SessionDep):
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    email = str(form.get("email", ""))
    user = authenticate(session, email=email, password=str(form.get("password", "")))
    target = _local(str(form.get("next") or "/"))
    if user is None:
        return templates.TemplateResponse(request, "pages/login.html",
                                          {"error": "Wrong email or password.", "user": None, "next": target,
                                           "email": email}, status_code=status.HTTP_401_UNAUTHORIZED)
    request.session.clear()  # a fresh session (and CSRF token) on sign-in prevents session fixation
    request.session["user_id"] = user.id
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/logout")
async def logout(request: Request):
    form = await request.form()
    check_csrf(request, form.get("csrf_token"))
    request.session.clear()
    return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/", response_class=HTMLResponse)
def projects_page(request: Request, session: SessionDep, user: PageUser):
    return templates.TemplateResponse(request, "pages/projects.html", {"user": user, **_projects(session)})


@router.get("/fragments/projects", response_class=HTMLResponse)
def projects_fragment(request: Request, session: SessionDep, user: PageUser):
    """The project cards with their live jobs; polled by the projects page while a job runs."""
    return templates.TemplateResponse(request, "fragments/projects.html", {"user": user, **_projects(session)})


@router.get("/fragments/jobs", response_class=HTMLResponse)
def jobs_fragment(request: Request, session: SessionDep, user: PageUser):
    """The latest jobs and datasets of the whole instance."""
    jobs = list(session.scalars(select(Job).order_by(Job.id.desc()).limit(20)))
    datasets = list(session.scalars(select(Dataset).order_by(Dataset.id.desc()).limit(20)))
    return templates.TemplateResponse(request, "fragments/jobs.html", {
        "user": user, "jobs": jobs, "datasets": datasets, "active": any(j.status in ACTIVE for j in jobs)})


def _projects(session) -> dict:
    projects = [overview(session, p) for p in session.scalars(select(Project).order_by(Project.id))]
    others = list(session.scalars(select(Job).where(Job.project_id.is_(None), Job.status.in_(ACTIVE))
                                  .order_by(Job.id)))
    active = bool(others) or any(p["jobs"] for p in projects)
    return {"projects": projects, "other_jobs": others, "active": active}
