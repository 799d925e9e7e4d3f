"""Recording an operator's answer: one label per project and window, its queue item closed, and the
retrain job created in the same transaction when a rule says the model should learn from it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.models import LABEL_VALUES, Job, Label, LabelAudit, LogLine, Project, QueueItem, Window, utcnow
from app.db.session import is_postgres
from app.services.jobs import aware
from app.services.promote import serving_version
from app.services.retrain import maybe_request_retrain

MAX_REASON = 2000


class LabelError(ValueError):
    """A label that cannot be stored as given (unknown window, bad value); the message says why."""


class LabelConflict(LabelError):
    """The window is claimed by another operator (HTTP 409)."""


class LabelForbidden(LabelError):
    """The window is labeled by another user and the caller may not change it (HTTP 403)."""


@dataclass
class LabelResult:
    label: Label
    created: bool  # False: an update, or a retry of an earlier request (same idempotency key)
    retrain_job: Job | None


def record_label(session: Session, *, project_id: int, window_id: int, user_id: int | None, value: str,
                 reason: str | None = None, line_ids: list[int] | None = None,
                 idempotency_key: str | None = None, protect_others: bool = False) -> LabelResult:
    """Store (or change) the label of a window; the caller commits.

    :param line_ids: ids of the window's log lines the operator marked as the anomalous ones
    :param idempotency_key: a client's request key; a retry with the same key returns the first label
    :param protect_others: refuse (LabelForbidden) to change another user's label, unless this is a retry
        of the request that made it (for callers that are not admins)
    """
    earlier, current = _earlier(session, project_id=project_id, window_id=window_id, idempotency_key=idempotency_key)
    retry = current is not None and idempotency_key is not None and current.idempotency_key == idempotency_key
    if protect_others and current is not None and not retry and current.user_id != user_id:
        raise LabelForbidden(f"window {window_id} is labeled by another user; only they or an admin can change it")
    if earlier is not None:
        return LabelResult(earlier, False, None)
    project, window, item = _check(session, project_id=project_id, window_id=window_id, user_id=user_id,
                                   value=value)
    fields = {"user_id": user_id, "value": value, "reason": (reason or None) and reason[:MAX_REASON],
              "line_nos": _line_nos(session, window=window, line_ids=line_ids or []),
              "round": item.round if item else 0,
              "model_version_id": item.model_version_id if item else _serving_id(session, project_id)}
    label, created = _upsert(session, project_id=project_id, window_id=window_id, fields=fields,
                             idempotency_key=idempotency_key, current=current)
    if item is not None:
        item.state, item.claimed_by, item.claim_expires_at = "done", user_id, None
    session.flush()
    return LabelResult(label, created, maybe_request_retrain(session, project_id=project_id, project=project))


def _earlier(session: Session, *, project_id: int, window_id: int,
             idempotency_key: str | None) -> tuple[Label | None, Label | None]:
    """The label an earlier request with this key made, and the window's current label: one query for both
    (each is an index probe; on a busy machine the round trip is what costs)."""
    match = Label.window_id == window_id
    if idempotency_key is not None:
        match = or_(match, Label.idempotency_key == idempotency_key)
    rows = session.scalars(select(Label).where(Label.project_id == project_id, match)).all()
    earlier = next((r for r in rows if idempotency_key is not None and r.idempotency_key == idempotency_key), None)
    current = next((r for r in rows if r.window_id == window_id), None)
    return earlier, current


def _check(session: Session, *, project_id: int, window_id: int, user_id: int | None, value: str):
    if value not in LABEL_VALUES:
        raise LabelError(f"label must be one of {', '.join(LABEL_VALUES)}, not {value!r}")
    project = session.get(Project, project_id)
    if project is None:
        raise LabelError(f"project {project_id} does not exist")
    # The queue item (locked: a concurrent claim or label of the window waits, and its state is read fresh)
    # with its window in one query; a window that was never queued (an admin's correction) is read alone.
    row = session.execute(select(QueueItem, Window).join(Window, Window.id == QueueItem.window_id)
                          .where(QueueItem.project_id == project_id, QueueItem.window_id == window_id)
                          .with_for_update(of=QueueItem).execution_options(populate_existing=True)).first()
    item, window = row if row is not None else (None, session.get(Window, window_id))
    if window is None or window.system_id != project.target_system_id:
        raise LabelError(f"window {window_id} is not a window of this project's target system")
    if item is not None and item.state == "claimed" and item.claimed_by != user_id \
            and aware(item.claim_expires_at) > utcnow():
        raise LabelConflict(f"window {window_id} is claimed by another operator")
    return project, window, item


def _line_nos(session: Session, *, window: Window, line_ids: list[int]) -> list[int]:
    """Line numbers of the marked lines, each checked to belong to the window."""
    if not line_ids:
        return []
    rows = session.execute(select(LogLine.id, LogLine.line_no, LogLine.session)
                           .where(LogLine.id.in_(line_ids), LogLine.dataset_id == window.dataset_id)).all()
    inside = {i: n for i, n, s in rows if (s == window.session if window.session is not None
                                           else window.first_line_no <= n <= window.last_line_no)}
    outside = sorted(set(line_ids) - set(inside))
    if outside:
        raise LabelError(f"log lines {outside[:10]} are not lines of window {window.id}")
    return sorted(set(inside.values()))


def _serving_id(session: Session, project_id: int) -> int | None:
    serving = serving_version(session, project_id)
    return serving.id if serving is not None else None


def _upsert(session: Session, *, project_id: int, window_id: int, fields: dict,
            idempotency_key: str | None, current: Label | None = None) -> tuple[Label, bool]:
    # INSERT .. ON CONFLICT DO NOTHING: of two operators answering the same window at once, one inserts and
    # the other updates; neither fails with a unique violation half-way through its transaction.
    # A window already labeled (``current``, read by the caller) goes straight to the update.
    if current is None:
        dialect = postgresql if is_postgres(session) else sqlite
        label = session.scalars(dialect.insert(Label).values(
            project_id=project_id, window_id=window_id, idempotency_key=idempotency_key, created_at=utcnow(),
            updated_at=utcnow(), **fields).on_conflict_do_nothing().returning(Label)).first()
        if label is not None:
            _audit(session, label, "create", old=None)
            return label, True
    # populate_existing: ``current`` was read before the lock; the audit must keep the values it replaces.
    label = session.scalar(select(Label).where(Label.project_id == project_id, Label.window_id == window_id)
                           .with_for_update().execution_options(populate_existing=True))
    if label is None:  # the conflict was on the idempotency key: a concurrent retry won
        return session.scalar(select(Label).where(Label.project_id == project_id,
                                                  Label.idempotency_key == idempotency_key)), False
    if idempotency_key is not None and label.idempotency_key == idempotency_key:
        return label, False  # a copy of the same request that committed first: nothing changes, no audit
    old = (label.value, label.reason, list(label.line_nos or []))
    for name, value in fields.items():
        setattr(label, name, value)
    if idempotency_key is not None:
        label.idempotency_key = idempotency_key  # a retried re-label then returns early, with no second audit row
    _audit(session, label, "update", old=old)
    return label, False


def _audit(session: Session, label: Label, action: str, *, old) -> None:
    old_value, old_reason, old_lines = old if old else (None, None, None)
    session.add(LabelAudit(label_id=label.id, project_id=label.project_id, window_id=label.window_id,
                           changed_by=label.user_id, action=action, old_value=old_value, new_value=label.value,
                           old_reason=old_reason, old_line_nos=old_lines))
