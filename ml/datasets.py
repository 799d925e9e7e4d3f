"""Named systems and TOML dataset specs: which files, format, label rule and windows.

``load_system`` accepts a public data set name (BGL, Thunderbird, Zookeeper; read from
``LOGACTION_DATA_DIR``), a synthetic system (``synthetic-a``, ``synthetic-b``; generated in
memory), or the path of a TOML spec such as::

    name = "my-system"
    files = ["app.log", "app2.log.gz"]     # relative to the spec file's folder
    format = "BGL"                         # a preset, or: log_format = "<Date> <Time> <Level>: <Content>"
    strip_prefix = false
    restore_order = "none"                 # or "wazuh"
    sort_by_time = false
    [labels]
    rule = "first_token"                   # level | column | session_file | line_file | none
    [window]
    size = 20
    stride = 20

Label rules and their keys: ``level`` (``levels``, default ``["ERROR"]``), ``column``
(``column``, ``anomalous``, ``normal``), ``session_file`` (``file`` with ``id,label`` rows,
``session_regex``), ``line_file`` (``file`` with ``line,label`` rows, as ``ml.synthetic.write``
writes; one log file only).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ml import labels as rules
from ml import synthetic
from ml.formats import PRESETS, LogFormat, compile_log_format, get_format
from ml.reading import LogRecord, ReadReport, iter_records, read_records

DATA_DIR_ENV = "LOGACTION_DATA_DIR"
_TOP_KEYS = {"name", "description", "files", "format", "log_format", "strip_prefix",
             "restore_order", "sort_by_time", "labels", "window"}
_LABEL_KEYS = {
    "first_token": set(), "none": set(), "level": {"levels"},
    "column": {"column", "anomalous", "normal"},
    "session_file": {"file", "session_regex"}, "line_file": {"file"},
}
_WINDOW_KEYS = {"size", "stride", "session_regex"}
# The field each line rule reads, checked against the format before any file is read.
_RULE_FIELD = {"first_token": "Label", "level": "Level"}


class DatasetError(ValueError):
    """A data set that cannot be loaded: missing data dir or file, or a bad spec field."""


@dataclass
class WindowSettings:
    """Fixed windows (``size``, ``stride``) or, with ``session_regex``, one window per session."""

    size: int = 20
    stride: int = 20
    session_regex: str | None = None


@dataclass
class SystemData:
    """All records of one system, files concatenated in time order.

    :param file_starts: index into ``records`` where each file starts; windows never cross files
    :param session_labels: session id -> label, when labels come per session (HDFS style)
    :param reports: one ReadReport per file (malformed lines with their numbers)
    """

    name: str
    records: list[LogRecord]
    file_starts: list[int]
    window: WindowSettings
    source_files: list[str]
    session_labels: dict[str, int] | None = None
    reports: list[ReadReport] = field(default_factory=list)

    def line_labels(self) -> np.ndarray:
        """Per-record ground truth as int8: 1 anomalous, 0 normal, -1 unknown."""
        return np.fromiter(
            (-1 if r.label is None else r.label for r in self.records), dtype=np.int8, count=len(self.records)
        )


@dataclass(frozen=True)
class FileSource:
    """One log file and how to read it."""

    path: Path
    strip_prefix: bool = False
    restore_order: str | None = None
    sort_by_time: bool = False


@dataclass
class _Plan:
    """Everything needed to read a system's files."""

    name: str
    files: list[FileSource]
    fmt: LogFormat
    label_rule: rules.LabelRule | None
    window: WindowSettings
    session_labels: dict[str, int] | None = None
    line_label_file: Path | None = None


# --- named systems -------------------------------------------------------------------------

