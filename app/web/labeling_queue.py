"""The labeling queue page: one claimed window at a time. Answering stores the label and returns the next window
in the same request, so a window only leaves the screen once its label is committed."""

from __future__ import annotations

import logging
import math
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.api.deps import SessionDep
from app.db.models import Job, Label, ModelVersion, Project, QueueItem, User, Window, WindowScore
from app.services import evidence as evidence_service
from app.services.jobs import flush_outbox
from app.services.labels import LabelConflict, LabelError, LabelForbidden, record_label
from app.services.promote import serving_version
from app.services.queue import claim_next, round_status
from app.services.window_view import window_view
from app.web.csrf import require_csrf
from app.web.labeling_access import fragment_access, is_htmx, page_access, render

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
VALUE_NAMES = {"normal": "Normal", "anomaly": "Anomaly", "unsure": "Unsure", "skip": "Skip"}
ACTIVE_JOBS = ("queued", "running", "pending_send")


# --- what the workspace shows ------------------------------------------------------------------------------

def workspace(session: Session, *, project: Project, user: User, relabel: Label | None = None,
              notice: str | None = None, notice_kind: str = "info") -> dict:
    """Everything the window area needs: the claimed window (or the one being re-labeled), why it was picked,
    the round's progress and the operator's last answer."""
    if relabel is None:
        item = claim_next(session, project_id=project.id, user_id=user.id)
        # One commit for the claim and whatever the caller wrote before (the answer): the label is stored
        # before the next window is rendered, and a failed commit stores neither.
        session.commit()
        window = session.get(Window, item.window_id) if item is not None else None
    else:
        window = session.get(Window, relabel.window_id)
        item = session.scalar(select(QueueItem).where(QueueItem.project_id == project.id,
                                                      QueueItem.window_id == window.id))
    ctx = {"project": project, "mode": "relabel" if relabel else "queue", "label": relabel, "item": item,
           "window": window, "notice": notice, "notice_kind": notice_kind, "key": uuid.uuid4().hex,
           "round": round_status(session, project_id=project.id), "names": VALUE_NAMES}
    ctx["last"], ctx["mine"] = _last_and_count(session, project_id=project.id, user_id=user.id)
    if window is not None:
        ctx["view"] = window_view(session, window, marked_line_nos=(relabel.line_nos or []) if relabel else ())
        ctx["why"] = why_selected(session, project=project, item=item, window=window)
    else:
        ctx["job"] = session.scalar(select(Job).where(Job.project_id == project.id, Job.status.in_(ACTIVE_JOBS))
                                    .order_by(Job.id.desc()).limit(1))
    return ctx


def why_selected(session: Session, *, project: Project, item: QueueItem | None, window: Window) -> dict:
    """The scores that put the window in the queue, and the serving model's current probability for it."""
    picked_by = session.get(ModelVersion, item.model_version_id) if item and item.model_version_id else None
    # Usually the serving version picked the window, and is already loaded: no second query for it.
    serving = picked_by if picked_by is not None and picked_by.is_serving else serving_version(session, project.id)
    current = None
    if serving is not None:
        current = session.scalar(select(WindowScore.p_anomaly).where(WindowScore.model_version_id == serving.id,
                                                                     WindowScore.window_id == window.id))
    if current is None and item is not None and serving is not None and item.model_version_id == serving.id:
        current = item.p_anomaly
    # Algorithm 1 draws from the λ1 share of the pool with the highest free energy; the queue also spends part of
    # each round on representative windows (ml.sampling coverage), which need not be in that share.
    in_v1 = item is not None and item.free_energy_rank <= math.ceil(project.lambda1 * item.pool_size)
    return {"serving": serving, "p_now": current, "picked_by": picked_by, "in_v1": in_v1}


