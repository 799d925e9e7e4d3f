"""Cutting a stream of events into windows: fixed size/stride, or one window per session id.

A window is a row of ints: rows of an embedding table, 0 being padding. A window's label is anomalous (1)
iff any of its lines is, normal (0) iff all its lines are known normal, else unknown (-1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class Windows:
    events: np.ndarray  # (n, size) int64 table rows, 0 = padding (on the left)
    labels: np.ndarray  # (n,) int8: 1 anomalous, 0 normal, -1 unknown
    first: np.ndarray  # (n,) int64 index of the window's first line
    last: np.ndarray  # (n,) int64 index of its last line (inclusive)

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, idx: np.ndarray) -> "Windows":
        return Windows(self.events[idx], self.labels[idx], self.first[idx], self.last[idx])


def window_label(line_labels: np.ndarray) -> int:
    if (line_labels == 1).any():
        return 1
    if (line_labels == 0).all():
        return 0
    return -1


def segment_starts(n: int, size: int, stride: int) -> list[int]:
    """Start offsets covering a segment of n lines; a last window is aligned to the end so no line is left out."""
    if n <= size:
        return [0]
    starts = list(range(0, n - size + 1, stride))
    if starts[-1] + size < n:
        starts.append(n - size)
    return starts


def fixed_windows(event_ids: np.ndarray, line_labels: np.ndarray | None = None, size: int = 20,
                  stride: int = 20, boundaries: Sequence[int] = ()) -> Windows:
    """Windows of ``size`` consecutive lines every ``stride`` lines; never across a boundary (file start).

    :param event_ids: (n_lines,) table rows per line
    :param line_labels: (n_lines,) 1/0/-1 per line, or None when unknown
    :param boundaries: line indexes where a new file starts
    """
    if size < 1 or stride < 1:
        raise ValueError("window size and stride must be positive")
    event_ids = np.asarray(event_ids, dtype=np.int64)
    n = len(event_ids)
    labels = np.full(n, -1, np.int8) if line_labels is None else np.asarray(line_labels, dtype=np.int8)
    cuts = sorted({0, n, *[b for b in boundaries if 0 < b < n]})
    firsts: list[int] = []
    for lo, hi in zip(cuts, cuts[1:]):
        firsts.extend(lo + s for s in segment_starts(hi - lo, size, stride))
    if n == 0:
        return Windows(np.zeros((0, size), np.int64), np.zeros(0, np.int8), np.zeros(0, np.int64),
                       np.zeros(0, np.int64))
    first = np.asarray(firsts, dtype=np.int64)
    seg_end = np.asarray(cuts)[np.searchsorted(cuts, first, side="right")]
    last = np.minimum(first + size, seg_end) - 1
    events = np.zeros((len(first), size), np.int64)
    win_labels = np.empty(len(first), np.int8)
    for i, (a, b) in enumerate(zip(first, last)):
        length = b - a + 1
        events[i, size - length:] = event_ids[a:b + 1]
        win_labels[i] = window_label(labels[a:b + 1])
    return Windows(events, win_labels, first, last)


def session_windows(event_ids: np.ndarray, sessions: Sequence[str | None],
                    session_labels: dict[str, int] | None = None,
                    line_labels: np.ndarray | None = None, max_len: int = 100) -> Windows:
    """One window per session id (HDFS block ids), in order of first appearance, keeping the first
    ``max_len`` events. Lines without a session are left out. Labels come from ``session_labels`` when
    given, else from the lines."""
    event_ids = np.asarray(event_ids, dtype=np.int64)
    groups: dict[str, list[int]] = {}
    for i, sid in enumerate(sessions):
        if sid is not None:
            groups.setdefault(sid, []).append(i)
    if not groups:
        raise ValueError("no line carries a session id: check the session regex")
    size = min(max_len, max(len(g) for g in groups.values()))
    events = np.zeros((len(groups), size), np.int64)
    labels = np.full(len(groups), -1, np.int8)
    first = np.empty(len(groups), np.int64)
    last = np.empty(len(groups), np.int64)
    for w, (sid, idx) in enumerate(groups.items()):
        kept = idx[:size]
        events[w, size - len(kept):] = event_ids[kept]
        first[w], last[w] = idx[0], idx[-1]
        if session_labels is not None:
            labels[w] = session_labels.get(sid, -1)
        elif line_labels is not None:
            labels[w] = window_label(np.asarray(line_labels)[idx])
    return Windows(events, labels, first, last)


def chronological_split(windows: Windows, ratio: float = 0.7,
                        n_lines: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indexes of (pool, test) windows: lines before ``ratio`` of the stream vs after it. Windows that
    straddle the cut are dropped, which leaves a gap between the two parts."""
    if not 0.0 < ratio < 1.0:
        raise ValueError("split ratio must be between 0 and 1")
    if len(windows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    total = int(windows.last.max()) + 1 if n_lines is None else n_lines
    cut = int(round(total * ratio))
    pool = np.flatnonzero(windows.last < cut)
    test = np.flatnonzero(windows.first >= cut)
    return pool, test