_NAMED: dict[str, tuple[str, str, list[FileSource]]] = {
    # The slice's last 30 % is all alerts, so as the later file it would leave a test part with no normal
    # window; BGL_2k (a sample over the whole log, mostly after the slice) gives the test part both classes.
    "BGL": ("BGL", "first_token", [
        FileSource(Path("BGL/slices/bgl-alert-16891b3__bgl_first2507.log")),
        FileSource(Path("BGL/BGL_2k.log")),
    ]),
    "Thunderbird": ("Thunderbird", "first_token", [
        FileSource(Path("Thunderbird/Thunderbird_2k.log")),
        # Wazuh exported this copy in scrambled chunks; its alert ids restore the order.
        FileSource(Path("Thunderbird/Thunderbird_wazuh_19k_prefixed.log.gz"), strip_prefix=True, restore_order="wazuh"),
    ]),
    # Zookeeper has no ground truth; ERROR lines are anomalous as in the released LogAction code.
    # Neither file is in time order (the 2k file is a sample over 12 days), so both are sorted.
    "Zookeeper": ("Zookeeper", "level:ERROR", [
        FileSource(Path("Zookeeper/Zookeeper_2_excerpt_from_full.log"), sort_by_time=True),
        FileSource(Path("Zookeeper/Zookeeper_2k.log"), sort_by_time=True),
    ]),
}
NAMED_SYSTEMS = (*_NAMED, *synthetic.SYSTEMS)
# The public copies here are 10-25x smaller than the paper's: stride 20 would leave ~750 Thunderbird pool
# windows (2 % = 15 labels). Stride 4 gives ~3.7k pool windows and keeps one run within minutes on 2 CPU
# cores; the released code's stride 1 is one --stride away.
PUBLIC_STRIDE = 4


def load_system(
    name_or_spec: str | Path,
    data_dir: str | Path | None = None,
    *,
    seed: int = 0,
    n_lines: int | None = None,
    window_size: int | None = None,
    stride: int | None = None,
) -> SystemData:
    """Load a named system, a synthetic system or a TOML spec.

    :param data_dir: folder of the public data sets (default: ``$LOGACTION_DATA_DIR``); named systems only
    :param seed: synthetic systems only
    :param n_lines: synthetic systems only (default 20000)
    :param window_size: override the system's window size
    :param stride: override the system's window stride
    :raises DatasetError: unknown name, missing data dir or file, bad spec field
    :raises LogReadError: a file that is mostly unreadable
    """
    key = str(name_or_spec)
    if key.lower() in synthetic.SYSTEMS:
        data = _load_synthetic(key.lower(), seed, n_lines)
    else:
        data = _read_plan(_plan_for(key, data_dir))
    data.window = _override_window(data.window, window_size, stride)
    return data


def _plan_for(key: str, data_dir: str | Path | None) -> _Plan:
    for name, (_, rule, files) in _NAMED.items():
        if name.lower() == key.lower():
            return _named_plan(name, rule, files, resolve_data_dir(data_dir, name))
    if key.endswith(".toml") or Path(key).is_file():
        return _spec_plan(load_spec(key))
    raise DatasetError(
        f"unknown system {key!r}: use one of {', '.join(NAMED_SYSTEMS)} or the path of a .toml dataset spec"
    )


def resolve_data_dir(data_dir: str | Path | None, system: str = "this system") -> Path:
    """The data-set folder from the argument or ``$LOGACTION_DATA_DIR``.

    :raises DatasetError: neither given, or not a folder
    """
    chosen = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV) or None
    if chosen is None:
        raise DatasetError(
            f"{system} is read from the public data sets: pass a data directory (--data-dir) "
            f"or set {DATA_DIR_ENV}"
        )
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise DatasetError(f"data directory {path} does not exist or is not a folder (needed for {system})")
    return path


def _named_plan(name: str, rule: str, files: list[FileSource], data_dir: Path) -> _Plan:
    located = [replace(f, path=data_dir / f.path) for f in files]
    for source in located:
        if not source.path.is_file():
            raise DatasetError(f"{name}: file {source.path} is missing from data directory {data_dir}")
    return _Plan(name, located, get_format(_NAMED[name][0]), rules.label_rule_from_spec(rule),
                 WindowSettings(stride=PUBLIC_STRIDE))


