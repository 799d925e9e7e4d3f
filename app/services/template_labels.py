"""Label by template: from one labeled window, propose its label for the unlabeled pool windows made of exactly
the same set of templates; the operator reviews the list and confirms the ones to label.

Only pool windows are proposed: a label on a test window would leak into the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Label, Project, QueueItem, Template, User, Window, utcnow
from app.services.jobs import aware
from app.services.labels import LabelConflict, record_label
from app.services.training import in_pool

PROPAGATED = ("normal", "anomaly")  # skip / unsure say nothing about look-alike windows
MAX_CANDIDATES = 500


class TemplateLabelError(ValueError):
    """The label cannot be propagated (its value, or its project); the message says why."""


@dataclass
class Candidate:
    window: Window
    queued: str | None  # the window's queue state, None when it is not queued
    held_by_other: bool  # claimed by another operator right now: confirming will skip it


@dataclass
class Proposal:
    label: Label
    templates: list[Template]  # the shared template set, by id
    total: int  # candidates found (at most MAX_CANDIDATES are listed)
    candidates: list[Candidate] = field(default_factory=list)


@dataclass
class Outcome:
    labeled: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)  # window id -> why


def template_set(events) -> frozenset[int]:
    return frozenset(int(e) for e in events if e)


def _source(session: Session, *, project_id: int, label_id: int) -> tuple[Label, Window]:
    label = session.get(Label, label_id)
    if label is None or label.project_id != project_id:
        raise TemplateLabelError(f"label {label_id} does not exist in this project")
    if label.value not in PROPAGATED:
        raise TemplateLabelError(f"only normal or anomaly labels can be proposed for other windows, "
                                 f"not {label.value!r}")
    window = session.get(Window, label.window_id)
    if not template_set(window.events):
        raise TemplateLabelError(f"window {window.id} has no parsed templates to match on")
    return label, window


def _matching_ids(session: Session, *, project: Project, window: Window) -> list[int]:
    """Unlabeled pool windows of the target with the same template set, in file order."""
    wanted = template_set(window.events)
    labeled = select(Label.window_id).where(Label.project_id == project.id)
    rows = session.execute(select(Window.id, Window.events).where(
        Window.system_id == project.target_system_id, in_pool(), Window.id != window.id,
        Window.id.not_in(labeled)).order_by(Window.dataset_id, Window.seq))
    # JSON arrays of ids: comparing sets in Python is portable and fast enough for a review page
    return [wid for wid, events in rows if len(events) >= len(wanted) and template_set(events) == wanted]


def propose(session: Session, *, project_id: int, label_id: int, limit: int = MAX_CANDIDATES) -> Proposal:
    label, window = _source(session, project_id=project_id, label_id=label_id)
    project = session.get(Project, project_id)
    ids = _matching_ids(session, project=project, window=window)
    shown = ids[:limit]
    windows = {w.id: w for w in session.scalars(select(Window).where(Window.id.in_(shown)))} if shown else {}
    queue = {row.window_id: row for row in session.scalars(select(QueueItem).where(
        QueueItem.project_id == project_id, QueueItem.window_id.in_(shown)))} if shown else {}
    templates = list(session.scalars(select(Template).where(
        Template.id.in_(template_set(window.events))).order_by(Template.id)))
    now = utcnow()
    candidates = [Candidate(windows[i], queue[i].state if i in queue else None,
                            i in queue and _held_by_other(queue[i], label.user_id, now)) for i in shown]
    return Proposal(label, templates, len(ids), candidates)


def _held_by_other(item: QueueItem, user_id: int | None, now) -> bool:
    return item.state == "claimed" and item.claimed_by != user_id and aware(item.claim_expires_at) > now


def confirm(session: Session, *, project_id: int, label_id: int, window_ids: list[int], user: User) -> Outcome:
    """Label the chosen windows with the label's value, as ``user``; the caller commits.

    Each chosen window is checked again (still unlabeled, same template set, in the pool): the list the
    operator reviewed may be minutes old. A retried confirmation stores nothing twice (idempotency keys).
    """
    label, window = _source(session, project_id=project_id, label_id=label_id)
    project = session.get(Project, project_id)
    still = set(_matching_ids(session, project=project, window=window))
    outcome = Outcome()
    for window_id in dict.fromkeys(window_ids):
        if window_id not in still:
            outcome.skipped[window_id] = "no longer an unlabeled pool window with the same templates"
            continue
        try:
            record_label(session, project_id=project_id, window_id=window_id, user_id=user.id, value=label.value,
                         reason=f"by template, from label #{label.id} (window {window.id})",
                         idempotency_key=f"by-template:{label.id}:{window_id}")
        except LabelConflict:
            outcome.skipped[window_id] = "claimed by another operator"
            continue
        outcome.labeled.append(window_id)
    return outcome
