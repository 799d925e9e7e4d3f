"""Dataset ingestion: strict reading, Drain parsing, template embedding, windowing, one bulk transaction.

Phases: (1) read + parse the whole file without touching the database, keeping one cluster id per line;
(2) embed templates the database has not seen; (3) one transaction writes templates, lines, windows,
counts and the parser state. A malformed line stops phase 1, so nothing is ever written for a bad file.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.db.models import Dataset, LogLine, System, Window, utcnow
from app.db.session import is_postgres, session_scope
from app.services import templates as template_store
from app.services.systems import ReadSpec, load_parser
from app.services.uploads import GZIP_MAGIC

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
BATCH = 5000
PREVIEW_LINES = 50


def open_lines(path: Path):
    """The file's text lines; gzip is recognised by its magic bytes, not by a name."""
    import gzip

    with open(path, "rb") as probe:
        zipped = probe.read(2) == GZIP_MAGIC
    if zipped:
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def read_records(spec: ReadSpec, lines: Iterable[str], *, source: str, strict: bool, report=None,
                 start_line: int = 1) -> Iterator:
    from ml.reading import iter_records

    fmt, rule = spec.compile()
    return iter_records(lines, fmt, rule, strip_prefix=spec.strip_prefix, session_regex=spec.session_regex,
                        strict=strict, report=report, source=source, start_line=start_line)


def validate_file(spec: ReadSpec, path: Path, *, source: str) -> int:
    """Count the records of a file, raising LogReadError (naming the line) at the first malformed one."""
    with open_lines(path) as lines:
        return sum(1 for _ in read_records(spec, lines, source=source, strict=True))


def preview(spec: ReadSpec, lines: list[str], *, source: str = "preview", start_line: int = 1) -> dict:
    """What the system's settings make of a few lines: fields, templates, labels, malformed lines."""
    from ml.parsing import ParseConfig, TemplateParser
    from ml.reading import ReadReport

    from ml.reading import LogReadError

    from app.services.systems import SpecError

    report = ReadReport()
    try:
        records = list(read_records(spec, lines, source=source, strict=False, report=report, start_line=start_line))
    except LogReadError as exc:  # e.g. a label rule that reads a field the format lacks
        raise SpecError(str(exc)) from None
    parser = TemplateParser(ParseConfig())
    ids = parser.add_many([r.content for r in records]) if records else np.zeros(0, np.int64)
    texts = parser.templates()
    counts = Counter(int(i) for i in ids)
    labels = Counter("unknown" if r.label is None else ("anomalous" if r.label else "normal") for r in records)
    return {
        "lines_read": report.lines,
        "records": len(records),
        "malformed": [{"line_no": n, "text": t} for n, t in report.malformed],
        "label_counts": {k: labels.get(k, 0) for k in ("normal", "anomalous", "unknown")},
        "templates": [{"cluster_id": c, "text": texts[c], "count": n} for c, n in counts.most_common()],
        "parsed": [
            {"line_no": r.line_no, "timestamp": r.timestamp, "level": r.level, "component": r.component,
             "content": r.content, "label": r.label, "session": r.session, "cluster_id": int(i)}
            for r, i in zip(records[:10], ids[:10])
        ],
    }


def preview_file(spec: ReadSpec, path: Path, *, source: str, n: int = PREVIEW_LINES) -> dict:
    with open_lines(path) as lines:
        head = list(itertools.islice(lines, n))
    return preview(spec, head, source=source)


@dataclass
class Parsed:
    """Phase 1's result: per line, its number, cluster id, label (-1 unknown) and session."""

    line_nos: np.ndarray
    cluster_ids: np.ndarray
    labels: np.ndarray
    sessions: list[str | None] | None
    has_labels: bool
    parser: object
    parser_state_before: bytes | None = None
    extra: dict = field(default_factory=dict)


