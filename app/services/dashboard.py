"""What a project's dashboard shows: quality per model version against labels spent, the serving version's
view of the target pool, who labeled how much, and whether more labels still change the model.

Ground truth appears here only through ModelVersion.metrics, computed on held-out target test windows;
nothing about the pool windows' true labels is read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from app.db.models import LABEL_VALUES, Label, ModelVersion, Project, User, Window, WindowScore

# The stop hint: a retrain that moves F1 by less than one point and flips under 1 % of the pool's predicted
# classes taught the model little, so the next labels probably will not either.
F1_STOP_DELTA = 0.01
FLIP_STOP_SHARE = 0.01
FREE_ENERGY_BINS = 24
P_ANOMALY_BINS = 20


def ready_versions(session: Session, *, project_id: int) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).where(
        ModelVersion.project_id == project_id, ModelVersion.status == "ready").order_by(ModelVersion.version)))


def _metric(version: ModelVersion, name: str) -> float | None:
    value = (version.metrics or {}).get(name)
    if value is None or not (version.metrics or {}).get("test_windows", 1):
        return None  # no held-out windows with ground truth: the metric is unknown, not zero
    return float(value)


def version_points(session: Session, *, project_id: int) -> list[dict]:
    """One point per ready version: labels used for training and F1 / precision / recall (None = unknown)."""
    return [{"id": v.id, "version": v.version, "labels_used": v.labels_used, "round": v.round,
             "serving": v.is_serving, "f1": _metric(v, "f1"), "precision": _metric(v, "precision"),
             "recall": _metric(v, "recall"), "test_windows": int((v.metrics or {}).get("test_windows", 0) or 0),
             "threshold": float((v.metrics or {}).get("threshold", 0.5)),
             "created_at": v.finished_at or v.created_at}
            for v in ready_versions(session, project_id=project_id)]


def _pool_scores(session: Session, *, project: Project, version_id: int) -> np.ndarray:
    """(n, 2) array of free energy and p_anomaly over the target pool, as scored by one version."""
    rows = session.execute(select(WindowScore.free_energy, WindowScore.p_anomaly)
                           .join(Window, Window.id == WindowScore.window_id)
                           .where(WindowScore.model_version_id == version_id,
                                  Window.system_id == project.target_system_id,
                                  Window.split.is_(None) | (Window.split == "pool"))).all()
    return np.asarray(rows, dtype=np.float64).reshape(-1, 2)


def histogram(values: np.ndarray, *, bins: int, value_range: tuple[float, float] | None = None) -> dict:
    """Counts per bin with the bin edges, and a few figures for the text alternative of the plot."""
    if len(values) == 0:
        return {"n": 0, "edges": [], "counts": []}
    counts, edges = np.histogram(values, bins=bins, range=value_range)
    return {"n": int(len(values)), "edges": [round(float(e), 4) for e in edges], "counts": counts.tolist(),
            "min": float(values.min()), "max": float(values.max()), "mean": float(values.mean()),
            "median": float(np.median(values))}


def pool_histograms(session: Session, *, project: Project, version: ModelVersion | None) -> dict | None:
    """Histograms of free energy and p_anomaly over the pool under ``version`` (None before it scored)."""
    if version is None:
        return None
    scores = _pool_scores(session, project=project, version_id=version.id)
    if len(scores) == 0:
        return None
    threshold = float((version.metrics or {}).get("threshold", 0.5))
    predicted = int((scores[:, 1] >= threshold).sum())
    return {"version": version.version, "threshold": threshold, "predicted_anomalous": predicted,
            "free_energy": histogram(scores[:, 0], bins=FREE_ENERGY_BINS),
            "p_anomaly": histogram(scores[:, 1], bins=P_ANOMALY_BINS, value_range=(0.0, 1.0))}


def labels_per_operator(session: Session, *, project_id: int) -> list[dict]:
    """Per operator (busiest first): how many answers of each value they gave in this project."""
    rows = session.execute(select(Label.user_id, User.email, Label.value, func.count())
                           .outerjoin(User, User.id == Label.user_id)
                           .where(Label.project_id == project_id)
                           .group_by(Label.user_id, User.email, Label.value)).all()
    people: dict[int | None, dict] = {}
    for user_id, email, value, count in rows:
        person = people.setdefault(user_id, {"user_id": user_id, "email": email or "(deleted user)",
                                             "total": 0, **{v: 0 for v in LABEL_VALUES}})
        person[value] += count
        person["total"] += count
    return sorted(people.values(), key=lambda p: (-p["total"], p["email"]))


@dataclass
class StopHint:
    """Whether the last retrain still changed the model; ``stop`` is the hint to stop labeling."""

    stop: bool
    title: str  # the verdict, e.g. "Stop labeling?"; ``message`` says why
    message: str
    before: int | None = None  # version numbers compared
    after: int | None = None
    f1_delta: float | None = None
    flip_share: float | None = None
    windows_compared: int = 0
    f1_threshold: float = F1_STOP_DELTA
    flip_threshold: float = FLIP_STOP_SHARE


def flip_share(session: Session, *, before: ModelVersion, after: ModelVersion) -> tuple[float | None, int]:
    """Share of the windows scored by both versions whose predicted class differs, and how many there were."""
    a, b = aliased(WindowScore), aliased(WindowScore)
    rows = session.execute(select(a.p_anomaly, b.p_anomaly).join(b, b.window_id == a.window_id)
                           .where(a.model_version_id == before.id, b.model_version_id == after.id)).all()
    if not rows:
        return None, 0
    p = np.asarray(rows, dtype=np.float64)
    t_before = float((before.metrics or {}).get("threshold", 0.5))
    t_after = float((after.metrics or {}).get("threshold", 0.5))
    flipped = (p[:, 0] >= t_before) != (p[:, 1] >= t_after)
    return float(flipped.mean()), int(len(p))


def stop_hint(session: Session, *, project_id: int, f1_threshold: float = F1_STOP_DELTA,
              flip_threshold: float = FLIP_STOP_SHARE) -> StopHint:
    """Compare the two newest ready versions: F1 change (when known) and the share of flipped predictions."""
    versions = ready_versions(session, project_id=project_id)
    limits = {"f1_threshold": f1_threshold, "flip_threshold": flip_threshold}
    if len(versions) < 2:
        return StopHint(False, "Too early to tell", "The hint compares the last two model versions, and there "
                                                    f"{'is one' if versions else 'is none'} so far.", **limits)
    before, after = versions[-2], versions[-1]
    f1_b, f1_a = _metric(before, "f1"), _metric(after, "f1")
    f1_delta = None if f1_a is None or f1_b is None else f1_a - f1_b
    share, compared = flip_share(session, before=before, after=after)
    hint = StopHint(False, "Keep labeling", "", before.version, after.version, f1_delta, share, compared, **limits)
    if share is None:
        hint.title = "Waiting for scores"
        hint.message = f"Version {after.version} has not scored the pool yet; the hint compares it with " \
                       f"version {before.version} once it has."
        return hint
    small_f1 = f1_delta is None or abs(f1_delta) < f1_threshold
    hint.stop = small_f1 and share < flip_threshold
    hint.title = "Stop labeling?" if hint.stop else "Keep labeling"
    hint.message = _hint_message(hint)
    return hint


def _hint_message(h: StopHint) -> str:
    f1 = ("F1 is unknown (no held-out windows with ground truth), so only predictions count"
          if h.f1_delta is None else f"F1 changed by {h.f1_delta * 100:+.1f} points")
    change = (f"From version {h.before} to {h.after}: {f1}, and {h.flip_share * 100:.1f} % of "
              f"{h.windows_compared:,} pool windows changed their predicted class")
    limits = f"(thresholds: {h.f1_threshold * 100:.0f} point of F1, {h.flip_threshold * 100:.0f} % of predictions)"
    if h.stop:
        return f"{change} {limits}: more labels are unlikely to change the model much."
    return f"{change} {limits}: the model is still learning from the labels."