def _last_and_count(session: Session, *, project_id: int, user_id: int) -> tuple[Label | None, int]:
    """The operator's latest answer in the project and how many they gave, in one query."""
    row = session.execute(select(Label, func.count().over()).where(
        Label.project_id == project_id, Label.user_id == user_id).order_by(Label.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row else (None, 0)


def previous_label(session: Session, *, project_id: int, user_id: int, before: int | None) -> Label | None:
    """The operator's most recent answer in the project (older than label ``before``, when given)."""
    query = select(Label).where(Label.project_id == project_id, Label.user_id == user_id)
    if before is not None:
        query = query.where(Label.id < before)
    return session.scalar(query.order_by(Label.id.desc()).limit(1))


def _fragment(request: Request, user: User, ctx: dict, *, status_text: str | None = None) -> HTMLResponse:
    # The server's share of the request reaches the browser as Server-Timing (app/observability.py).
    return render(request, "labeling/_workspace_response.html",
                  {**ctx, "ws": ctx, "user": user, "status_text": status_text})


# --- routes -------------------------------------------------------------------------------------------------

@router.get("/projects/{project_id}/label", response_class=HTMLResponse)
def queue_page(project_id: int, request: Request, session: SessionDep):
    access = page_access(request, session, project_id)
    if not isinstance(access, tuple):
        return access
    user, project = access
    ctx = workspace(session, project=project, user=user)
    serving = ctx.get("why", {}).get("serving")
    if serving is not None and serving.artifact_id is not None:
        evidence_service.warm(project.id, serving.id)
    # The page shows a claim held right now: a copy from the back/forward cache would show a stale one.
    return render(request, "labeling/queue.html", {"user": user, "project": project, "ws": ctx},
                  headers={"Cache-Control": "no-store"})


@router.get("/projects/{project_id}/label/next", response_class=HTMLResponse)
def next_window(project_id: int, request: Request, session: SessionDep):
    user, project = fragment_access(request, session, project_id)
    return _fragment(request, user, workspace(session, project=project, user=user))


@router.get("/projects/{project_id}/label/back", response_class=HTMLResponse)
def back(project_id: int, request: Request, session: SessionDep, before: int | None = None):
    """The operator's previous answer, to change it (``z``); repeated, it walks further back."""
    user, project = fragment_access(request, session, project_id)
    label = previous_label(session, project_id=project.id, user_id=user.id, before=before)
    if label is not None:
        return _fragment(request, user, workspace(session, project=project, user=user, relabel=label),
                         status_text=f"Re-labeling window {label.window_id}.")
    current = session.get(Label, before) if before is not None else None
    if current is not None and current.user_id == user.id and current.project_id == project.id:
        ctx = workspace(session, project=project, user=user, relabel=current,
                        notice="This is your first answer in this project: there is none before it.")
    else:
        ctx = workspace(session, project=project, user=user, notice="You have not labeled anything here yet.")
    return _fragment(request, user, ctx)


@router.post("/projects/{project_id}/label/submit", dependencies=[Depends(require_csrf)])
def submit(project_id: int, request: Request, session: SessionDep,
           window_id: Annotated[int, Form()], value: Annotated[str, Form()], key: Annotated[str, Form()],
           mode: Annotated[str, Form()] = "queue", reason: Annotated[str, Form()] = "",
           line_ids: Annotated[list[int], Form()] = []):  # noqa: B006 - FastAPI copies form defaults
    """Store the answer, then answer with the next window (or, after a re-label, the window in hand)."""
    user, project = fragment_access(request, session, project_id)
    if value == "unsure" and not reason.strip():
        return PlainTextResponse("Say briefly why you are unsure (the reason is stored with the label).", 422)
    old_value = None
    if mode == "relabel":  # for the "(was …)" in the confirmation
        old_value = session.scalar(select(Label.value).where(Label.project_id == project.id,
                                                             Label.window_id == window_id))
    notice, kind = None, "info"
    try:
        # The page asks for a reason only with "unsure"; a reason left in the hidden field must not stick to
        # a later normal/anomaly answer of the same window.
        result = record_label(session, project_id=project.id, window_id=window_id, user_id=user.id, value=value,
                              reason=reason.strip() if value == "unsure" else None, line_ids=line_ids,
                              idempotency_key=key[:200] or None, protect_others=user.role != "admin")
        if not is_htmx(request):
            session.commit()  # for HTMX, committed together with the next window's claim in workspace()
    except LabelForbidden:
        session.rollback()
        return PlainTextResponse("Only the label's author or an admin can change it.", 403)
    except LabelConflict:
        session.rollback()
        result = None
        notice, kind = (f"Window {window_id} was claimed by another operator (your claim had expired), so your "
                        f"answer “{VALUE_NAMES.get(value, value)}” was not stored. Here is your next window."), "warn"
    except LabelError as exc:
        session.rollback()
        return PlainTextResponse(f"{exc}.", 422)
    if not is_htmx(request):
        _flush(result)
        return RedirectResponse(f"/projects/{project.id}/label", status_code=status.HTTP_303_SEE_OTHER)
    saved = None
    if result is not None:
        change = f" (was {VALUE_NAMES.get(old_value, old_value)})" if old_value and old_value != value else ""
        saved = f"Saved window {window_id} as {VALUE_NAMES.get(value, value)}{change}."
    ctx = workspace(session, project=project, user=user, notice=notice, notice_kind=kind)
    _flush(result)
    ctx["saved"] = saved
    return _fragment(request, user, ctx, status_text=saved or notice)


def _flush(result) -> None:
    if result is not None and result.retrain_job is not None:
        flush_outbox()  # the retrain job was written with the label; send it now that both are committed


@router.get("/projects/{project_id}/label/evidence/{window_id}", response_class=HTMLResponse)
def evidence(project_id: int, window_id: int, request: Request, session: SessionDep):
    user, project = fragment_access(request, session, project_id)
    window = session.get(Window, window_id)
    if window is None or window.system_id != project.target_system_id:
        return PlainTextResponse(f"window {window_id} is not a window of this project's target", 404)
    try:
        found = evidence_service.nearest_sources(session, project=project, window=window)
        error = None
    except Exception as exc:  # evidence helps; its failure must not get in the way of labeling
        log.warning("evidence for window %s failed", window_id, exc_info=True)
        found, error = None, f"Similar windows are not available right now ({type(exc).__name__})."
    return render(request, "labeling/_evidence.html",
                  {"user": user, "project": project, "evidence": found, "error": error, "window": window})
