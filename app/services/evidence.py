"""Evidence for a window: the labeled SOURCE windows nearest to it in the serving model's log-vector space.

The source systems' labels come with their data sets and may be shown. A target window's ``Window.label`` is
held back for evaluation and is never read here: only source windows are candidates.

Log vectors of all labeled source windows are computed once per (project, model version) and kept in this
process; a new serving version gets a fresh index, the old one ages out.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ModelVersion, Project, System, Window
from app.services.models import load_bundle
from app.services.promote import serving_version
from app.services.window_view import WindowView, window_view

log = logging.getLogger(__name__)
CACHE_SIZE = 4
NEIGHBOURS = 3


@dataclass
class SourceIndex:
    window_ids: np.ndarray  # (n,)
    labels: np.ndarray  # (n,) 0 normal / 1 anomalous, the source data set's own labels
    vectors: np.ndarray  # (n, r) log vectors
    sq_norms: np.ndarray  # (n,) their squared lengths, for distances by one matrix product


@dataclass
class Neighbour:
    window_id: int
    system: str
    label: str  # "normal" | "anomaly"
    distance: float  # Euclidean distance of the log vectors (the model's own notion of "alike")
    view: WindowView


@dataclass
class Evidence:
    model_version: int
    p_anomaly: float  # the serving model's probability for the window itself
    neighbours: list[Neighbour]


_indexes: OrderedDict[tuple[int, int], SourceIndex] = OrderedDict()
_locks: dict[tuple[int, int], threading.Lock] = {}
_guard = threading.Lock()


def _device() -> str:
    from app.settings import get_settings

    return get_settings().device


def _vectors(bundle, events: np.ndarray):
    from ml.training import score

    from app.services.training import to_rows

    scores = score(bundle, to_rows(events, bundle.meta["template_ids"]), device=_device())
    return scores.vectors.astype(np.float32), scores.p_anomaly


def source_index(session: Session, *, project: Project, model: ModelVersion) -> SourceIndex:
    """The labeled source windows' log vectors under ``model`` (built on first use, then cached)."""
    key = (project.id, model.id)
    with _guard:
        if key in _indexes:
            _indexes.move_to_end(key)
            return _indexes[key]
        lock = _locks.setdefault(key, threading.Lock())
    with lock:  # a second request for the same index waits for the first instead of computing it again
        with _guard:
            if key in _indexes:
                return _indexes[key]
        from app.services.training import load_windows

        sources = load_windows(session, system_ids=[s.id for s in project.sources],
                               where=(Window.label.is_not(None),))
        vectors, _ = _vectors(load_bundle(session, model), sources.events)
        index = SourceIndex(sources.ids, sources.labels.astype(np.int8), vectors, (vectors ** 2).sum(1))
        with _guard:
            _indexes[key] = index
            while len(_indexes) > CACHE_SIZE:
                old, _ = _indexes.popitem(last=False)
                _locks.pop(old, None)
        return index


def warm(project_id: int, model_id: int) -> None:
    """Build the serving version's index in the background, so the first evidence request finds it ready."""
    with _guard:
        if (project_id, model_id) in _indexes or (project_id, model_id) in _locks:
            return  # ready, or being built

    def run() -> None:
        from app.db.session import session_factory

        with session_factory()() as session:
            project, model = session.get(Project, project_id), serving_version(session, project_id)
            if project is not None and model is not None and model.artifact_id is not None:
                try:
                    source_index(session, project=project, model=model)
                except Exception:  # evidence is a help, never a reason for the labeling page to fail
                    log.warning("evidence index for project %s failed", project_id, exc_info=True)

    threading.Thread(target=run, daemon=True, name=f"evidence-{project_id}").start()


def nearest_sources(session: Session, *, project: Project, window: Window, k: int = NEIGHBOURS) -> Evidence | None:
    """The ``k`` labeled source windows nearest to ``window``; None when no model can tell (none serving)."""
    model = serving_version(session, project.id)
    if model is None or model.artifact_id is None or window.system_id != project.target_system_id:
        return None
    index = source_index(session, project=project, model=model)
    vector, p = _vectors(load_bundle(session, model), np.asarray([window.events or [0]], np.int64))
    if len(index.window_ids) == 0:
        return Evidence(model.version, float(p[0]), [])
    # Cosine similarity saturates near 1 within a class here; Euclidean distance still ranks inside it.
    sq = np.maximum(index.sq_norms - 2.0 * (index.vectors @ vector[0]) + float(vector[0] @ vector[0]), 0.0)
    top = np.argsort(sq, kind="stable")[:k]
    return Evidence(model.version, float(p[0]), _neighbours(session, index, top, np.sqrt(sq)))


def _neighbours(session: Session, index: SourceIndex, top: np.ndarray, distance: np.ndarray) -> list[Neighbour]:
    ids = [int(index.window_ids[i]) for i in top]
    windows = {w.id: w for w in session.scalars(select(Window).where(Window.id.in_(ids)))}
    names = dict(session.execute(select(System.id, System.name).where(
        System.id.in_({w.system_id for w in windows.values()}))).all())
    out = []
    for i, window_id in zip(top, ids):
        window = windows[window_id]
        out.append(Neighbour(window_id, names.get(window.system_id, "?"),
                             "anomaly" if index.labels[i] == 1 else "normal", float(distance[i]),
                             window_view(session, window, context=0)))
    return out
