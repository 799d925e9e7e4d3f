"""Reading, exporting and correcting the labels of a project, with every change kept in label_audit."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import LABEL_VALUES, Label, LabelAudit, LogLine, User, Window
from app.services.labels import MAX_REASON, LabelError, LabelForbidden
from app.services.retrain import maybe_request_retrain

EXPORT_BATCH = 1000
EXPORT_COLUMNS = ("id", "window_id", "dataset_id", "first_line_no", "last_line_no", "session", "value", "reason",
                  "line_nos", "user_id", "user_email", "round", "model_version_id", "created_at", "updated_at")


class LabelNotFound(LookupError):
    """No label with that id (in that project) (HTTP 404)."""


def _filtered(query, *, project_id: int, user_id: int | None, value: str | None, round: int | None):
    query = query.where(Label.project_id == project_id)
    if user_id is not None:
        query = query.where(Label.user_id == user_id)
    if value is not None:
        query = query.where(Label.value == value)
    if round is not None:
        query = query.where(Label.round == round)
    return query


def list_labels(session: Session, *, project_id: int, user_id: int | None = None, value: str | None = None,
                round: int | None = None, limit: int = 50, offset: int = 0) -> tuple[int, list[Label]]:
    """(total matching, one page of labels newest first); each label carries ``.user`` and ``.user_email``."""
    if value is not None and value not in LABEL_VALUES:
        raise LabelError(f"value must be one of {', '.join(LABEL_VALUES)}, not {value!r}")
    filters = {"project_id": project_id, "user_id": user_id, "value": value, "round": round}
    total = session.scalar(_filtered(select(func.count(Label.id)), **filters)) or 0
    page = session.execute(_filtered(select(Label, User).outerjoin(User, User.id == Label.user_id), **filters)
                           .order_by(Label.updated_at.desc(), Label.id.desc())
                           .limit(max(0, limit)).offset(max(0, offset))).all()
    return total, [_with_user(label, user) for label, user in page]


def _with_user(label: Label, user: User | None) -> Label:
    # Label has no mapped relationship to its author; the page carries it as plain attributes.
    label.user = user
    label.user_email = user.email if user is not None else None
    return label


def get_label(session: Session, *, label_id: int, project_id: int | None = None) -> Label:
    label = session.get(Label, label_id)
    if label is None or (project_id is not None and label.project_id != project_id):
        raise LabelNotFound(f"label {label_id} does not exist" + (" in this project" if label else ""))
    return label


def export_labels(session: Session, *, project_id: int, fmt: str) -> Iterator[str]:
    """The project's labels with their windows' positions, as CSV (with a header) or JSON lines, in chunks.

    Ground truth is never part of an export: only what operators answered.
    """
    if fmt not in ("csv", "jsonl"):
        raise LabelError(f"format must be csv or jsonl, not {fmt!r}")
    query = (select(Label, Window.dataset_id, Window.first_line_no, Window.last_line_no, Window.session,
                    User.email)
             .join(Window, Window.id == Label.window_id).outerjoin(User, User.id == Label.user_id)
             .where(Label.project_id == project_id).order_by(Label.id))
    if fmt == "csv":
        yield _csv_row(EXPORT_COLUMNS)
    last_id = 0
    while True:  # keyset pages: a long export holds no cursor open between chunks
        rows = session.execute(query.where(Label.id > last_id).limit(EXPORT_BATCH)).all()
        if not rows:
            return
        records = [_record(*row) for row in rows]
        last_id = records[-1]["id"]
        if fmt == "csv":
            yield "".join(_csv_row([_cell(r[c]) for c in EXPORT_COLUMNS]) for r in records)
        else:
            yield "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _record(label: Label, dataset_id, first, last, window_session, email) -> dict:
    return {"id": label.id, "window_id": label.window_id, "dataset_id": dataset_id, "first_line_no": first,
            "last_line_no": last, "session": window_session, "value": label.value, "reason": label.reason,
            "line_nos": list(label.line_nos or []), "user_id": label.user_id, "user_email": email,
            "round": label.round, "model_version_id": label.model_version_id,
            "created_at": label.created_at.isoformat() if label.created_at else None,
            "updated_at": label.updated_at.isoformat() if label.updated_at else None}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _csv_row(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def edit_label(session: Session, *, label_id: int, editor: User, value: str | None = None,
               reason: str | None = None, line_nos: list[int] | None = None) -> Label:
    """Change a label's value, reason or marked lines; the author stays, the old values go to label_audit.

    Only the author or an admin may edit. The caller commits (and then flushes the job outbox: a changed
    value can make a retrain due).
    """
    label = session.scalar(select(Label).where(Label.id == label_id).with_for_update())
    if label is None:
        raise LabelNotFound(f"label {label_id} does not exist")
    if editor.role != "admin" and label.user_id != editor.id:
        raise LabelForbidden("only the label's author or an admin can change it")
    if value is not None and value not in LABEL_VALUES:
        raise LabelError(f"value must be one of {', '.join(LABEL_VALUES)}, not {value!r}")
    checked_lines = _check_line_nos(session, label=label, line_nos=line_nos) if line_nos is not None else None
    old = (label.value, label.reason, list(label.line_nos or []))
    if value is not None:
        label.value = value
    if reason is not None:
        label.reason = reason[:MAX_REASON] or None
    if checked_lines is not None:
        label.line_nos = checked_lines
    if (label.value, label.reason, list(label.line_nos or [])) == old:
        return label  # nothing changed: no audit row
    session.add(LabelAudit(label_id=label.id, project_id=label.project_id, window_id=label.window_id,
                           changed_by=editor.id, action="update", old_value=old[0], new_value=label.value,
                           old_reason=old[1], old_line_nos=old[2]))
    session.flush()
    maybe_request_retrain(session, project_id=label.project_id)
    return label


def _check_line_nos(session: Session, *, label: Label, line_nos: list[int]) -> list[int]:
    """The marked line numbers, each checked to be a line of the label's window."""
    window = session.get(Window, label.window_id)
    wanted = sorted(set(int(n) for n in line_nos))
    if not wanted:
        return []
    if window.session is None:
        outside = [n for n in wanted if not window.first_line_no <= n <= window.last_line_no]
    else:
        inside = set(session.scalars(select(LogLine.line_no).where(
            LogLine.dataset_id == window.dataset_id, LogLine.session == window.session,
            LogLine.line_no.in_(wanted))))
        outside = [n for n in wanted if n not in inside]
    if outside:
        raise LabelError(f"line_nos {outside[:10]} are not lines of window {window.id}")
    return wanted


def label_history(session: Session, *, label_id: int) -> list[LabelAudit]:
    """Every recorded change of a label, oldest first."""
    return list(session.scalars(select(LabelAudit).where(LabelAudit.label_id == label_id)
                                .order_by(LabelAudit.changed_at, LabelAudit.id)))