def _load_synthetic(name: str, seed: int, n_lines: int | None) -> SystemData:
    n = 20000 if n_lines is None else n_lines
    try:
        log = synthetic.generate(name, n_lines=n, seed=seed)
    except ValueError as exc:
        raise DatasetError(f"{name}: {exc}") from None
    report = ReadReport()
    records = list(iter_records(
        log.lines, get_format(log.format), rules.label_rule_from_spec(log.label_rule),
        strict=True, report=report, source=name,
    ))
    return SystemData(name, records, [0], WindowSettings(), [f"<{name} seed={seed} n_lines={n}>"], reports=[report])


def _override_window(window: WindowSettings, size: int | None, stride: int | None) -> WindowSettings:
    for label, value in (("window_size", size), ("stride", stride)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise DatasetError(f"{label} must be a positive integer, got {value!r}")
    return replace(window, size=size or window.size, stride=stride or window.stride)


# --- reading a plan ------------------------------------------------------------------------

def _read_plan(plan: _Plan) -> SystemData:
    records: list[LogRecord] = []
    starts: list[int] = []
    reports: list[ReadReport] = []
    for source in plan.files:
        file_records, report = read_records(
            source.path, plan.fmt, plan.label_rule, strip_prefix=source.strip_prefix,
            restore_order=source.restore_order, session_regex=plan.window.session_regex,
        )
        if source.sort_by_time:
            file_records = _sorted_by_time(file_records, source.path)
        if plan.line_label_file is not None:
            file_records = _apply_line_labels(file_records, plan.line_label_file)
        starts.append(len(records))
        records.extend(file_records)
        reports.append(report)
    return SystemData(plan.name, records, starts, plan.window, [str(f.path) for f in plan.files],
                      plan.session_labels, reports)


def _sorted_by_time(records: list[LogRecord], path: Path) -> list[LogRecord]:
    """Stable sort on the raw timestamp: numerically for epochs, as text otherwise (ISO dates sort as text)."""
    for record in records:
        if record.timestamp is None:
            raise DatasetError(f"{path}, line {record.line_no}: sort_by_time needs a timestamp, the format gives none")
    return sorted(records, key=lambda r: _time_key(r.timestamp))


def _time_key(stamp: str) -> tuple[int, float, str]:
    try:
        return 0, float(stamp), ""
    except ValueError:
        return 1, 0.0, stamp


def _apply_line_labels(records: list[LogRecord], label_file: Path) -> list[LogRecord]:
    try:
        by_line = rules.load_session_labels(label_file)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"labels file {label_file}: {exc}") from None
    return [replace(r, label=by_line.get(str(r.line_no))) for r in records]


# --- TOML specs ----------------------------------------------------------------------------

def load_spec(path: str | Path) -> dict[str, Any]:
    """Read and validate a TOML dataset spec.

    :returns: the spec with defaults filled in and ``files`` (and label ``file``) as absolute paths
    :raises DatasetError: a missing or unparsable file, an unknown key, a missing or wrong field,
        a missing log file — each naming the field and the spec file
    """
    spec_path = Path(path).expanduser().resolve()
    raw = _read_toml(spec_path)
    where = str(spec_path)
    _no_unknown(raw, _TOP_KEYS, "", where)
    spec: dict[str, Any] = {"name": _str(raw.get("name", spec_path.stem), "name", where)}
    spec["files"] = _files(raw, spec_path)
    spec.update(_format_fields(raw, where))
    spec["strip_prefix"] = _bool(raw.get("strip_prefix", False), "strip_prefix", where)
    spec["sort_by_time"] = _bool(raw.get("sort_by_time", False), "sort_by_time", where)
    spec["restore_order"] = _choice(raw.get("restore_order", "none"), ("none", "wazuh"), "restore_order", where)
    spec["window"] = _window(_table(raw.get("window", {}), "window", where), where)
    spec["labels"] = _labels(_table(raw.get("labels", {}), "labels", where), spec, spec_path)
    _check_rule_field(spec, where)
    return spec


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DatasetError(f"dataset spec {path} does not exist")
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise DatasetError(f"{path}: not valid TOML: {exc}") from None


