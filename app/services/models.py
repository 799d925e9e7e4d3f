"""Model versions: loading a version's artifact once per process, verified by its sha256."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from sqlalchemy.orm import Session

from app.db.models import Artifact, ModelVersion

_cache: OrderedDict[str, object] = OrderedDict()
_lock = threading.Lock()
CACHE_SIZE = 4


def load_bundle(session: Session, model: ModelVersion):
    from ml.artifacts import bundle_from_bytes

    if model.artifact_id is None:
        raise ValueError(f"model version {model.version} has no stored model")
    with _lock:
        if model.artifact_sha256 in _cache:
            _cache.move_to_end(model.artifact_sha256)
            return _cache[model.artifact_sha256]
    artifact = session.get(Artifact, model.artifact_id)
    if artifact is None or hashlib.sha256(artifact.data).hexdigest() != model.artifact_sha256:
        raise ValueError(f"model version {model.version}: artifact missing or corrupt (sha256 mismatch)")
    bundle = bundle_from_bytes(artifact.data)
    with _lock:
        _cache[model.artifact_sha256] = bundle
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return bundle
