"""Retraining: when to (a round fully labeled, N new labels, an admin's request) and how (fine-tune the
serving version on source labels + all target labels so far, evaluate, promote)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from app.db.models import Job, Label, ModelVersion, Project, QueueItem, Window
from app.db.session import session_scope
from app.services.jobs import create_job
from app.services.models import load_bundle
from app.services.promote import promote, serving_version
from app.services.queue import current_round, round_answered
from app.services.training import (
    Progress, TrainingError, WindowSet, configs, evaluate, in_pool, load_windows, to_rows,
)

TRAINING_LABELS = {"normal": 0, "anomaly": 1}  # skip and unsure teach the model nothing
UNFINISHED = ("queued", "running", "pending_send")


class RetrainError(ValueError):
    """A retrain that cannot be requested now; the message says why."""


# --- when -----------------------------------------------------------------------------------------------

def training_label_count(session: Session, *, project_id: int) -> int:
    return session.scalar(select(func.count()).where(
        Label.project_id == project_id, Label.value.in_(TRAINING_LABELS))) or 0


def retrain_due(session: Session, *, project: Project, serving: ModelVersion,
                round_open: bool | None = None) -> str | None:
    """Why the project should retrain now (``"round"`` or ``"labels"``), or None.

    :param round_open: whether the serving version's round still has open or claimed windows, when the
        caller already asked (then only an answered round costs a further query)
    """
    answered = False if round_open else round_answered(session, project_id=project.id, model_version_id=serving.id)
    if answered:
        return "round"  # the round the serving version picked is fully answered
    if project.retrain_every > 0 and \
            training_label_count(session, project_id=project.id) - serving.labels_used >= project.retrain_every:
        return "labels"
    return None


def maybe_request_retrain(session: Session, *, project_id: int, project: Project | None = None) -> Job | None:
    """Create the retrain job in the caller's transaction when a rule says so (at most one automatic
    retrain per serving version: a failed one waits for an admin instead of looping).

    Asked after every label, so the serving version and whether its round still has open windows come in
    one query (the usual answer: yes, nothing to do).

    :param project: the project row when the caller has it (one load less)
    """
    project = project if project is not None else session.get(Project, project_id)
    if project is None:
        return None
    left = (QueueItem.project_id == project_id, QueueItem.model_version_id == ModelVersion.id,
            QueueItem.state.in_(("open", "claimed")))
    row = session.execute(select(ModelVersion, exists().where(*left)).where(
        ModelVersion.project_id == project_id, ModelVersion.is_serving.is_(True))).first()
    if row is None:
        return None
    serving, round_open = row
    reason = retrain_due(session, project=project, serving=serving, round_open=round_open)
    if reason is None:
        return None
    running = _unfinished(session, project_id)
    return running or _create(session, project_id, serving, reason, key=f"retrain:{project_id}:from-{serving.id}")


def request_retrain(session: Session, *, project_id: int, user_id: int | None = None) -> Job:
    """An admin's request: a retrain job now (or the one already waiting or running)."""
    serving = serving_version(session, project_id)
    if serving is None:
        raise RetrainError("the project has no trained model yet; train the base model first")
    running = _unfinished(session, project_id)
    if running is not None:
        return running
    manual = session.scalar(select(func.count()).where(Job.project_id == project_id, Job.kind == "retrain"))
    return _create(session, project_id, serving, "admin",
                   key=f"retrain:{project_id}:from-{serving.id}:manual-{manual}", user_id=user_id)


def _unfinished(session: Session, project_id: int) -> Job | None:
    return session.scalar(select(Job).where(Job.project_id == project_id, Job.kind == "retrain",
                                            Job.status.in_(UNFINISHED)).order_by(Job.id).limit(1))


def _create(session: Session, project_id: int, serving: ModelVersion, reason: str, *, key: str,
            user_id: int | None = None) -> Job:
    payload = {"from_version_id": serving.id, "reason": reason, "requested_by": user_id}
    return create_job(session, kind="retrain", project_id=project_id, payload=payload, idempotency_key=key)


# --- how ------------------------------------------------------------------------------------------------

@dataclass
class RetrainInputs:
    serving: ModelVersion
    bundle: object
    source: WindowSet
    labeled: WindowSet  # target windows with a normal/anomaly label (labels = the human answers)
    unlabeled: WindowSet
    test: WindowSet
    round: int
    train_config: object


def retrain_model(*, job_id: int, owner: str, device: str, progress: Progress) -> ModelVersion | None:
    """Fine-tune the serving version into the next one and promote it; None when there is nothing new."""
    from ml.artifacts import bundle_to_bytes
    from ml.training import fine_tune

    with session_scope() as session:
        job = session.get(Job, job_id)
        if job.model_version_id is not None:
            return session.get(ModelVersion, job.model_version_id)  # promoted before a crash
        inputs = _inputs(session, job=job, device=device)
    if inputs is None:
        return None
    ids = inputs.bundle.meta["template_ids"]
    progress(0.05, f"fine-tuning on {len(inputs.labeled.ids):,} target labels")
    try:
        bundle = fine_tune(inputs.bundle, to_rows(inputs.source.events, ids), inputs.source.labels,
                           to_rows(inputs.labeled.events, ids), inputs.labeled.labels,
                           to_rows(inputs.unlabeled.events, ids), inputs.train_config,
                           progress=lambda stage, f: progress(0.05 + 0.8 * f, stage))
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    metrics = evaluate(bundle, inputs.test, ids, device)
    progress(0.9, "saving the model")
    return promote(project_id=job.project_id, job_id=job_id, owner=owner, blob=bundle_to_bytes(bundle),
                   metrics=metrics, parent_id=inputs.serving.id, labels_used=len(inputs.labeled.ids),
                   round=inputs.round)


def _inputs(session: Session, *, job: Job, device: str) -> RetrainInputs | None:
    project = session.get(Project, job.project_id)
    serving = serving_version(session, job.project_id)
    if project is None or serving is None:
        raise TrainingError("the project has no serving model to fine-tune")
    labeled = _labeled(session, project=project)
    stale = serving.id != job.payload.get("from_version_id")
    if stale and serving.labels_used >= len(labeled.ids):
        return None  # another retrain already used every label this one was asked for
    source_ids = [s.id for s in project.sources]
    source = load_windows(session, system_ids=source_ids, where=(Window.label.is_not(None),))
    unlabeled = load_windows(session, system_ids=[project.target_system_id],
                             where=(in_pool(), Window.id.not_in(labeled.ids.tolist())))
    test = load_windows(session, system_ids=[project.target_system_id],
                        where=(Window.split == "test", Window.label.is_not(None)))
    _, train_config = configs(project, device)
    return RetrainInputs(serving, load_bundle(session, serving), source, labeled, unlabeled, test,
                         current_round(session, project_id=project.id), train_config)


def _labeled(session: Session, *, project: Project) -> WindowSet:
    """The target windows operators answered normal or anomaly, outside the test split (which must stay
    unseen for the metrics to mean anything), with the answers as labels."""
    answers = dict(session.execute(select(Label.window_id, Label.value).where(
        Label.project_id == project.id, Label.value.in_(TRAINING_LABELS))).all())
    windows = load_windows(session, system_ids=[project.target_system_id],
                           where=(Window.id.in_(list(answers)), in_pool()))
    windows.labels = np.array([TRAINING_LABELS[answers[int(w)]] for w in windows.ids], np.int8)
    return windows
