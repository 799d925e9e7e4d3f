"""The active-learning loop with real PostgreSQL, Redis and ``logaction worker`` processes: base training,
queue, labels, retrain, promotion, refill; and a worker killed mid-training."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db.models import Artifact, Job, Label, ModelVersion, Project, QueueItem
from app.db.session import session_scope
from tests.loop.builders import (
    TINY_TRAINING, answer_round, describe_jobs, ingested_project, jobs_of, long_finetune, wait_for,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]
LOOP_OPTIONS = {"round_fraction": 0.05, "budget_fraction": 0.2}


def finished(project_id: int, n: int):
    jobs = jobs_of(project_id)
    done = all(s in ("succeeded", "failed") for _, s in jobs)
    return jobs if done and (len(jobs) >= n or any(s == "failed" for _, s in jobs)) else None


def queue_by_round(session, project_id: int) -> dict[int, list[int]]:
    rounds: dict[int, list[int]] = {}
    for r, w in session.execute(select(QueueItem.round, QueueItem.window_id)
                                .where(QueueItem.project_id == project_id)):
        rounds.setdefault(r, []).append(w)
    return rounds


def expected_round(session, project_id: int, spent: int) -> int:
    from app.services.queue import pool_size, round_budget

    project = session.get(Project, project_id)
    return round_budget(project, pool_size=pool_size(session, project=project), spent=spent)


def base_ready(workers, train_options: dict) -> tuple[int, object]:
    from app.services.jobs import flush_outbox

    project_id = ingested_project(train_options=train_options, **LOOP_OPTIONS)
    assert flush_outbox() == 1  # the base training
    worker = workers()
    jobs = wait_for(lambda: finished(project_id, 2), timeout=120, what="base training and first queue",
                    detail=lambda: (describe_jobs(project_id), worker.tail()))
    assert jobs == [("train_base", "succeeded"), ("score_fill", "succeeded")], worker.tail()
    return project_id, worker


def test_base_queue_labels_retrain_promote_refill(workers, operator):
    project_id, worker = base_ready(workers, TINY_TRAINING)
    with session_scope() as session:
        first = queue_by_round(session, project_id)
        assert list(first) == [1] and len(first[1]) == expected_round(session, project_id, spent=0) > 0

    retrain_job = answer_round(project_id, user_id=operator, round=1)
    assert retrain_job is not None  # the round's last answer asked for it
    jobs = wait_for(lambda: finished(project_id, 4), timeout=120, what="retrain and refill",
                    detail=lambda: (describe_jobs(project_id), worker.tail()))
    assert jobs[2:] == [("retrain", "succeeded"), ("score_fill", "succeeded")], worker.tail()

    with session_scope() as session:
        versions = session.scalars(select(ModelVersion).where(ModelVersion.project_id == project_id)
                                   .order_by(ModelVersion.version)).all()
        assert [(v.version, v.is_serving) for v in versions] == [(0, False), (1, True)]
        new = versions[1]
        assert new.parent_id == versions[0].id and new.round == 1
        assert new.labels_used == session.scalar(select(func.count()).where(Label.project_id == project_id))
        assert {"precision", "recall", "f1", "test_windows"} <= set(new.metrics) and new.metrics["test_windows"] > 0
        assert session.get(Job, retrain_job).model_version_id == new.id
        rounds = queue_by_round(session, project_id)
        assert len(rounds[2]) == expected_round(session, project_id, spent=len(first[1])) > 0
        assert not set(rounds[2]) & set(rounds[1])  # nothing queued twice
        labeled = set(session.scalars(select(Label.window_id).where(Label.project_id == project_id)))
        assert not set(rounds[2]) & labeled
        assert session.scalar(select(func.count()).where(QueueItem.project_id == project_id,
                                                         QueueItem.model_version_id == new.id)) == len(rounds[2])


def test_a_worker_killed_mid_training_leaves_the_old_version_serving_and_the_job_finishes(workers, operator):
    # Enough fine-tuning steps to be caught in the middle (about 0.3 s each on 2 CPU cores).
    project_id, worker = base_ready(workers, long_finetune(30))
    with session_scope() as session:
        base = session.scalar(select(ModelVersion).where(ModelVersion.project_id == project_id))
        artifacts = session.scalar(select(func.count()).select_from(Artifact))
    job_id = answer_round(project_id, user_id=operator, round=1)

    def training_under_way():
        with session_scope() as session:
            job = session.get(Job, job_id)
            return job.status == "running" and job.progress >= 0.1 and "fine-tune" in job.message

    wait_for(training_under_way, timeout=60, what="the retrain to be fine-tuning")
    worker.kill()

    with session_scope() as session:
        serving = session.scalar(select(ModelVersion).where(ModelVersion.project_id == project_id,
                                                            ModelVersion.is_serving.is_(True)))
        assert serving.id == base.id  # the old version still serves
        assert session.scalar(select(func.count()).where(ModelVersion.project_id == project_id)) == 1
        assert session.scalar(select(func.count()).select_from(Artifact)) == artifacts  # nothing half-written
        assert session.get(Job, job_id).status == "running"  # orphaned: its lease will lapse

    restarted = workers()
    jobs = wait_for(lambda: finished(project_id, 4), timeout=180, what="the retrain after the restart",
                    detail=lambda: (describe_jobs(project_id), restarted.tail()))
    assert jobs[2:] == [("retrain", "succeeded"), ("score_fill", "succeeded")], restarted.tail()
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job.attempts >= 2
        versions = session.scalars(select(ModelVersion).where(ModelVersion.project_id == project_id)
                                   .order_by(ModelVersion.version)).all()
        assert [(v.version, v.is_serving) for v in versions] == [(0, False), (1, True)]
        assert job.model_version_id == versions[1].id
        assert session.scalar(select(func.count()).select_from(Artifact)) == artifacts + 1
