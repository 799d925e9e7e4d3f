"""Log line formats: Drain/loghub-style ``log_format`` strings compiled to regexes.

A ``log_format`` such as ``'<Date> <Time> <Level> <Component>: <Content>'`` names each
field in angle brackets. The text between fields is used as regex (so ``\\[`` and
``(...)?`` work, as in the loghub benchmark), with runs of spaces matching any whitespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The loghub benchmark strings, plus the project's two synthetic systems (see ml/synthetic.py).
# The "-nolabel" variants read synthetic logs written without a leading label token.
PRESETS: dict[str, str] = {
    "BGL": "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
    "Thunderbird": (
        r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> "
        r"<Component>(\[<PID>\])?: <Content>"
    ),
    "Zookeeper": r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
    "HDFS": "<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "synthetic-a": "<Label> <Timestamp> <Node> <Level> <Component>: <Content>",
    "synthetic-a-nolabel": "<Timestamp> <Node> <Level> <Component>: <Content>",
    "synthetic-b": r"<Label> <Date> <Time> <Level> \[<Thread>\] <Component> - <Content>",
    "synthetic-b-nolabel": r"<Date> <Time> <Level> \[<Thread>\] <Component> - <Content>",
}

# Which fields make up a record's timestamp, where the generic rule (Date, Time, Timestamp
# in format order) would pick the wrong ones: BGL's Date is redundant with its Time.
_TIMESTAMP_FIELDS: dict[str, tuple[str, ...]] = {
    "BGL": ("Time",),
    "Thunderbird": ("Timestamp",),
    "synthetic-a": ("Timestamp",),
    "synthetic-a-nolabel": ("Timestamp",),
}
_GENERIC_TIMESTAMP_FIELDS = ("Date", "Time", "Timestamp")
_FIELD = re.compile(r"<(\w+)>")


@dataclass(frozen=True)
class LogFormat:
    """A compiled line format.

    :param name: preset name, or the ``log_format`` string itself
    :param pattern: anchored regex whose named groups are the fields
    :param fields: field names in the order they appear in the line
    """

    name: str
    pattern: re.Pattern
    fields: tuple[str, ...]

    def parse(self, line: str) -> dict[str, str] | None:
        """Split one line (without its newline) into fields; ``None`` when it does not match."""
        match = self.pattern.match(line)
        if match is None:
            return None
        # Optional groups (Thunderbird's [PID]) give None; an empty string keeps the dict str-only.
        return {k: v or "" for k, v in match.groupdict().items()}

    @property
    def timestamp_fields(self) -> tuple[str, ...]:
        """The fields joined (with a space) into a record's raw timestamp string."""
        preset = _TIMESTAMP_FIELDS.get(self.name)
        if preset is not None:
            return preset
        return tuple(f for f in self.fields if f in _GENERIC_TIMESTAMP_FIELDS)


def compile_log_format(log_format: str, name: str | None = None) -> LogFormat:
    """Compile a Drain-style ``log_format`` string.

    Every field matches lazily (``.*?``) and the regex is anchored at both ends, so the
    last field takes the rest of the line, as in the loghub benchmark's parser.

    :param log_format: e.g. ``'<Date> <Time> <Level> <Component>: <Content>'``
    :param name: the name to record (default: the string itself)
    :raises ValueError: no ``<Content>`` field, a repeated field, or invalid regex text
    """
    parts = _FIELD.split(log_format)
    # split() alternates literal text (even indexes) and field names (odd indexes).
    fields = tuple(parts[1::2])
    _check_fields(log_format, fields)
    regex = "".join(
        f"(?P<{part}>.*?)" if i % 2 else re.sub(" +", r"\\s+", part)
        for i, part in enumerate(parts)
    )
    try:
        pattern = re.compile(f"^{regex}$")
    except re.error as exc:
        raise ValueError(f"log_format {log_format!r} is not a valid pattern: {exc}") from exc
    return LogFormat(name=name or log_format, pattern=pattern, fields=fields)


def _check_fields(log_format: str, fields: tuple[str, ...]) -> None:
    """Refuse formats that cannot give a record its content."""
    if "Content" not in fields:
        raise ValueError(
            f"log_format {log_format!r} has no <Content> field; the message part of each line "
            "must be named <Content>, e.g. '<Date> <Time> <Level> <Component>: <Content>'"
        )
    repeated = sorted({f for f in fields if fields.count(f) > 1})
    if repeated:
        raise ValueError(f"log_format {log_format!r} names a field twice: {', '.join(repeated)}")


def get_format(name_or_log_format: str) -> LogFormat:
    """Return a preset by name (case-insensitive) or compile a ``log_format`` string.

    :raises ValueError: neither a preset name nor a string with ``<Field>`` groups
    """
    key = name_or_log_format.strip()
    for preset, log_format in PRESETS.items():
        if preset.lower() == key.lower():
            return _compile_preset(preset, log_format)
    if _FIELD.search(key):
        return compile_log_format(name_or_log_format)
    raise ValueError(
        f"unknown log format {name_or_log_format!r}: use a preset ({', '.join(PRESETS)}) "
        "or a log_format string such as '<Date> <Time> <Level> <Component>: <Content>'"
    )


_PRESET_CACHE: dict[str, LogFormat] = {}


def _compile_preset(name: str, log_format: str) -> LogFormat:
    """Compile a preset once; LogFormat is immutable, so sharing it is safe."""
    if name not in _PRESET_CACHE:
        _PRESET_CACHE[name] = compile_log_format(log_format, name=name)
    return _PRESET_CACHE[name]
