"""Admin pages: systems (with a live preview of the format on pasted lines), dataset uploads, projects,
users and API tokens. Every route needs the admin role; every change needs the CSRF token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from starlette.datastructures import FormData

from app.api.deps import SessionDep, get_or_404
from app.db.models import ROLES, Dataset, Project, System, Template, User
from app.security import generate_password
from app.services import admin_forms as forms
from app.services.jobs import flush_outbox
from app.services.projects import ProjectError, create_project, summary, update_settings
from app.services.systems import SpecError, create_system
from app.services.users import (
    UserError, UserNotFound, create_token, create_user, list_tokens, list_users, revoke_token, set_active, set_role,
)
from app.settings import get_settings
from app.web.csrf import require_csrf
from app.web.pages import PageAdmin, PageRoute, flash, templates

router = APIRouter(prefix="/admin", include_in_schema=False, route_class=PageRoute)
CSRF = [Depends(require_csrf)]
BUSY = ("uploaded", "parsing")


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


@router.get("")
def admin_home(_: PageAdmin):
    return _see("/admin/systems")


# --- systems ------------------------------------------------------------------------------------------

def _systems_context(session, user, **extra) -> dict:
    from ml.formats import PRESETS
    from ml.labels import RULE_SPECS

    systems = list(session.scalars(select(System).order_by(System.id)))
    stats = {sid: (n, lines) for sid, n, lines in session.execute(
        select(Dataset.system_id, func.count(), func.sum(Dataset.line_count))
        .where(Dataset.status == "ready").group_by(Dataset.system_id))}
    template_counts = dict(session.execute(select(Template.system_id, func.count()).group_by(Template.system_id)).all())
    return {"user": user, "systems": systems, "stats": stats, "template_counts": template_counts,
            "presets": PRESETS, "rule_specs": [r for r in RULE_SPECS if r != "none"], "errors": {}, "values": {},
            "custom": forms.CUSTOM_FORMAT, **extra}


@router.get("/systems", response_class=HTMLResponse)
def systems_page(request: Request, session: SessionDep, user: PageAdmin):
    return templates.TemplateResponse(request, "admin/systems.html", _systems_context(session, user))


@router.post("/systems", response_class=HTMLResponse, dependencies=CSRF)
def create_system_form(request: Request, session: SessionDep, user: PageAdmin, form: Form):
    try:
        system = create_system(session, **forms.system_fields(form))
    except (forms.FormError, SpecError) as exc:
        session.rollback()
        errors = {getattr(exc, "field", "spec"): str(exc)}  # a SpecError is about the reading rules as a whole
        return templates.TemplateResponse(request, "admin/systems.html", _systems_context(
            session, user, errors=errors, values=dict(form)), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    session.commit()
    flash(request, f"System {system.name} created. Upload its logs on the Datasets page.")
    return _see(f"/admin/systems#system-{system.id}")


@router.post("/systems/preview", response_class=HTMLResponse, dependencies=CSRF)
def preview_fragment(request: Request, user: PageAdmin, form: Form):
    """What the chosen format and label rule make of the pasted lines, line by line."""
    context = {"user": user, "preview": None, "error": None}
    try:
        context["preview"] = forms.preview_rows(forms.read_spec(form), str(form.get("sample") or ""))
    except (forms.FormError, SpecError) as exc:
        context["error"] = str(exc)
    return templates.TemplateResponse(request, "admin/_preview.html", context)


# --- datasets -----------------------------------------------------------------------------------------

def _datasets_context(session, user) -> dict:
    datasets = list(session.scalars(select(Dataset).order_by(Dataset.id.desc()).limit(200)))
    return {"user": user, "datasets": datasets, "busy": any(d.status in BUSY for d in datasets)}


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, session: SessionDep, user: PageAdmin):
    systems = list(session.scalars(select(System).order_by(System.name)))
    context = {**_datasets_context(session, user), "systems": systems,
               "upload_limit": get_settings().upload_limit_bytes}
    return templates.TemplateResponse(request, "admin/datasets.html", context)


@router.get("/fragments/datasets", response_class=HTMLResponse)
def datasets_fragment(request: Request, session: SessionDep, user: PageAdmin):
    return templates.TemplateResponse(request, "admin/_datasets.html", _datasets_context(session, user))


# --- projects -----------------------------------------------------------------------------------------

def _projects_context(session, user, **extra) -> dict:
    projects = [summary(session, p) for p in session.scalars(select(Project).order_by(Project.id))]
    systems = list(session.scalars(select(System).order_by(System.name)))
    return {"user": user, "projects": projects, "systems": systems, "errors": {}, "values": {},
            "edit_errors": {}, **extra}


@router.get("/projects", response_class=HTMLResponse)
def projects_page(request: Request, session: SessionDep, user: PageAdmin):
    return templates.TemplateResponse(request, "admin/projects.html", _projects_context(session, user))


@router.post("/projects", response_class=HTMLResponse, dependencies=CSRF)
def create_project_form(request: Request, session: SessionDep, user: PageAdmin, form: Form):
    try:
        fields = forms.project_fields(form, source_ids=form.getlist("source_system_ids"))
        project = create_project(session, user_id=user.id, **fields)
    except (forms.FormError, ProjectError) as exc:
        session.rollback()
        values = {**dict(form), "source_system_ids": form.getlist("source_system_ids")}
        return templates.TemplateResponse(request, "admin/projects.html", _projects_context(
            session, user, errors={getattr(exc, "field", "name"): str(exc)}, values=values),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    session.commit()
    flush_outbox()  # the base training starts at once when every system is already ingested
    flash(request, f"Project {project.name} created.")
    return _see(f"/admin/projects#project-{project.id}")


@router.post("/projects/{project_id}", response_class=HTMLResponse, dependencies=CSRF)
def edit_project_form(project_id: int, request: Request, session: SessionDep, user: PageAdmin, form: Form):
    project = get_or_404(session, Project, project_id)
    try:
        update_settings(session, project=project, **forms.settings_fields(form))
    except (forms.FormError, ProjectError) as exc:
        session.rollback()
        return templates.TemplateResponse(request, "admin/projects.html", _projects_context(
            session, user, edit_errors={project_id: str(exc)}), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    session.commit()
    flash(request, f"Settings of {project.name} saved.")
    return _see(f"/admin/projects#project-{project.id}")


# --- users and tokens ---------------------------------------------------------------------------------

def _users_context(session, user, **extra) -> dict:
    return {"user": user, "users": list_users(session), "tokens": list_tokens(session), "roles": ROLES,
            "errors": {}, "values": {}, "created_password": None, "created_token": None, **extra}


def _users_page(request: Request, session, user, code: int = status.HTTP_200_OK, **extra):
    return templates.TemplateResponse(request, "admin/users.html", _users_context(session, user, **extra),
                                      status_code=code)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep, user: PageAdmin):
    return _users_page(request, session, user)


@router.post("/users", response_class=HTMLResponse, dependencies=CSRF)
def create_user_form(request: Request, session: SessionDep, user: PageAdmin, form: Form):
    role = str(form.get("role") or "labeler")
    typed = str(form.get("password") or "")
    password = typed or (generate_password() if role != "service" else None)
    try:
        email = forms.text(form, "email", "An email address", required=True, max_len=320)
        created = create_user(session, email=email, role=role, password=password)
    except (forms.FormError, UserError) as exc:
        session.rollback()
        return _users_page(request, session, user, status.HTTP_422_UNPROCESSABLE_CONTENT,
                           errors={"user": str(exc)}, values=dict(form))
    session.commit()
    # A generated password is shown once, on this response only (never stored in the session cookie).
    shown = {"email": created.email, "password": password} if password and not typed else None
    return _users_page(request, session, user, status.HTTP_201_CREATED, created_password=shown,
                       notice=f"User {created.email} ({created.role}) created.")


@router.post("/users/{user_id}", response_class=HTMLResponse, dependencies=CSRF)
def edit_user_form(user_id: int, request: Request, session: SessionDep, user: PageAdmin, form: Form):
    action = str(form.get("action") or "")
    try:
        if action == "role":
            changed = set_role(session, user_id, str(form.get("role") or ""))
            message = f"{changed.email} is now {changed.role}."
        elif action in ("activate", "deactivate"):
            changed = set_active(session, user_id, action == "activate")
            state = "active" if changed.is_active else "deactivated: its sessions and tokens stop working"
            message = f"{changed.email} is {state}."
        else:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"unknown action {action!r}")
    except UserNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except UserError as exc:
        session.rollback()
        return _users_page(request, session, user, status.HTTP_409_CONFLICT, errors={f"user-{user_id}": str(exc)})
    session.commit()
    flash(request, message)
    return _see(f"/admin/users#user-{user_id}")


def _token_owner(session, user_id: int | None) -> User:
    if user_id is None:
        raise forms.FormError("user_id", "choose the user the token acts as")
    owner = get_or_404(session, User, user_id)
    if not owner.is_active:
        raise forms.FormError("user_id", f"{owner.email} is deactivated; activate the user first")
    return owner


@router.post("/tokens", response_class=HTMLResponse, dependencies=CSRF)
def create_token_form(request: Request, session: SessionDep, user: PageAdmin, form: Form):
    try:
        owner_id = forms.integer(form, "user_id", "The token's user", low=1, high=2**31)
        name = forms.text(form, "name", "A token name", max_len=100) or ""
        owner = _token_owner(session, owner_id)
        token, secret = create_token(session, user=owner, name=name)
    except forms.FormError as exc:
        return _users_page(request, session, user, status.HTTP_422_UNPROCESSABLE_CONTENT,
                           errors={"token": str(exc)}, values=dict(form))
    session.commit()
    return _users_page(request, session, user, status.HTTP_201_CREATED,
                       created_token={"id": token.id, "email": owner.email, "name": token.name, "secret": secret})


@router.post("/tokens/{token_id}/revoke", dependencies=CSRF)
def revoke_token_form(token_id: int, request: Request, session: SessionDep, user: PageAdmin):
    try:
        token = revoke_token(session, token_id=token_id, by=user)
    except UserNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    session.commit()
    flash(request, f"Token {token.prefix}… of {token.user.email} revoked.")
    return _see("/admin/users#tokens")
