"""Label rules: ground truth for one parsed line, and session-label files.

A rule maps the fields of one parsed line to 1 (anomalous), 0 (normal) or ``None``
(unknown). Rules raise ``KeyError`` when the format lacks the field they read; the
reader turns that into a clear error.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection
from pathlib import Path

LabelRule = Callable[[dict[str, str]], int | None]

# Spellings accepted for a label value in label files and default column rules.
ANOMALOUS_VALUES = frozenset({"1", "true", "anomaly", "anomalous", "abnormal", "yes"})
NORMAL_VALUES = frozenset({"0", "false", "normal", "no", "-", ""})
RULE_SPECS = ("first_token", "level", "level:ERROR,FATAL", "column:Label", "column:Label=1,true", "none")


def first_token_rule(fields: dict[str, str]) -> int:
    """BGL / Thunderbird: the ``Label`` field is ``-`` for normal lines, else an alert category."""
    return int(fields["Label"] != "-")


def level_rule(levels: Collection[str] = ("ERROR",)) -> LabelRule:
    """Anomalous when the ``Level`` field is one of ``levels`` (case-insensitive).

    Zookeeper has no ground truth; the released LogAction code labels ERROR lines
    anomalous and WARN lines normal, which the default reproduces.
    """
    wanted = frozenset(_norm(level) for level in levels)
    if not wanted:
        raise ValueError("level rule needs at least one level, e.g. 'level:ERROR'")

    def rule(fields: dict[str, str]) -> int:
        return int(_norm(fields["Level"]) in wanted)

    return rule


def column_rule(
    column: str,
    anomalous: Collection[str] | None = None,
    normal: Collection[str] | None = None,
) -> LabelRule:
    """Label from any field's value (compared case-insensitively, stripped).

    - neither set given: a value in ``NORMAL_VALUES`` (``-``, ``0``, ``false``, ``normal``...) is 0, anything else 1;
    - only ``anomalous``: listed values are 1, others 0;
    - only ``normal``: listed values are 0, others 1;
    - both: listed values map to 1 / 0, anything else is unknown (``None``).

    :param column: the field name, e.g. ``"Label"``
    """
    anom = frozenset(map(_norm, anomalous)) if anomalous is not None else None
    norm = frozenset(map(_norm, normal)) if normal is not None else None

    def rule(fields: dict[str, str]) -> int | None:
        value = _norm(fields[column])
        if anom is not None and value in anom:
            return 1
        if norm is not None and value in norm:
            return 0
        if anom is not None and norm is not None:
            return None
        if anom is not None:
            return 0
        if norm is not None:
            return 1
        return int(value not in NORMAL_VALUES)

    return rule


def label_rule_from_spec(spec: str | None) -> LabelRule | None:
    """Build a rule from a short text spec.

    ``"first_token"``, ``"level"``, ``"level:ERROR,FATAL"``, ``"column:Label"``,
    ``"column:Label=1,true"`` (listed values anomalous, others normal), or
    ``None`` / ``"none"`` for no labels.

    :raises ValueError: any other spec
    """
    if spec is None or spec.strip().lower() in ("", "none"):
        return None
    kind, _, arg = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind == "first_token" and not arg:
        return first_token_rule
    if kind == "level":
        return level_rule(_split_list(arg)) if arg.strip() else level_rule()
    if kind == "column" and arg.strip():
        column, _, values = arg.partition("=")
        if column.strip():
            return column_rule(column.strip(), _split_list(values) if values.strip() else None)
    raise ValueError(f"unknown label rule {spec!r}; use one of: {', '.join(RULE_SPECS)}")


def parse_label_value(value: str) -> int:
    """``1/0``, ``Anomaly/Normal``, ``true/false`` (any case) to 1 / 0.

    :raises ValueError: any other value
    """
    text = _norm(value)
    if text in ANOMALOUS_VALUES:
        return 1
    if text in NORMAL_VALUES and text not in ("-", ""):
        return 0
    raise ValueError(f"label {value!r} is not one of 1/0, Anomaly/Normal, true/false")


def load_session_labels(path: str | Path) -> dict[str, int]:
    """Read a CSV with a header and columns ``id,label`` (e.g. HDFS ``BlockId,Label``).

    The columns named ``id`` and ``label`` are used when present, else the first two.

    :raises ValueError: a missing header, a short row, a bad label or a repeated id, naming the line
    """
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None:
            raise ValueError(f"{path}: empty label file; expected a header 'id,label'")
        id_col, label_col = _label_columns(path, header)
        return _read_label_rows(path, rows, id_col, label_col)


def _label_columns(path: str | Path, header: list[str]) -> tuple[int, int]:
    """Locate the id and label columns in the header row."""
    names = [_norm(name) for name in header]
    if len(names) < 2:
        raise ValueError(f"{path}, line 1: header {header!r} needs two columns, e.g. 'id,label'")
    if names[1] in ANOMALOUS_VALUES | NORMAL_VALUES:
        raise ValueError(f"{path}, line 1: expected a header row such as 'id,label', got data {header!r}")
    id_col = names.index("id") if "id" in names else 0
    label_col = names.index("label") if "label" in names else 1
    return id_col, label_col


def _read_label_rows(path, rows, id_col: int, label_col: int) -> dict[str, int]:
    labels: dict[str, int] = {}
    for line_no, row in enumerate(rows, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) <= max(id_col, label_col):
            raise ValueError(f"{path}, line {line_no}: expected id,label, got {row!r}")
        key = row[id_col].strip()
        if key in labels:
            raise ValueError(f"{path}, line {line_no}: id {key!r} appears twice")
        try:
            labels[key] = parse_label_value(row[label_col])
        except ValueError as exc:
            raise ValueError(f"{path}, line {line_no}: {exc}") from None
    return labels


def _split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _norm(value: str) -> str:
    return value.strip().lower()
