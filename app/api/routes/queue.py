"""The labeling queue: progress of the round, claiming the next window, giving a claim back."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy import func, select

from app.api.deps import LabelerUser, SessionDep, get_or_404, project_or_404
from app.api.schemas import AUTH_ERRORS, errors, ClaimOut, QueueStatusOut
from app.db.models import LogLine, Project, QueueItem, Window
from app.services.queue import claim_next, release_claim, round_status

router = APIRouter(prefix="/api/v1/projects/{project_id}/queue", tags=["queue"],
                   responses={**AUTH_ERRORS, **errors(e404="no such project (or item in it)")})


def window_lines(session, window_id: int) -> list[dict]:
    """The raw lines of a window: its line range in the dataset, or every line of its session.

    Only the columns the answer shows: whole LogLine rows (content, parameters, ...) were most of the
    claim's serialisation time."""
    dataset_id, session_name, first, last = session.execute(
        select(Window.dataset_id, Window.session, Window.first_line_no, Window.last_line_no)
        .where(Window.id == window_id)).one()
    query = select(LogLine.id, LogLine.line_no, LogLine.raw, LogLine.template_id).where(LogLine.dataset_id == dataset_id)
    if session_name is not None:
        query = query.where(LogLine.session == session_name)
    else:
        query = query.where(LogLine.line_no.between(first, last))
    return [row._asdict() for row in session.execute(query.order_by(LogLine.line_no))]


@router.get("", response_model=QueueStatusOut, summary="Progress of the current round")
def queue_status(project_id: int, session: SessionDep, _: LabelerUser) -> dict:
    get_or_404(session, Project, project_id)
    current = round_status(session, project_id=project_id)
    states = dict(session.execute(select(QueueItem.state, func.count()).where(
        QueueItem.project_id == project_id, QueueItem.round == current.round).group_by(QueueItem.state)).all())
    return {"round": current.round, "size": current.size, "done": current.done, "open": states.get("open", 0),
            "claimed": states.get("claimed", 0), "complete": current.complete}


@router.post("/claim", response_model=ClaimOut, summary="Claim the next window to label",
             responses={204: {"description": "nothing left to claim in this round"}})
def claim(project_id: int, session: SessionDep, user: LabelerUser):
    """The next open window of the queue under a claim lease (or the one you already hold), with its raw
    lines. Two callers never get the same window; an abandoned claim returns to the queue when it expires."""
    item = claim_next(session, project_id=project_id, user_id=user.id)
    if item is None:
        session.rollback()
        project_or_404(session, project_id)  # a claimed item proves the project exists: asked only here
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    lines = window_lines(session, item.window_id)  # before the commit: one transaction, no second BEGIN
    session.commit()
    return {"item_id": item.id, "window_id": item.window_id, "round": item.round, "position": item.position,
            "free_energy": item.free_energy, "uncertainty": item.uncertainty, "p_anomaly": item.p_anomaly,
            "free_energy_rank": item.free_energy_rank, "uncertainty_rank": item.uncertainty_rank,
            "pool_size": item.pool_size, "claim_expires_at": item.claim_expires_at, "lines": lines}


@router.post("/{item_id}/release", status_code=status.HTTP_204_NO_CONTENT, summary="Give a claimed window back",
             responses={409: {"description": "you do not hold a claim on this item"}})
def release(project_id: int, item_id: int, session: SessionDep, user: LabelerUser) -> Response:
    item = session.get(QueueItem, item_id)
    if item is None or item.project_id != project_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"queue item {item_id} does not exist in project {project_id}")
    if not release_claim(session, item_id=item_id, user_id=user.id):
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, f"you do not hold a claim on queue item {item_id}")
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
