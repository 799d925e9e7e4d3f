"""The template embedder, loaded once per process (the model takes seconds to load)."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_embedder = None


def get_embedder():
    global _embedder
    with _lock:
        if _embedder is None:
            from ml.embedding import TemplateEmbedder

            from app.settings import get_settings

            settings = get_settings()
            _embedder = TemplateEmbedder(settings.embedder_path, device=settings.device)
        return _embedder