def _files(raw: dict, spec_path: Path) -> list[str]:
    where = str(spec_path)
    files = raw.get("files")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f for f in files):
        raise DatasetError(f"{where}: field 'files' must be a non-empty list of file names, got {files!r}")
    resolved = [spec_path.parent / Path(f).expanduser() for f in files]
    for name, full in zip(files, resolved):
        if not full.is_file():
            raise DatasetError(f"{where}: field 'files': {name!r} does not exist (looked for {full})")
    return [str(p) for p in resolved]


def _format_fields(raw: dict, where: str) -> dict[str, str]:
    if ("format" in raw) == ("log_format" in raw):
        raise DatasetError(f"{where}: give exactly one of 'format' (a preset) or 'log_format'")
    key = "format" if "format" in raw else "log_format"
    value = _str(raw[key], key, where)
    if key == "format" and value.strip().lower() not in {p.lower() for p in PRESETS}:
        raise DatasetError(f"{where}: field 'format': {value!r} is not a preset ({', '.join(PRESETS)}); "
                           "give a pattern as log_format = \"<Date> <Time> <Level>: <Content>\"")
    try:
        compile_log_format(value) if key == "log_format" else get_format(value)
    except ValueError as exc:
        raise DatasetError(f"{where}: field 'log_format': {exc}") from None
    return {key: value}


def _window(raw: dict, where: str) -> dict[str, Any]:
    _no_unknown(raw, _WINDOW_KEYS, "window.", where)
    window = {"size": _positive(raw.get("size", 20), "window.size", where),
              "stride": _positive(raw.get("stride", 20), "window.stride", where),
              "session_regex": None}
    if "session_regex" in raw:
        window["session_regex"] = _regex(raw["session_regex"], "window.session_regex", where)
    return window


def _labels(raw: dict, spec: dict, spec_path: Path) -> dict[str, Any]:
    where = str(spec_path)
    rule = _choice(raw.get("rule", "none"), tuple(_LABEL_KEYS), "labels.rule", where)
    _no_unknown({k: v for k, v in raw.items() if k != "rule"}, _LABEL_KEYS[rule], "labels.", where,
                f" for rule {rule!r}")
    labels: dict[str, Any] = {"rule": rule}
    if rule == "level":
        labels["levels"] = _str_list(raw.get("levels", ["ERROR"]), "labels.levels", where)
    elif rule == "column":
        labels.update(_column_fields(raw, where))
    elif rule in ("session_file", "line_file"):
        labels["file"] = _label_file(raw, spec_path)
    if rule == "session_file":
        labels["session_regex"] = _session_regex(raw, spec["window"], where)
    if rule == "line_file" and len(spec["files"]) != 1:
        raise DatasetError(f"{where}: labels rule 'line_file' numbers the lines of one file, "
                           f"but 'files' lists {len(spec['files'])}")
    return labels


def _column_fields(raw: dict, where: str) -> dict[str, Any]:
    if "column" not in raw:
        raise DatasetError(f"{where}: field 'labels.column' is required for rule 'column'")
    fields = {"column": _str(raw["column"], "labels.column", where), "anomalous": None, "normal": None}
    for key in ("anomalous", "normal"):
        if key in raw:
            fields[key] = _str_list(raw[key], f"labels.{key}", where)
    return fields


def _label_file(raw: dict, spec_path: Path) -> str:
    where = str(spec_path)
    if "file" not in raw:
        raise DatasetError(f"{where}: field 'labels.file' is required for this label rule")
    full = spec_path.parent / Path(_str(raw["file"], "labels.file", where)).expanduser()
    if not full.is_file():
        raise DatasetError(f"{where}: field 'labels.file': {raw['file']!r} does not exist (looked for {full})")
    return str(full)


