"""Training and scoring for a project: assembles arrays from the database, calls ml, stores the results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from app.db.models import ModelVersion, Project, Window, WindowScore
from app.db.session import session_scope
from app.services import templates as template_store
from app.services.models import load_bundle
from app.services.promote import promote, serving_version
from app.services.queue import fill_queue

Progress = Callable[[float, str], None]
POOL_SPLITS = (None, "pool")
SPLIT_RATIO = 0.7


class TrainingError(ValueError):
    """A project that cannot be trained or scored as configured; the message says why."""


@dataclass
class WindowSet:
    ids: np.ndarray  # window ids
    events: np.ndarray  # (n, L) template ids
    labels: np.ndarray  # (n,) int8, -1 unknown


def load_windows(session: Session, *, system_ids: list[int], where=()) -> WindowSet:
    rows = session.execute(select(Window.id, Window.events, Window.label)
                           .where(Window.system_id.in_(system_ids), *where)
                           .order_by(Window.dataset_id, Window.seq)).all()
    width = max((len(e) for _, e, _ in rows), default=1)
    events = np.zeros((len(rows), width), np.int64)
    for i, (_, ev, _) in enumerate(rows):
        events[i, width - len(ev):] = ev  # left padding, as ml.windowing does
    labels = np.array([-1 if label is None else label for _, _, label in rows], np.int8)
    return WindowSet(np.array([r[0] for r in rows], np.int64), events, labels)


def to_rows(events: np.ndarray, template_ids: list[int]) -> np.ndarray:
    """Template ids -> rows of the model's table; templates the model has not seen map to padding."""
    from ml.pipeline import to_rows as rows_of

    return rows_of(events, {tid: row for row, tid in enumerate(template_ids) if row})


def assign_split(session: Session, *, system_id: int) -> None:
    """Chronological pool/test split of the target's windows, fixed at the first training."""
    from ml.windowing import Windows, chronological_split

    rows = session.execute(select(Window.id, Window.dataset_id, Window.first_line_no, Window.last_line_no)
                           .where(Window.system_id == system_id, Window.split.is_(None))
                           .order_by(Window.dataset_id, Window.seq)).all()
    if not rows:
        return
    offset, last_dataset, base = 0, None, 0
    first, last = np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)
    for i, (_, dataset_id, a, b) in enumerate(rows):
        if dataset_id != last_dataset:  # datasets follow each other in time
            base, last_dataset = offset, dataset_id
        first[i], last[i] = base + a, base + b
        offset = max(offset, base + b + 1)
    windows = Windows(np.zeros((len(rows), 1), np.int64), np.full(len(rows), -1, np.int8), first, last)
    pool, test = chronological_split(windows, ratio=SPLIT_RATIO)
    split = np.full(len(rows), "gap", object)
    split[pool], split[test] = "pool", "test"
    ids = np.array([r[0] for r in rows])
    for name in ("pool", "test", "gap"):
        chosen = ids[split == name].tolist()
        for start in range(0, len(chosen), 900):
            session.execute(update(Window).where(Window.id.in_(chosen[start:start + 900])).values(split=name))


def configs(project: Project, device: str):
    from ml.model import ModelConfig
    from ml.training import TrainConfig

    try:
        model_config = ModelConfig(**project.model_options)
        options = {"device": device, "seed": project.seed, **project.train_options}
        train_config = TrainConfig(**options)
    except TypeError as exc:
        known = ", ".join(f.name for f in fields(TrainConfig)) + "; " + ", ".join(f.name for f in fields(ModelConfig))
        raise TrainingError(f"invalid model or training option ({exc}); known options: {known}") from None
    return model_config, train_config


def train_base_model(*, project_id: int, job_id: int, owner: str, device: str, progress: Progress) -> ModelVersion:
    """Version 0 of a project. ``owner`` holds the project's training lease (checked when promoting)."""
    from ml.artifacts import bundle_to_bytes
    from ml.training import train_base

    with session_scope() as session:
        existing = serving_version(session, project_id)
        if existing is not None:
            return existing  # a redelivered task: the model is already there
        project = session.get(Project, project_id)
        if project is None:
            raise TrainingError(f"project {project_id} does not exist")
        if not project.sources:
            raise TrainingError("the project has no source system")
        assign_split(session, system_id=project.target_system_id)
        source_ids = [s.id for s in project.sources]
        table, template_ids = template_store.table_for(session, system_ids=source_ids + [project.target_system_id])
        source = load_windows(session, system_ids=source_ids, where=(Window.label.is_not(None),))
        pool = load_windows(session, system_ids=[project.target_system_id], where=(in_pool(),))
        test = load_windows(session, system_ids=[project.target_system_id],
                            where=(Window.split == "test", Window.label.is_not(None)))
        model_config, train_config = configs(project, device)
    if len(source.ids) == 0:
        raise TrainingError("the source systems have no labeled windows")
    progress(0.05, f"training on {len(source.ids):,} source windows")
    try:
        bundle = train_base(table, to_rows(source.events, template_ids), source.labels,
                            to_rows(pool.events, template_ids), model_config, train_config,
                            progress=lambda stage, f: progress(0.05 + 0.8 * f, stage))
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    bundle.meta["template_ids"] = template_ids
    metrics = evaluate(bundle, test, template_ids, device)
    progress(0.9, "saving the model")
    return promote(project_id=project_id, job_id=job_id, owner=owner, blob=bundle_to_bytes(bundle),
                   metrics=metrics, parent_id=None)


def evaluate(bundle, test: WindowSet, template_ids: list[int], device: str) -> dict:
    from ml.evaluate import detection_metrics
    from ml.training import score

    if len(test.ids) == 0:
        return {"test_windows": 0}
    scores = score(bundle, to_rows(test.events, template_ids), device=device)
    metrics = detection_metrics(test.labels, scores.predictions(bundle.threshold)).as_dict()
    return {**metrics, "test_windows": int(len(test.ids)), "threshold": float(bundle.threshold)}


def in_pool():
    return Window.split.is_(None) | (Window.split == "pool")


def score_and_fill(*, project_id: int, device: str, progress: Progress) -> int:
    """Score the target pool with the serving version, store the scores and queue the round's windows."""
    from ml.training import score

    with session_scope() as session:
        project = session.get(Project, project_id)
        model = serving_version(session, project_id)
        if project is None or model is None:
            raise TrainingError("the project has no serving model to score with")
        bundle = load_bundle(session, model)
        pool = load_windows(session, system_ids=[project.target_system_id], where=(in_pool(),))
    progress(0.1, f"scoring {len(pool.ids):,} windows")
    scores = score(bundle, to_rows(pool.events, bundle.meta["template_ids"]), device=device)
    progress(0.6, "storing scores")
    with session_scope() as session:
        _store_scores(session, model_id=model.id, pool=pool, scores=scores)
        project = session.get(Project, project_id)
        added = fill_queue(session, project=project, model=model, pool=pool, scores=scores)
    return added


def _store_scores(session: Session, *, model_id: int, pool: WindowSet, scores) -> None:
    session.execute(delete(WindowScore).where(WindowScore.model_version_id == model_id))
    rows = [{"model_version_id": model_id, "window_id": int(w), "free_energy": float(f), "uncertainty": float(u),
             "p_anomaly": float(p)}
            for w, f, u, p in zip(pool.ids, scores.free_energy, scores.uncertainty, scores.p_anomaly)]
    for start in range(0, len(rows), 5000):
        session.execute(insert(WindowScore), rows[start:start + 5000])
