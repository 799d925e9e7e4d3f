"""Labels: answer a window, list and export a project's labels, correct one (kept in its history)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from fastapi.responses import StreamingResponse

from app.api.deps import LabelerUser, SessionDep, get_or_404, project_or_404, refusals
from app.api.schemas import AUTH_ERRORS, errors, LabelAuditOut, LabelIn, LabelOut, LabelPage, LabelPatch
from app.db.models import Label, Project, User
from app.db.session import session_factory
from app.services.jobs import flush_outbox
from app.services.label_history import (
    LabelNotFound, edit_label, export_labels, get_label, label_history, list_labels,
)
from app.services.labels import LabelConflict, LabelError, LabelForbidden, record_label

router = APIRouter(prefix="/api/v1/projects/{project_id}/labels", tags=["labels"],
                   responses={**AUTH_ERRORS, **errors(e404="no such project (or item in it)")})
MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def _out(session, label: Label) -> Label:
    if not hasattr(label, "user_email"):
        author = session.get(User, label.user_id) if label.user_id else None
        label.user_email = author.email if author else None
    return label


def _label_in_project(session, project_id: int, label_id: int) -> Label:
    try:
        return get_label(session, label_id=label_id, project_id=project_id)
    except LabelNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=LabelOut, summary="Label a window",
             responses={200: {"description": "a retry with the same Idempotency-Key, or a change of your label"},
                        403: {"description": "another user's label (only its author or an admin may change it)"},
                        409: {"description": "the window is claimed by another operator"},
                        422: {"description": "unknown value, or a window or line outside the project"}})
def create(project_id: int, body: LabelIn, response: Response, session: SessionDep, user: LabelerUser,
           idempotency_key: Annotated[str | None, Header(max_length=200)] = None):
    """Record your answer for a window (creating the label, or changing your earlier one). A retry with the
    same ``Idempotency-Key`` returns the first answer and creates nothing. Closing a round (or reaching the
    project's label count) starts a retrain."""
    project = project_or_404(session, project_id)  # held: record_label finds it in the session
    with refusals(session, {LabelForbidden: 403, LabelConflict: 409, LabelError: 422}):
        result = record_label(session, project_id=project.id, window_id=body.window_id, user_id=user.id,
                              value=body.value, reason=body.reason, line_ids=body.line_ids,
                              idempotency_key=idempotency_key, protect_others=user.role != "admin")
    session.commit()
    if result.retrain_job is not None:
        flush_outbox()  # the retrain this label made due; a broker outage leaves it to the outbox pump
    response.status_code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    return _out(session, result.label)


@router.get("", response_model=LabelPage, summary="List a project's labels")
def list_(project_id: int, session: SessionDep, _: LabelerUser, user_id: int | None = None,
          value: Literal["normal", "anomaly", "unsure", "skip"] | None = None,
          round: Annotated[int | None, Query(ge=0)] = None, limit: Annotated[int, Query(ge=1, le=500)] = 50,
          offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    """Newest first, filtered by author, value or round."""
    get_or_404(session, Project, project_id)
    total, rows = list_labels(session, project_id=project_id, user_id=user_id, value=value, round=round,
                              limit=limit, offset=offset)
    return {"total": total, "items": rows}


@router.get("/export", summary="Export a project's labels as CSV or JSON lines",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {"example": "id,window_id,dataset_id,...\n"},
                                         "application/x-ndjson": {"example": '{"id": 1, "value": "anomaly"}\n'}}}})
def export(project_id: int, session: SessionDep, _: LabelerUser,
           format: Literal["csv", "jsonl"] = "csv") -> StreamingResponse:
    """Every label with its window's dataset and line range (or session), streamed; never ground truth."""
    get_or_404(session, Project, project_id)

    def chunks():
        # Its own session: the request's may be closed while the response is still streaming.
        with session_factory()() as own:
            yield from export_labels(own, project_id=project_id, fmt=format)

    name = f"project-{project_id}-labels.{format}"
    return StreamingResponse(chunks(), media_type=MEDIA[format],
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.patch("/{label_id}", response_model=LabelOut, summary="Correct a label",
              responses={403: {"description": "not the label's author nor an admin"},
                         404: {"description": "no such label in the project"}})
def patch(project_id: int, label_id: int, body: LabelPatch, session: SessionDep, user: LabelerUser):
    """Change the value, reason or marked lines; the author stays, the previous values go to the history."""
    _label_in_project(session, project_id, label_id)
    with refusals(session, {LabelForbidden: 403, LabelError: 422}):
        label = edit_label(session, label_id=label_id, editor=user, **body.model_dump(exclude_unset=True))
    session.commit()
    flush_outbox()
    return _out(session, label)


@router.get("/{label_id}/history", response_model=list[LabelAuditOut], summary="A label's changes")
def history(project_id: int, label_id: int, session: SessionDep, _: LabelerUser) -> list:
    """Every change of the label, oldest first, with who made it and the values before."""
    _label_in_project(session, project_id, label_id)
    return label_history(session, label_id=label_id)