def _session_regex(raw: dict, window: dict, where: str) -> str:
    """Session labels need the same session ids for records and windows: one regex for both."""
    mine = _regex(raw["session_regex"], "labels.session_regex", where) if "session_regex" in raw else None
    theirs = window["session_regex"]
    if mine and theirs and mine != theirs:
        raise DatasetError(f"{where}: 'labels.session_regex' and 'window.session_regex' differ; give one")
    regex = mine or theirs
    if regex is None:
        raise DatasetError(f"{where}: field 'labels.session_regex' is required for rule 'session_file', "
                           "e.g. session_regex = \"(blk_-?\\\\d+)\"")
    window["session_regex"] = regex
    return regex


def _check_rule_field(spec: dict, where: str) -> None:
    labels = spec["labels"]
    needed = labels.get("column") or _RULE_FIELD.get(labels["rule"])
    fmt = _spec_format(spec)
    if needed and needed not in fmt.fields:
        raise DatasetError(f"{where}: labels rule {labels['rule']!r} reads field {needed!r}, but format "
                           f"{fmt.name!r} has only {', '.join(fmt.fields)}")


def _spec_format(spec: dict) -> LogFormat:
    return get_format(spec["format"]) if "format" in spec else compile_log_format(spec["log_format"])


def _spec_plan(spec: dict[str, Any]) -> _Plan:
    labels, window = spec["labels"], spec["window"]
    files = [FileSource(Path(f), spec["strip_prefix"], spec["restore_order"], spec["sort_by_time"])
             for f in spec["files"]]
    plan = _Plan(spec["name"], files, _spec_format(spec), _line_rule(labels), WindowSettings(**window))
    if labels["rule"] == "session_file":
        plan.session_labels = _session_labels(Path(labels["file"]))
    if labels["rule"] == "line_file":
        plan.line_label_file = Path(labels["file"])
    return plan


def _line_rule(labels: dict[str, Any]) -> rules.LabelRule | None:
    rule = labels["rule"]
    if rule == "first_token":
        return rules.first_token_rule
    if rule == "level":
        return rules.level_rule(labels["levels"])
    if rule == "column":
        return rules.column_rule(labels["column"], labels["anomalous"], labels["normal"])
    return None


def _session_labels(path: Path) -> dict[str, int]:
    try:
        return rules.load_session_labels(path)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"session labels {path}: {exc}") from None


# --- small validators ----------------------------------------------------------------------

def _no_unknown(raw: dict, allowed: set[str], prefix: str, where: str, context: str = "") -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        names = ", ".join(repr(prefix + k) for k in unknown)
        allowed_text = ", ".join(sorted(allowed)) or "none"
        raise DatasetError(f"{where}: unknown field(s) {names}{context}; allowed: {allowed_text}")


def _table(value: Any, key: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise DatasetError(f"{where}: field {key!r} must be a table ([{key}]), got {value!r}")
    return value


def _str(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: field {key!r} must be a non-empty string, got {value!r}")
    return value


def _str_list(value: Any, key: str, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{where}: field {key!r} must be a non-empty list of strings, got {value!r}")
    return value


def _bool(value: Any, key: str, where: str) -> bool:
    if not isinstance(value, bool):
        raise DatasetError(f"{where}: field {key!r} must be true or false, got {value!r}")
    return value


def _positive(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DatasetError(f"{where}: field {key!r} must be a positive integer, got {value!r}")
    return value


def _choice(value: Any, choices: tuple[str, ...], key: str, where: str) -> str:
    if value not in choices:
        raise DatasetError(f"{where}: field {key!r} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _regex(value: Any, key: str, where: str) -> str:
    text = _str(value, key, where)
    try:
        re.compile(text)
    except re.error as exc:
        raise DatasetError(f"{where}: field {key!r} is not a valid regex: {exc}") from None
    return text