def parse_lines(spec: ReadSpec, lines: Iterable[str], parser, *, source: str, start_line: int = 1,
                progress: Callable[[int], None] | None = None, truth: dict[str, int] | None = None) -> Parsed:
    """Phase 1. ``truth``: ground truth by line number (or by session id for session windows)."""
    line_nos, clusters, labels = [], [], []
    sessions: list[str | None] | None = [] if spec.session_regex else None
    has_labels = truth is not None
    records = read_records(spec, lines, source=source, strict=True, start_line=start_line)
    for batch in _batched(records, BATCH):
        clusters.append(parser.add_many([r.content for r in batch]))
        line_nos.append(np.fromiter((r.line_no for r in batch), np.int64, len(batch)))
        labels.append(np.fromiter((_label(r, truth, sessions is not None) for r in batch), np.int8, len(batch)))
        has_labels = has_labels or any(r.label is not None for r in batch)
        if sessions is not None:
            sessions.extend(r.session for r in batch)
        if progress:
            progress(sum(len(c) for c in clusters))
    cat = lambda parts, dtype: np.concatenate(parts) if parts else np.zeros(0, dtype)  # noqa: E731
    parsed = Parsed(cat(line_nos, np.int64), cat(clusters, np.int64), cat(labels, np.int8), sessions,
                    has_labels, parser)
    if truth is not None and sessions is not None:
        parsed.extra["session_labels"] = truth
    return parsed


def _label(record, truth: dict[str, int] | None, by_session: bool) -> int:
    if truth is None:
        return -1 if record.label is None else record.label
    key = record.session if by_session else str(record.line_no)
    return truth.get(key, -1) if key is not None else -1


def _batched(items: Iterable, n: int) -> Iterator[list]:
    it = iter(items)
    while batch := list(itertools.islice(it, n)):
        yield batch


def build_windows(system: System, parsed: Parsed, template_ids: np.ndarray):
    """ml windows over template ids (the global event vocabulary; 0 = padding)."""
    from ml.windowing import fixed_windows, session_windows

    labels = parsed.labels if parsed.has_labels else None
    if parsed.sessions is not None:
        return session_windows(template_ids, parsed.sessions, session_labels=parsed.extra.get("session_labels"),
                               line_labels=labels, max_len=max(system.window_size, 1))
    return fixed_windows(template_ids, labels, size=system.window_size, stride=system.window_stride)


def write_dataset(session: Session, *, dataset: Dataset, system: System, parsed: Parsed, lines: Iterable,
                  embeddings: dict[int, tuple[str, str, bytes]]) -> None:
    """Phase 3, inside the caller's transaction: templates, lines, windows, counts, parser state."""
    by_cluster = template_store.upsert(session, system=system, texts=parsed.parser.templates(),
                                       embeddings=embeddings)
    lookup = np.zeros(int(max(by_cluster, default=0)) + 1, np.int64)
    for cluster, template_id in by_cluster.items():
        lookup[cluster] = template_id
    template_ids = lookup[parsed.cluster_ids] if len(parsed.cluster_ids) else parsed.cluster_ids
    _insert_lines(session, dataset=dataset, rows=_line_rows(dataset, lines, template_ids, parsed.labels))
    windows = build_windows(system, parsed, template_ids)
    _insert_windows(session, dataset=dataset, parsed=parsed, windows=windows)
    dataset.line_count = int(len(parsed.line_nos))
    dataset.labeled_lines = int((parsed.labels >= 0).sum())
    dataset.anomalous_lines = int((parsed.labels == 1).sum())
    dataset.window_count = len(windows)
    dataset.template_count = len(by_cluster)
    dataset.status, dataset.ready_at, dataset.error, dataset.error_line = "ready", utcnow(), None, None
    system.parser_state = parsed.parser.to_bytes()


