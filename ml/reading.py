"""Reading log files into records: header fields, content, and a ground-truth label.

Malformed lines are never dropped silently: they are either reported (with line
numbers) or, in strict mode, raised. A file that is mostly unreadable is refused.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ml.formats import LogFormat
from ml.labels import LabelRule

_SNIPPET = 200
RESTORE_ORDERS = ("none", "wazuh")


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One parsed log line.

    :param line_no: 1-based line number in its file (kept when lines are re-ordered)
    :param raw: the line without its newline (and without the prefix when one was stripped)
    :param content: the ``Content`` field, the part the template parser sees
    :param label: 1 anomalous, 0 normal, ``None`` unknown
    :param session: the session id found by the session regex, if one was given
    """

    line_no: int
    raw: str
    content: str
    timestamp: str | None
    level: str | None
    component: str | None
    label: int | None
    session: str | None = None


class LogReadError(ValueError):
    """A line or file that cannot be read; the message names the file and line."""

    def __init__(self, message: str, line_no: int | None = None):
        super().__init__(message)
        self.line_no = line_no

    def __reduce__(self):
        # Keep line_no when the error crosses a process boundary (pickled by a task queue).
        return type(self), (str(self), self.line_no)


@dataclass
class ReadReport:
    """What happened while reading: ``malformed`` holds (line_no, first 200 chars)."""

    lines: int = 0
    records: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)


def open_text(path: str | Path) -> TextIO:
    """Open a plain or gzip-compressed text file as UTF-8, replacing undecodable bytes."""
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def session_of(content: str, regex: str | re.Pattern | None) -> str | None:
    """The session id in ``content``: group 1 when the regex has a group, else the whole match."""
    if regex is None:
        return None
    match = re.search(regex, content)
    if match is None:
        return None
    return match.group(1) if match.re.groups else match.group(0)


def iter_records(
    lines: Iterable[str],
    fmt: LogFormat,
    label_rule: LabelRule | None = None,
    *,
    strip_prefix: bool = False,
    session_regex: str | None = None,
    strict: bool = False,
    report: ReadReport | None = None,
    source: str = "<input>",
    start_line: int = 1,
) -> Iterator[LogRecord]:
    """Parse lines (numbered from ``start_line``) into records.

    Blank lines are skipped silently but counted in ``report.lines``. A malformed line
    is recorded in ``report.malformed`` and skipped, or raised when ``strict``.

    :param strip_prefix: drop the first whitespace-separated token before matching
    :param source: the file name used in error messages
    :raises LogReadError: strict mode and a malformed line; a label rule that needs a missing field
    """
    numbered = enumerate(lines, start=start_line)
    yield from _iter_numbered(
        numbered, fmt, label_rule, strip_prefix=strip_prefix, session_regex=session_regex,
        strict=strict, report=report if report is not None else ReadReport(), source=source,
    )


def _iter_numbered(numbered, fmt, label_rule, *, strip_prefix, session_regex, strict, report, source):
    """iter_records over (line_no, line) pairs, so re-ordered lines keep their numbers."""
    session_re = re.compile(session_regex) if session_regex else None
    ts_fields = fmt.timestamp_fields
    for line_no, line in numbered:
        report.lines += 1
        line = line.rstrip("\r\n")
        if strip_prefix:
            line = _strip_first_token(line)
        if not line.strip():
            continue
        fields = fmt.parse(line)
        if fields is None:
            _malformed(report, line_no, line, fmt, source, strict)
            continue
        report.records += 1
        yield _record(line_no, line, fields, ts_fields, label_rule, session_re, fmt, source)


def _record(line_no, line, fields, ts_fields, label_rule, session_re, fmt, source) -> LogRecord:
    content = fields["Content"]
    stamp = " ".join(fields[f] for f in ts_fields if fields.get(f))
    return LogRecord(
        line_no=line_no,
        raw=line,
        content=content,
        timestamp=stamp or None,
        level=fields.get("Level") or None,
        component=fields.get("Component") or None,
        label=_apply_rule(label_rule, fields, fmt, source, line_no),
        session=session_of(content, session_re) if session_re is not None else None,
    )


