"""Scoring new log lines of a project's target system with its serving model version.

Lines are read with the target's format, matched read-only against its templates (a line no template
matches is *unknown*: counted, never added to the tree), cut into windows with the system's settings and
scored in one batched pass. The serving model is loaded once per process and kept until the project's
serving version (or the target system: a new ingest, new settings) changes; each request checks that with
one query.

Unknown templates get a vector by embedding their masked text on the fly with the app's embedder, cached
per loaded model. A zero (padding) vector would make a brand-new message invisible to the model, which is
exactly the line a detector must not ignore; an embedding places it near the known templates it resembles,
as ingest does for every template. At most ``max_new_templates`` are embedded per request (bounding the
latency a flood of garbage can cause); any others share one "unknown" row whose vector is zero.

``top_lines`` is occlusion: for a window, every distinct template is removed in turn and the drop in the
window's log-odds is measured; the lines of the templates whose removal lowers the score most are the ones
that raised it. It is exact for the model (no gradient approximation) and cheap because each variant
restarts from the stored LSTM state before the template's first line. It is computed for the anomalous
windows by default (``explain=all`` for every window, ``none`` to skip it), at most ``score_max_explained``
distinct windows per request, the highest scores first; ``windows_explained`` says how many were.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from app.db.models import ModelVersion, Project, System, Template
from app.services import templates as template_store
from app.services.embedder import get_embedder
from app.services.models import load_bundle

log = logging.getLogger(__name__)
# Used where app.settings lacks the setting (score_limit_bytes and score_limit_lines are settings).
DEFAULTS = {
    "score_limit_bytes": 8 * 1024 * 1024,
    "score_limit_lines": 50_000,
    "score_max_new_templates": 64,
    # Occlusion costs about five forward passes per explained window: beyond this many per request (the
    # highest scores first) windows are scored but not explained, so a model that flags everything cannot
    # multiply every request's latency.
    "score_max_explained": 32,
}
TOP_LINES = 5
KEEP_STATES_UP_TO = 256  # distinct windows: (steps + 1) x windows x layers x hidden x 2 floats, ~11 MB here
EXPLAIN = ("anomalous", "all", "none")
CACHE_PROJECTS = 16


def limit(name: str) -> int:
    """A scoring limit: LOGACTION_<NAME> from the environment (read per call, so a change applies without a
    restart), else the setting of that name, else the default."""
    from app.settings import get_settings

    value = os.environ.get(f"LOGACTION_{name.upper()}")
    if value is None:
        value = getattr(get_settings(), name, None)
    return int(DEFAULTS[name] if value is None else value)


class ScoringError(Exception):
    status = 400


class ProjectMissing(ScoringError):
    status = 404


class NotServing(ScoringError):
    status = 409


class BadLines(ScoringError):
    """Lines that cannot be scored; the message names the field (``lines[17]``)."""

    status = 422


class TooLarge(ScoringError):
    status = 413


@dataclass
class LoadedModel:
    """What scoring a project needs, built once per (serving version, state of the target system)."""

    key: tuple
    version: int
    version_id: int
    threshold: float
    fmt: object
    strip_prefix: bool
    session_regex: str | None
    window_size: int
    window_stride: int
    scorer: object  # ml.scoring.FastScorer
    matcher: object  # ml.scoring.TemplateMatcher
    cluster_rows: np.ndarray  # cluster id -> scorer row (0 = no template)
    unknown_row: int  # the shared row of unknown templates not embedded
    unknown_rows: dict[str, int] = field(default_factory=dict)  # masked text -> row
    lock: threading.Lock = field(default_factory=threading.Lock)


_cache: OrderedDict[int, LoadedModel] = OrderedDict()
_cache_lock = threading.Lock()
_build_locks: dict[int, threading.Lock] = {}
stats = {"loads": 0}  # models built by this process (tests check it does not grow per request)


# The one query per request: the project's target system (its last change) and its serving version. Built
# once: constructing the statement costs more than running it.
SERVING_STATE = (
    select(Project.target_system_id, System.updated_at, ModelVersion.id, ModelVersion.version)
    .select_from(Project).join(System, System.id == Project.target_system_id)
    .outerjoin(ModelVersion, and_(ModelVersion.project_id == Project.id, ModelVersion.is_serving.is_(True)))
    .where(Project.id == bindparam("project_id")))


def _serving_state(session: Session, project_id: int):
    return session.execute(SERVING_STATE, {"project_id": project_id}).first()


def loaded_model(session: Session, project_id: int) -> LoadedModel:
    state = _serving_state(session, project_id)
    if state is None:
        raise ProjectMissing(f"project {project_id} does not exist")
    system_id, system_updated, version_id, _ = state
    if version_id is None:
        raise NotServing("the project has no serving model yet; train the base model first")
    key = (version_id, system_id, str(system_updated))
    with _cache_lock:
        current = _cache.get(project_id)
        if current is not None and current.key == key:
            _cache.move_to_end(project_id)
            return current
        build_lock = _build_locks.setdefault(project_id, threading.Lock())
    with build_lock:  # concurrent requests after a promotion build the new model once
        with _cache_lock:
            current = _cache.get(project_id)
            if current is not None and current.key == key:
                return current
        model = _build(session, key=key, version_id=version_id, system_id=system_id)
        with _cache_lock:
            _cache[project_id] = model
            _cache.move_to_end(project_id)
            while len(_cache) > CACHE_PROJECTS:
                _cache.popitem(last=False)
        return model


def _build(session: Session, *, key: tuple, version_id: int, system_id: int) -> LoadedModel:
    from ml.formats import get_format
    from ml.scoring import FastScorer, TemplateMatcher

    from app.services.systems import load_parser

    version = session.get(ModelVersion, version_id)
    system = session.get(System, system_id)
    if version.artifact_id is None:
        raise NotServing(f"model version {version.version} has no stored model to score with")
    try:
        bundle = load_bundle(session, version)
    except ValueError as exc:
        raise NotServing(str(exc)) from None
    scorer = FastScorer.from_bundle(bundle)
    model_rows = {tid: row for row, tid in enumerate(bundle.meta.get("template_ids", [])) if row}
    templates = session.execute(select(Template.id, Template.cluster_id, Template.embedding)
                                .where(Template.system_id == system_id)).all()
    # Templates ingested after this version was trained keep their stored embedding (the model's own
    # pool scoring maps them to padding, which would hide them here).
    extra = [(cid, template_store.from_blob(blob)) for tid, cid, blob in templates
             if tid not in model_rows and blob is not None]
    dim = bundle.table.shape[1]
    start = scorer.add_rows(np.stack([v for _, v in extra]) if extra else np.zeros((0, dim), np.float32))
    unknown_row = scorer.add_rows(np.zeros((1, dim), np.float32))
    lookup = np.full(max((cid for _, cid, _ in templates), default=0) + 1, unknown_row, np.int64)
    lookup[0] = 0
    for tid, cid, _ in templates:
        if tid in model_rows:
            lookup[cid] = model_rows[tid]
    for i, (cid, _) in enumerate(extra):
        lookup[cid] = start + i
    _load_embedder()
    stats["loads"] += 1
    return LoadedModel(key=key, version=version.version, version_id=version.id, threshold=float(bundle.threshold),
                       fmt=get_format(system.log_format), strip_prefix=system.strip_prefix,
                       session_regex=system.session_regex, window_size=system.window_size,
                       window_stride=system.window_stride, scorer=scorer,
                       matcher=TemplateMatcher(load_parser(system)), cluster_rows=lookup, unknown_row=unknown_row)


def _load_embedder() -> bool:
    """Load the embedder with the model, so the first unknown template does not stall a request. Scoring
    works without it (unknown templates then share the zero row), so a broken embedder only logs."""
    try:
        return get_embedder().dim > 0
    except Exception:
        log.warning("scoring: the template embedder cannot be loaded; unknown templates get no vector",
                    exc_info=True)
        return False


def score_lines(session: Session, *, project_id: int, lines: list[str], explain: str = "anomalous") -> dict:
    """The issue-7 answer for raw ``lines`` of the project's target system.

    :param explain: which windows get ``top_lines``: ``anomalous`` (default), ``all`` or ``none``
    :raises ProjectMissing: 404; NotServing: 409; TooLarge: 413; BadLines: 422
    """
    from ml.scoring import LineFormatError, read_contents

    if explain not in EXPLAIN:
        raise BadLines(f"explain must be one of {', '.join(EXPLAIN)}, not {explain!r}")
    max_lines = limit("score_limit_lines")
    if len(lines) > max_lines:
        raise TooLarge(f"{len(lines)} lines exceed the limit of {max_lines} lines per request (score_limit_lines)")
    model = loaded_model(session, project_id)
    try:
        read = read_contents(lines, model.fmt, strip_prefix=model.strip_prefix, session_regex=model.session_regex)
    except LineFormatError as exc:
        raise BadLines(f"lines[{exc.index}] {exc}") from None
    if not read.contents:
        raise BadLines("lines: there is no non-blank line to score")
    rows, unknown_keys = _rows(model, read.contents)
    batch = _windows(model, rows, read.sessions)
    return _answer(model, batch, read.index, unknown_keys, explain)


def _rows(model: LoadedModel, contents: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Scorer rows per line, and per line a key of its unknown template (0 = known)."""
    cids, unknown = model.matcher.match(contents)
    lookup = model.cluster_rows
    known = cids < len(lookup)
    rows = np.where(known, lookup[np.where(known, cids, 0)], model.unknown_row)
    keys = np.zeros(len(contents), np.int64)
    if unknown:
        texts = {}
        for i, masked in unknown.items():
            keys[i] = texts.setdefault(masked, len(texts) + 1)
        text_rows = _unknown_rows(model, list(texts))
        for i, masked in unknown.items():
            rows[i] = text_rows[masked]
    return rows, keys