def _clean(text: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; keep the line visible with a replacement character.
    return text.replace("\x00", "\ufffd") if text and "\x00" in text else text


def _line_rows(dataset: Dataset, records: Iterable, template_ids: np.ndarray, labels: np.ndarray) -> Iterator[tuple]:
    for record, template_id, label in zip(records, template_ids.tolist(), labels.tolist()):
        yield (dataset.id, dataset.system_id, record.line_no, _clean(record.raw), _clean(record.content),
               _clean(record.timestamp), _clean(record.level), _clean(record.component), _clean(record.session),
               template_id or None, label if label >= 0 else None)


LINE_COLUMNS = ("dataset_id", "system_id", "line_no", "raw", "content", "timestamp", "level", "component",
                "session", "template_id", "label")


def _insert_lines(session: Session, *, dataset: Dataset, rows: Iterator[tuple]) -> None:
    if is_postgres(session):
        _copy_rows(session, "log_lines", LINE_COLUMNS, rows)
        return
    statement = insert(LogLine)
    for batch in _batched(rows, BATCH):
        session.execute(statement, [dict(zip(LINE_COLUMNS, row)) for row in batch])


def _copy_rows(session: Session, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """PostgreSQL COPY through the session's own connection, so it is part of the same transaction."""
    driver = session.connection().connection.driver_connection
    with driver.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _insert_windows(session: Session, *, dataset: Dataset, parsed: Parsed, windows) -> None:
    statement = insert(Window)
    line_nos = parsed.line_nos
    rows = []
    for seq in range(len(windows)):
        first, last = int(windows.first[seq]), int(windows.last[seq])
        label = int(windows.labels[seq])
        rows.append({
            "system_id": dataset.system_id, "dataset_id": dataset.id, "seq": seq,
            "first_line_no": int(line_nos[first]), "last_line_no": int(line_nos[last]),
            "session": parsed.sessions[first] if parsed.sessions is not None else None,
            "label": label if label >= 0 else None, "events": windows.events[seq].tolist(),
        })
        if len(rows) >= BATCH:
            session.execute(statement, rows)
            rows = []
    if rows:
        session.execute(statement, rows)


def load_for_ingest(dataset_id: int) -> tuple[ReadSpec, Path, str, bytes | None, int, Path | None]:
    """Mark the dataset parsing and return what phase 1 needs (read in its own short transaction)."""
    from app.settings import get_settings
    from app.services.uploads import resolve_stored

    with session_scope() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise LookupError(f"dataset {dataset_id} does not exist")
        if dataset.stored_name is None:
            raise LookupError(f"dataset {dataset_id} has no stored file")
        system = session.get(System, dataset.system_id)
        dataset.status = "parsing"
        path = resolve_stored(get_settings().uploads_path, dataset.stored_name)
        truth = resolve_stored(get_settings().uploads_path, dataset.truth_name) if dataset.truth_name else None
        return ReadSpec.of(system), path, dataset.original_name, system.parser_state, system.id, truth


def ingest_dataset(*, dataset_id: int, embedder, progress: Progress) -> Dataset:
    """Run the three phases; on a bad file the dataset is marked failed and its file removed."""
    from ml.labels import load_session_labels
    from ml.reading import LogReadError

    spec, path, source, state, system_id, truth_path = load_for_ingest(dataset_id)
    try:
        truth = load_session_labels(truth_path) if truth_path is not None else None
    except ValueError as exc:
        raise LogReadError(f"ground-truth file: {exc}") from None
    total = max(path.stat().st_size, 1)
    parsed = _phase_parse(spec, path, source, state, progress, total, truth)
    embeddings = template_store.embed_missing(system_id=system_id, texts=parsed.parser.templates(),
                                              embedder=embedder, progress=progress)
    progress(0.75, "writing lines and windows")
    with session_scope() as session:
        dataset = session.get(Dataset, dataset_id)
        system = session.scalar(select(System).where(System.id == system_id).with_for_update())
        if system.parser_state != state:
            # Another ingest of this system committed meanwhile: our cluster ids may be stale.
            raise RetryIngest(f"system {system.name} changed during ingest")
        with open_lines(path) as lines:
            records = read_records(spec, lines, source=source, strict=True)
            write_dataset(session, dataset=dataset, system=system, parsed=parsed, lines=records,
                          embeddings=embeddings)
        return dataset


class RetryIngest(RuntimeError):
    """The system's parser changed under us; the task runs again from the start."""


def _phase_parse(spec: ReadSpec, path: Path, source: str, state: bytes | None, progress: Progress,
                 total: int, truth: dict[str, int] | None) -> Parsed:
    from ml.parsing import ParseConfig, TemplateParser

    parser = TemplateParser.from_bytes(state) if state else TemplateParser(ParseConfig())
    with open_lines(path) as lines:
        raw = getattr(lines, "buffer", None)

        def tick(n: int) -> None:
            done = raw.tell() / total if raw is not None and hasattr(raw, "tell") else 0.0
            progress(0.05 + 0.55 * min(done, 1.0), f"parsed {n:,} lines")

        return parse_lines(spec, lines, parser, source=source, progress=tick, truth=truth)


def mark_failed(dataset_id: int, *, message: str, line_no: int | None, remove_file: bool) -> None:
    from app.settings import get_settings
    from app.services.uploads import resolve_stored

    with session_scope() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            return
        dataset.status, dataset.error, dataset.error_line = "failed", message, line_no
        if remove_file:
            for name in (dataset.stored_name, dataset.truth_name):
                if name:
                    resolve_stored(get_settings().uploads_path, name).unlink(missing_ok=True)
            dataset.stored_name = dataset.truth_name = None


# Re-exported for load_parser users that only need the ingest module.
__all__ = ["ingest_dataset", "preview", "preview_file", "validate_file", "load_parser", "mark_failed"]
