"""From records to model inputs: parse each system, embed its templates into one shared table, cut windows.

Every system has its own Drain miner (formats and vocabularies differ); the template vectors of all
systems live in one table so a window of any system is a row of table indexes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ml.embedding import TemplateEmbedder
from ml.parsing import ParseConfig, TemplateParser
from ml.windowing import Windows, fixed_windows, session_windows

Progress = Callable[[str, float], None]


@dataclass
class ParsedSystem:
    """One system after parsing: a cluster id per line plus what windowing needs."""

    name: str
    parser: TemplateParser
    cluster_ids: np.ndarray  # (n_lines,) int64
    line_labels: np.ndarray  # (n_lines,) int8, -1 unknown
    boundaries: list[int]
    window_size: int = 20
    stride: int = 20
    sessions: list[str | None] | None = None
    session_labels: dict[str, int] | None = None


@dataclass
class TemplateTable:
    """Template vectors of several systems; row 0 is padding. ``keys[i]`` names row i + 1."""

    vectors: np.ndarray
    keys: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def rows(self, system: str) -> dict[int, int]:
        """cluster id -> table row for one system."""
        prefix = f"{system}:"
        return {int(k[len(prefix):]): i + 1 for i, k in enumerate(self.keys) if k.startswith(prefix)}


def parse_system(system, config: ParseConfig | None = None, progress: Progress | None = None) -> ParsedSystem:
    """Mine templates of a loaded system (``ml.datasets.SystemData``)."""
    parser = TemplateParser(config)
    records = system.records
    ids = np.empty(len(records), np.int64)
    chunk = 50_000
    for start in range(0, len(records), chunk):
        part = records[start:start + chunk]
        ids[start:start + len(part)] = parser.add_many(r.content for r in part)
        if progress:
            progress(f"parse {system.name}", min(1.0, (start + len(part)) / max(len(records), 1)))
    window = system.window
    sessions = [r.session for r in records] if window.session_regex else None
    return ParsedSystem(system.name, parser, ids, system.line_labels(), list(system.file_starts),
                        window.size, window.stride, sessions, system.session_labels)


def build_table(systems: Sequence[ParsedSystem], embedder: TemplateEmbedder,
                progress: Progress | None = None) -> TemplateTable:
    """Embed the current template of every cluster of every system (each distinct text once)."""
    keys, texts = [], []
    for s in systems:
        for cid, text in sorted(s.parser.templates().items()):
            keys.append(f"{s.name}:{cid}")
            texts.append(text)
    report = (lambda done, total: progress("embed", done / max(total, 1))) if progress else None
    vectors = embedder.embed(texts, progress=report) if texts else np.zeros((0, embedder.dim), np.float32)
    table = np.zeros((len(keys) + 1, vectors.shape[1]), np.float32)
    table[1:] = vectors
    return TemplateTable(table, keys, texts)


def to_rows(cluster_ids: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Table rows of cluster ids; unknown ids (0 or unseen) map to the padding row."""
    if len(cluster_ids) == 0:
        return cluster_ids.astype(np.int64)
    lookup = np.zeros(max(max(mapping, default=0), int(cluster_ids.max())) + 1, np.int64)
    for cid, row in mapping.items():
        lookup[cid] = row
    return lookup[cluster_ids]


def make_windows(system: ParsedSystem, table: TemplateTable) -> Windows:
    rows = to_rows(system.cluster_ids, table.rows(system.name))
    if system.sessions is not None:
        return session_windows(rows, system.sessions, system.session_labels, system.line_labels)
    return fixed_windows(rows, system.line_labels, system.window_size, system.stride, system.boundaries)
