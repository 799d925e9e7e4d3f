"""Reading the admin pages' HTML forms into service arguments, and the per-line preview of a log format.

Forms carry strings; every value is checked here so a wrong one comes back as a message naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.services.systems import ReadSpec, SpecError

CUSTOM_FORMAT = "custom"
PREVIEW_MAX_LINES = 200
STRATEGIES = ("logaction", "random", "energy", "uncertainty")


class FormError(ValueError):
    """A form value that cannot be used; ``field`` names the input so the page can point at it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def text(form: Mapping, name: str, label: str, *, required: bool = False, max_len: int = 500) -> str | None:
    value = str(form.get(name) or "").strip()
    if required and not value:
        raise FormError(name, f"{label} is required")
    if len(value) > max_len:
        raise FormError(name, f"{label} is longer than {max_len} characters")
    return value or None


def integer(form: Mapping, name: str, label: str, *, default: int | None = None, low: int = 0,
            high: int = 1_000_000) -> int | None:
    raw = str(form.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise FormError(name, f"{label} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise FormError(name, f"{label} must be between {low} and {high}")
    return value


def percent(form: Mapping, name: str, label: str, *, default: float | None = None) -> float | None:
    """A percentage typed by a person (``2`` or ``2 %`` or ``0.5``) as a fraction of 1."""
    raw = str(form.get(name) or "").replace("%", "").replace(",", ".").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise FormError(name, f"{label} must be a number of percent, not {raw!r}") from None
    if not 0 < value <= 100:
        raise FormError(name, f"{label} must be above 0 % and at most 100 %")
    return round(value / 100, 6)


def checked(form: Mapping, name: str) -> bool:
    return str(form.get(name) or "").lower() in ("on", "1", "true", "yes")


def log_format(form: Mapping) -> str:
    """The chosen preset, or the custom ``log_format`` string when the preset select says custom."""
    preset = str(form.get("preset") or "").strip()
    if preset and preset != CUSTOM_FORMAT:
        return preset
    return text(form, "log_format", "The log format", required=True, max_len=2000)


def read_spec(form: Mapping) -> ReadSpec:
    return ReadSpec(log_format(form), text(form, "label_rule", "The label rule", max_len=200),
                    checked(form, "strip_prefix"), text(form, "session_regex", "The session regex"))


def system_fields(form: Mapping) -> dict:
    spec = read_spec(form)
    size = integer(form, "window_size", "Window size", default=20, low=1, high=10000)
    return {"name": text(form, "name", "A name", required=True, max_len=100), "log_format": spec.log_format,
            "label_rule": spec.label_rule, "strip_prefix": spec.strip_prefix, "session_regex": spec.session_regex,
            "window_size": size,
            "window_stride": integer(form, "window_stride", "Window stride", default=size, low=1, high=10000)}


def project_fields(form: Mapping, *, source_ids: list[str]) -> dict:
    target = integer(form, "target_system_id", "The target system", low=1, high=2**31)
    if target is None:
        raise FormError("target_system_id", "choose the target system")
    sources = []
    for raw in source_ids:
        try:
            sources.append(int(raw))
        except ValueError:
            raise FormError("source_system_ids", f"not a system id: {raw!r}") from None
    if not sources:
        raise FormError("source_system_ids", "choose at least one source system")
    strategy = str(form.get("strategy") or "logaction")
    if strategy not in STRATEGIES:
        raise FormError("strategy", f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    fields = {"name": text(form, "name", "A name", required=True, max_len=100), "target_system_id": target,
              "source_system_ids": sources, "strategy": strategy,
              "lambda1": percent(form, "lambda1_percent", "The high-energy share (λ1)", default=0.1)}
    return {**fields, **settings_fields(form)}


def settings_fields(form: Mapping) -> dict:
    """Budget, round size, rounds and the retrain rule; only what the form filled in."""
    values = {"budget_fraction": percent(form, "budget_percent", "The label budget"),
              "round_fraction": percent(form, "round_percent", "The round size"),
              "rounds": integer(form, "rounds", "Rounds", low=1, high=100),
              "retrain_every": integer(form, "retrain_every", "Retrain every", low=0)}
    return {k: v for k, v in values.items() if v is not None}


def preview_rows(spec: ReadSpec, text_block: str, *, limit: int = PREVIEW_MAX_LINES) -> dict:
    """Per pasted line: the fields the format finds, the label and the template, or why it does not match.

    :raises SpecError: the format or label rule cannot be used at all
    """
    from ml.parsing import ParseConfig, TemplateParser
    from ml.reading import LogReadError, ReadReport

    from app.services.ingest import read_records

    fmt, _ = spec.compile()
    lines = text_block.splitlines()[:limit]
    report = ReadReport()
    try:
        records = list(read_records(spec, lines, source="pasted lines", strict=False, report=report))
    except LogReadError as exc:  # a label rule that reads a field the format lacks
        raise SpecError(str(exc)) from None
    parser = TemplateParser(ParseConfig())
    clusters = parser.add_many([r.content for r in records]) if records else []
    templates = parser.templates()
    rows = [{"line_no": r.line_no, "ok": True, "fields": fmt.parse(r.raw) or {}, "label": r.label,
             "session": r.session, "template": templates[int(c)]} for r, c in zip(records, clusters)]
    rows += [{"line_no": n, "ok": False, "raw": snippet, "error": f"does not match the format {fmt.name}"}
             for n, snippet in report.malformed]
    rows.sort(key=lambda row: row["line_no"])
    return {"fields": list(fmt.fields), "rows": rows, "records": len(records), "malformed": len(report.malformed),
            "truncated": len(text_block.splitlines()) > limit, "templates": len(set(int(c) for c in clusters)),
            "labels": {"anomalous": sum(r.label == 1 for r in records), "normal": sum(r.label == 0 for r in records),
                       "unknown": sum(r.label is None for r in records)}}


__all__ = ["FormError", "SpecError", "preview_rows", "system_fields", "project_fields", "settings_fields"]
