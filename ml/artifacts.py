"""Saving and loading trained models: one self-contained blob with a content hash, written atomically."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from ml.model import ModelConfig
from ml.training import ModelBundle

FORMAT = "logaction-model/1"


def bundle_to_bytes(bundle: ModelBundle) -> bytes:
    """Weights, template table, settings and metadata (template keys, embedder name) in one blob."""
    payload = {
        "format": FORMAT,
        "state": bundle.state,
        "table": torch.as_tensor(bundle.table),
        "model_config": json.dumps(asdict(bundle.model_config)),
        "threshold": float(bundle.threshold),
        "source_free_energy": float(bundle.source_free_energy),
        "meta": json.dumps(bundle.meta),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def bundle_from_bytes(data: bytes) -> ModelBundle:
    # weights_only: a model blob must never be able to run code when loaded.
    payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if payload.get("format") != FORMAT:
        raise ValueError(f"not a LogAction model (format {payload.get('format')!r}, expected {FORMAT!r})")
    return ModelBundle(
        state=payload["state"],
        table=payload["table"].numpy(),
        model_config=ModelConfig(**json.loads(payload["model_config"])),
        threshold=payload["threshold"],
        source_free_energy=payload["source_free_energy"],
        meta=json.loads(payload["meta"]),
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: readers see the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_bundle(bundle: ModelBundle, path: str | Path) -> str:
    """Saves ``bundle`` atomically; returns the blob's sha256."""
    data = bundle_to_bytes(bundle)
    atomic_write(path, data)
    return sha256(data)


def load_bundle(path: str | Path, expected_sha256: str | None = None) -> ModelBundle:
    data = Path(path).read_bytes()
    if expected_sha256 is not None and sha256(data) != expected_sha256:
        raise ValueError(f"model file {path} does not match its recorded hash")
    return bundle_from_bytes(data)