def _apply_rule(label_rule, fields, fmt, source, line_no) -> int | None:
    if label_rule is None:
        return None
    try:
        return label_rule(fields)
    except KeyError as exc:
        raise LogReadError(
            f"{source}, line {line_no}: the label rule reads field {exc.args[0]!r}, "
            f"which format {fmt.name} does not have (fields: {', '.join(fmt.fields)})",
            line_no,
        ) from None


def _malformed(report: ReadReport, line_no: int, line: str, fmt: LogFormat, source: str, strict: bool) -> None:
    snippet = line[:_SNIPPET]
    if strict:
        raise LogReadError(f"{source}, line {line_no}: does not match format {fmt.name}: {snippet!r}", line_no)
    report.malformed.append((line_no, snippet))


def _strip_first_token(line: str) -> str:
    parts = line.split(None, 1)
    return parts[1] if len(parts) == 2 else ""


def _wazuh_key(line: str) -> int:
    """Wazuh alert ids are ``<ingest_ts>.<byte offset>``; the offset gives the original order."""
    token = line.split(None, 1)[0]
    return int(token.split(".")[1])


def restore_wazuh_order(lines: list[str]) -> list[str]:
    """Sort lines by the byte offset in their leading Wazuh id (stable; blank lines go last).

    :raises ValueError: a non-blank line without a ``<digits>.<digits>`` first token
    """
    return [line for _, line in _restore_wazuh_numbered(list(enumerate(lines, start=1)), "<input>")]


def _restore_wazuh_numbered(numbered: list[tuple[int, str]], source: str) -> list[tuple[int, str]]:
    keyed = []
    for line_no, line in numbered:
        if not line.strip():
            keyed.append((1, 0, line_no, line))
            continue
        try:
            keyed.append((0, _wazuh_key(line), line_no, line))
        except (IndexError, ValueError):
            raise LogReadError(
                f"{source}, line {line_no}: no Wazuh id '<ts>.<offset>' to restore the order from: "
                f"{line[:_SNIPPET]!r}",
                line_no,
            ) from None
    keyed.sort(key=lambda item: item[:2])  # list.sort is stable: equal offsets keep file order
    return [(line_no, line) for _, _, line_no, line in keyed]


def read_records(
    path: str | Path,
    fmt: LogFormat,
    label_rule: LabelRule | None = None,
    *,
    strip_prefix: bool = False,
    restore_order: str | None = None,
    session_regex: str | None = None,
    strict: bool = False,
    max_bad_ratio: float = 0.5,
) -> tuple[list[LogRecord], ReadReport]:
    """Read a whole file (plain or .gz) into records.

    :param restore_order: ``"wazuh"`` re-orders lines by their Wazuh id before the prefix is
        stripped (records keep their original line numbers); ``None``/``"none"`` keeps file order
    :param max_bad_ratio: refuse the file when more than this share of non-blank lines is malformed
    :raises LogReadError: a mostly unreadable file, strict mode and a malformed line, a bad order key
    """
    numbered = _read_numbered(path, restore_order)
    report = ReadReport()
    records = list(_iter_numbered(
        numbered, fmt, label_rule, strip_prefix=strip_prefix, session_regex=session_regex,
        strict=strict, report=report, source=str(path),
    ))
    _check_bad_ratio(path, fmt, report, max_bad_ratio)
    return records, report


def _read_numbered(path: str | Path, restore_order: str | None) -> list[tuple[int, str]]:
    order = (restore_order or "none").lower()
    if order not in RESTORE_ORDERS:
        raise ValueError(f"restore_order {restore_order!r} is not one of {', '.join(RESTORE_ORDERS)}")
    with open_text(path) as handle:
        numbered = [(i, line.rstrip("\r\n")) for i, line in enumerate(handle, start=1)]
    if order == "wazuh":
        numbered = _restore_wazuh_numbered(numbered, str(path))
    return numbered


def _check_bad_ratio(path, fmt: LogFormat, report: ReadReport, max_bad_ratio: float) -> None:
    bad = len(report.malformed)
    non_blank = report.records + bad
    if bad and bad > max_bad_ratio * non_blank:
        first_no, first_line = report.malformed[0]
        raise LogReadError(
            f"{path}: mostly unreadable: {bad} of {non_blank} lines do not match format {fmt.name}; "
            f"first bad line {first_no}: {first_line!r}",
            first_no,
        )