def _unknown_rows(model: LoadedModel, texts: list[str]) -> dict[str, int]:
    with model.lock:
        missing = [t for t in texts if t not in model.unknown_rows]
        fresh = missing[:limit("score_max_new_templates")]
        if fresh and _load_embedder():
            start = model.scorer.add_rows(get_embedder().embed(fresh))
            model.unknown_rows.update({t: start + i for i, t in enumerate(fresh)})
        return {t: model.unknown_rows.get(t, model.unknown_row) for t in texts}


def _windows(model: LoadedModel, rows: np.ndarray, sessions):
    from ml.scoring import fixed_windows_of, session_windows_of

    if sessions is None:
        return fixed_windows_of(rows, model.window_size, model.window_stride)
    try:
        return session_windows_of(rows, sessions, max_len=max(model.window_size, 1))
    except ValueError as exc:
        raise BadLines(f"lines: {exc}") from None


def _answer(model: LoadedModel, batch, index: np.ndarray, unknown_keys: np.ndarray, explain: str) -> dict:
    from ml.scoring import distinct_per_window, lines_of_templates, ranked_templates

    unique, inverse = np.unique(batch.events, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    # A short request keeps every step's state in its one pass; a long one would need hundreds of megabytes,
    # so it runs the few explained windows again instead.
    keep = explain != "none" and len(unique) <= KEEP_STATES_UP_TO
    scores, states = model.scorer.run(unique, keep_states=keep)
    p, fe = scores.p_anomaly[inverse], scores.free_energy[inverse]
    anomalous = p >= model.threshold
    ranked: dict[int, list[int]] = {}
    explained: set[int] = set()
    if explain != "none":
        chosen = np.arange(len(unique)) if explain == "all" else np.flatnonzero(scores.p_anomaly >= model.threshold)
        chosen = chosen[np.argsort(-scores.p_anomaly[chosen], kind="stable")][:limit("score_max_explained")]
        if keep:
            drops = model.scorer.occlude(unique, states, chosen)
        else:
            _, states = model.scorer.run(unique[chosen], keep_states=True)
            drops = [(int(chosen[w]), row, drop)
                     for w, row, drop in model.scorer.occlude(unique[chosen], states, np.arange(len(chosen)))]
        ranked = ranked_templates(drops)
        explained = set(chosen.tolist())
    unknown = distinct_per_window(unknown_keys, batch.positions)
    windows = []
    for w in range(len(batch.first)):
        top = lines_of_templates(batch, w, ranked.get(int(inverse[w]), []), TOP_LINES)
        windows.append({"first_line": int(index[batch.first[w]]), "last_line": int(index[batch.last[w]]),
                        "p_anomaly": float(p[w]), "anomalous": bool(anomalous[w]), "free_energy": float(fe[w]),
                        "unknown_templates": int(unknown[w]), "top_lines": [int(index[i]) for i in top]})
    return {"model_version": model.version, "model_version_id": model.version_id, "threshold": model.threshold,
            "lines_scored": int(len(index)),
            "windows_explained": int(sum(int(inverse[w]) in explained for w in range(len(batch.first)))),
            "windows": windows}
