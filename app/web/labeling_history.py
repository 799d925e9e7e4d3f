"""Label history (filter, correct with an audit trail, export) and label-by-template review pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import SessionDep
from app.db.models import LABEL_VALUES, Label, Project, User, Window
from app.services import label_history, template_labels
from app.services.jobs import flush_outbox
from app.services.labels import LabelError, LabelForbidden
from app.services.window_view import window_view
from app.web.csrf import check_csrf, require_csrf
from app.web.labeling_access import fragment_access, page_access, render
from app.web.labeling_queue import VALUE_NAMES

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def can_edit(user: User, label: Label) -> bool:
    return user.role == "admin" or label.user_id == user.id


def _int_or_none(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def _filters(request: Request, user: User) -> dict:
    q = request.query_params
    who = q.get("who", "mine")
    return {"who": who, "user_id": user.id if who == "mine" else _int_or_none(who),
            "value": q.get("value") if q.get("value") in LABEL_VALUES else None,
            "round": _int_or_none(q.get("round")), "page": max(1, _int_or_none(q.get("page")) or 1)}


def _choices(session: Session, project_id: int) -> dict:
    authors = session.execute(select(User.id, User.email).where(User.id.in_(
        select(Label.user_id).where(Label.project_id == project_id).distinct())).order_by(User.email)).all()
    rounds = sorted(session.scalars(select(Label.round).where(Label.project_id == project_id).distinct()))
    return {"authors": authors, "rounds": rounds}


def _emails(session: Session, ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    return dict(session.execute(select(User.id, User.email).where(User.id.in_(ids))).all()) if ids else {}


def _windows(session: Session, ids) -> dict[int, Window]:
    ids = list(set(ids))
    return {w.id: w for w in session.scalars(select(Window).where(Window.id.in_(ids)))} if ids else {}


@router.get("/projects/{project_id}/labels", response_class=HTMLResponse)
def history_page(project_id: int, request: Request, session: SessionDep):
    access = page_access(request, session, project_id)
    if not isinstance(access, tuple):
        return access
    user, project = access
    f = _filters(request, user)
    try:
        total, rows = label_history.list_labels(session, project_id=project.id, user_id=f["user_id"],
                                                value=f["value"], round=f["round"], limit=PAGE_SIZE,
                                                offset=(f["page"] - 1) * PAGE_SIZE)
    except LabelError as exc:
        return PlainTextResponse(str(exc), 422)
    return render(request, "labeling/history.html", {
        "user": user, "project": project, "filters": f, "total": total, "labels": rows, "names": VALUE_NAMES,
        "windows": _windows(session, [r.window_id for r in rows]), "values": LABEL_VALUES,
        "pages": max(1, -(-total // PAGE_SIZE)), "can_edit": can_edit, **_choices(session, project.id)})


def _row(request: Request, session: Session, *, user: User, project: Project, label: Label, edit: bool = False,
         history: bool = False, error: str | None = None, saved: str | None = None, status_code: int = 200):
    audit = label_history.label_history(session, label_id=label.id) if history else []
    emails = _emails(session, [label.user_id] + [a.changed_by for a in audit])
    label.user_email = emails.get(label.user_id)
    return render(request, "labeling/_history_row.html", {
        "user": user, "project": project, "label": label, "edit": edit and can_edit(user, label),
        "history": history, "audit": audit, "emails": emails, "error": error, "saved": saved,
        "window": session.get(Window, label.window_id), "names": VALUE_NAMES, "values": LABEL_VALUES,
        "can_edit": can_edit}, status_code)


def _label_in(session: Session, project: Project, label_id: int) -> Label:
    return label_history.get_label(session, label_id=label_id, project_id=project.id)


@router.get("/projects/{project_id}/labels/{label_id:int}/row", response_class=HTMLResponse)
def label_row(project_id: int, label_id: int, request: Request, session: SessionDep, edit: bool = False,
              history: bool = False):
    user, project = fragment_access(request, session, project_id)
    try:
        label = _label_in(session, project, label_id)
    except label_history.LabelNotFound as exc:
        return PlainTextResponse(str(exc), 404)
    return _row(request, session, user=user, project=project, label=label, edit=edit, history=history)


@router.post("/projects/{project_id}/labels/{label_id:int}", response_class=HTMLResponse,
             dependencies=[Depends(require_csrf)])
def edit_label(project_id: int, label_id: int, request: Request, session: SessionDep,
               value: Annotated[str, Form()], reason: Annotated[str, Form()] = "",
               line_nos: Annotated[str, Form()] = ""):
    """Correct a label (author or admin); the old value stays in the audit trail, which the answer shows."""
    user, project = fragment_access(request, session, project_id)
    try:
        label = _label_in(session, project, label_id)
    except label_history.LabelNotFound as exc:
        return PlainTextResponse(str(exc), 404)
    try:
        numbers = [int(n) for n in line_nos.replace(",", " ").split()]
    except ValueError:
        return _row(request, session, user=user, project=project, label=label, edit=True,
                    error="Marked lines must be line numbers separated by spaces or commas.", status_code=422)
    if value == "unsure" and not reason.strip():
        return _row(request, session, user=user, project=project, label=label, edit=True,
                    error="An unsure label needs a reason.", status_code=422)
    try:
        label_history.edit_label(session, label_id=label.id, editor=user, value=value, reason=reason.strip(),
                                 line_nos=numbers)
        session.commit()
    except LabelForbidden as exc:
        session.rollback()
        return PlainTextResponse(str(exc), 403)
    except LabelError as exc:
        session.rollback()
        label = _label_in(session, project, label_id)
        return _row(request, session, user=user, project=project, label=label, edit=True, error=str(exc),
                    status_code=422)
    flush_outbox()  # a changed answer can make a retrain due
    return _row(request, session, user=user, project=project, label=session.get(Label, label_id), history=True,
                saved=f"Saved label {label_id}.")


@router.get("/projects/{project_id}/labels/window/{window_id}/lines", response_class=HTMLResponse)
def window_lines(project_id: int, window_id: int, request: Request, session: SessionDep):
    user, project = fragment_access(request, session, project_id)
    window = session.get(Window, window_id)
    if window is None or window.system_id != project.target_system_id:
        return PlainTextResponse(f"window {window_id} is not a window of this project's target", 404)
    return render(request, "labeling/_lines.html", {"user": user, "view": window_view(session, window, context=0)})


# --- label by template -----------------------------------------------------------------------------------------

def _by_template(request: Request, session: Session, *, user: User, project: Project, label_id: int | None,
                 outcome: template_labels.Outcome | None = None, notice: str | None = None, status_code: int = 200):
    error, proposal, view = None, None, None
    if label_id is None:
        error = "Open this page from a label (label history → “Same templates…”)."
    else:
        try:
            proposal = template_labels.propose(session, project_id=project.id, label_id=label_id)
            view = window_view(session, session.get(Window, proposal.label.window_id), context=0)
        except template_labels.TemplateLabelError as exc:
            error, status_code = str(exc), 422 if status_code == 200 else status_code
    return render(request, "labeling/by_template.html", {
        "user": user, "project": project, "proposal": proposal, "error": error, "outcome": outcome, "notice": notice,
        "view": view, "names": VALUE_NAMES}, status_code)


@router.get("/projects/{project_id}/labels/by-template", response_class=HTMLResponse)
def by_template_page(project_id: int, request: Request, session: SessionDep):
    access = page_access(request, session, project_id)
    if not isinstance(access, tuple):
        return access
    user, project = access
    return _by_template(request, session, user=user, project=project,
                        label_id=_int_or_none(request.query_params.get("label_id")))


@router.post("/projects/{project_id}/labels/by-template", response_class=HTMLResponse)
def by_template_confirm(project_id: int, request: Request, session: SessionDep, label_id: Annotated[int, Form()],
                        window_ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies defaults
                        csrf_token: Annotated[str, Form()] = ""):
    access = page_access(request, session, project_id)
    if not isinstance(access, tuple):
        return access
    user, project = access
    try:  # a plain form post: an expired form gets the page back with the reason, not a JSON body
        check_csrf(request, request.headers.get("x-csrf-token") or csrf_token)
    except HTTPException as exc:
        return _by_template(request, session, user=user, project=project, label_id=label_id,
                            notice=f"Nothing was labeled: {exc.detail}.", status_code=exc.status_code)
    if not window_ids:
        return _by_template(request, session, user=user, project=project, label_id=label_id,
                            notice="Nothing was labeled: tick at least one window.", status_code=422)
    try:
        outcome = template_labels.confirm(session, project_id=project.id, label_id=label_id,
                                          window_ids=window_ids, user=user)
        session.commit()
    except (template_labels.TemplateLabelError, LabelError) as exc:
        session.rollback()
        return _by_template(request, session, user=user, project=project, label_id=label_id,
                            notice=f"Nothing was labeled: {exc}.", status_code=422)
    flush_outbox()  # labeling a round's last windows can start a retrain
    return _by_template(request, session, user=user, project=project, label_id=label_id, outcome=outcome)
