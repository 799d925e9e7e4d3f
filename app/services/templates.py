"""Templates of a system and their embeddings, cached by text hash across systems and datasets."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import System, Template
from app.db.session import session_scope

Embedded = dict[int, tuple[str, str, bytes, str]]  # cluster id -> (text, hash, float32 bytes, embedder)


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


def embed_missing(*, system_id: int, texts: dict[int, str], embedder,
                  progress: Callable[[float, str], None] | None = None) -> Embedded:
    """Vectors for the templates whose text the database has no embedding of (read-only on the DB)."""
    from ml.embedding import template_hash

    with session_scope() as session:
        known = {t.cluster_id: t for t in session.scalars(select(Template).where(Template.system_id == system_id))}
        needed = {c: (t, template_hash(t)) for c, t in texts.items()
                  if c not in known or known[c].text_hash != template_hash(t) or known[c].embedding is None}
        hashes = {h for _, h in needed.values()}
        cached = {}
        if hashes:
            rows = session.execute(select(Template.text_hash, Template.embedding).where(
                Template.text_hash.in_(hashes), Template.embedder == embedder.name,
                Template.embedding.is_not(None)))
            cached = {h: blob for h, blob in rows}
    fresh = sorted({h: t for t, h in needed.values() if h not in cached}.items())
    if fresh:
        if progress:
            progress(0.62, f"embedding {len(fresh)} new templates")
        vectors = embedder.embed([t for _, t in fresh])
        cached.update({h: to_blob(v) for (h, _), v in zip(fresh, vectors)})
    return {c: (t, h, cached[h], embedder.name) for c, (t, h) in needed.items()}


def upsert(session: Session, *, system: System, texts: dict[int, str], embeddings: Embedded) -> dict[int, int]:
    """Create or refresh the system's template rows; returns cluster id -> template id."""
    from ml.embedding import template_hash

    rows = {t.cluster_id: t for t in session.scalars(select(Template).where(Template.system_id == system.id))}
    for cluster, text in texts.items():
        row = rows.get(cluster)
        if row is None:
            row = rows[cluster] = Template(system_id=system.id, cluster_id=cluster, text=text,
                                           text_hash=template_hash(text))
            session.add(row)
        if cluster in embeddings:
            row.text, row.text_hash, row.embedding, row.embedder = embeddings[cluster]
    session.flush()
    return {cluster: row.id for cluster, row in rows.items()}


def table_for(session: Session, *, system_ids: list[int]) -> tuple[np.ndarray, list[int]]:
    """The embedding table (row 0 = padding) of the given systems' templates and the template id per row."""
    rows = session.execute(select(Template.id, Template.embedding).where(
        Template.system_id.in_(system_ids), Template.embedding.is_not(None)).order_by(Template.id)).all()
    if not rows:
        raise ValueError("these systems have no embedded templates yet: ingest a dataset first")
    vectors = [from_blob(blob) for _, blob in rows]
    table = np.zeros((len(rows) + 1, len(vectors[0])), np.float32)
    table[1:] = np.stack(vectors)
    return table, [0] + [template_id for template_id, _ in rows]
