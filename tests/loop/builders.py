"""A small ingested project (two synthetic systems) and helpers to answer its queue with the ground truth."""

from __future__ import annotations

import hashlib
import time
import uuid

from sqlalchemy import select

from app.db.models import Dataset, Job, QueueItem, Window
from app.db.session import session_scope
from app.settings import get_settings

# Small on purpose: the loop tests exercise the machinery, not the model's quality.
TINY_TRAINING = {"epochs": 1, "min_steps": 5, "finetune_steps": 5}


def long_finetune(n: int) -> dict:
    return {**TINY_TRAINING, "finetune_steps": n}


def _store(text: str, suffix: str = "") -> str:
    folder = get_settings().uploads_path
    folder.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex + suffix
    (folder / name).write_text(text)
    return name


def _dataset(session, *, kind: str, n_lines: int, stride: int, role: str, tag: str) -> int:
    from ml.synthetic import generate

    from app.services.systems import create_system

    log = generate(kind, n_lines=n_lines, seed=0, label_token=role == "source")
    system = create_system(session, name=f"{kind}-{tag}", log_format=log.format, label_rule=log.label_rule,
                           window_size=20, window_stride=stride)
    text = "".join(f"{line}\n" for line in log.lines)
    truth = None
    if log.label_rule is None:  # the target's ground truth: for the metrics only
        truth = _store("line,label\n" + "".join(f"{i},{int(v)}\n" for i, v in enumerate(log.labels, 1)), ".csv")
    dataset = Dataset(system_id=system.id, role=role, original_name=f"{kind}.log", stored_name=_store(text),
                      truth_name=truth, size_bytes=len(text), sha256=hashlib.sha256(text.encode()).hexdigest())
    session.add(dataset)
    session.flush()
    return dataset.id


def ingested_project(*, train_options: dict, source_lines: int = 2000, target_lines: int = 3000,
                     **project_options) -> int:
    """Ingest both systems here (with the packaged MiniLM) and create the project; its base training
    job is in the outbox, to be sent with ``flush_outbox``."""
    from app.services import ingest
    from app.services.projects import create_project

    tag = uuid.uuid4().hex[:6]
    with session_scope() as session:
        source = _dataset(session, kind="synthetic-a", n_lines=source_lines, stride=20, role="source", tag=tag)
        target = _dataset(session, kind="synthetic-b", n_lines=target_lines, stride=10, role="target", tag=tag)
    from app.services.embedder import get_embedder

    for dataset_id in (source, target):
        ingest.ingest_dataset(dataset_id=dataset_id, embedder=get_embedder(), progress=lambda f, m: None)
    with session_scope() as session:
        systems = {d.role: d.system_id for d in session.scalars(select(Dataset).where(Dataset.id.in_([source, target])))}
        project = create_project(session, name=f"loop-{tag}", target_system_id=systems["target"],
                                 source_system_ids=[systems["source"]], train_options=train_options,
                                 **project_options)
        return project.id


def wait_for(predicate, *, timeout: float, what: str, every: float = 0.2, detail=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}" + (f": {detail()}" if detail else ""))


def describe_jobs(project_id: int) -> list[tuple]:
    with session_scope() as session:
        return [(j.id, j.kind, j.status, j.attempts, j.message, j.error)
                for j in session.scalars(select(Job).where(Job.project_id == project_id).order_by(Job.id))]


def jobs_of(project_id: int) -> list[tuple[str, str]]:
    with session_scope() as session:
        return [(j.kind, j.status) for j in session.scalars(select(Job).where(Job.project_id == project_id)
                                                             .order_by(Job.id))]


def answer_round(project_id: int, *, user_id: int, round: int) -> int:
    """Label every window of a round with its ground truth, through the service layer; returns the
    retrain job the last answer created (None if none)."""
    from app.services.jobs import flush_outbox
    from app.services.labels import record_label

    with session_scope() as session:
        items = session.execute(select(QueueItem.window_id, Window.label).join(Window, Window.id == QueueItem.window_id)
                                .where(QueueItem.project_id == project_id, QueueItem.round == round)
                                .order_by(QueueItem.position)).all()
    job_id = None
    for window_id, truth in items:
        with session_scope() as session:
            result = record_label(session, project_id=project_id, window_id=window_id, user_id=user_id,
                                  value="anomaly" if truth == 1 else "normal", idempotency_key=f"w{window_id}")
            job_id = result.retrain_job.id if result.retrain_job is not None else job_id
        flush_outbox()
    return job_id
