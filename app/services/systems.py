"""Systems: a log source's reading rules (format, label rule, windows) and its persisted Drain parser."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import System


class SpecError(ValueError):
    """A format, label rule or window setting that cannot be used; the message says why."""


@dataclass(frozen=True)
class ReadSpec:
    """Everything needed to turn a system's raw lines into records."""

    log_format: str
    label_rule: str | None = None
    strip_prefix: bool = False
    session_regex: str | None = None

    @classmethod
    def of(cls, system: System) -> "ReadSpec":
        return cls(system.log_format, system.label_rule, system.strip_prefix, system.session_regex)

    def compile(self):
        """(LogFormat, label rule) from ml; SpecError with ml's message when either is invalid."""
        from ml.formats import get_format
        from ml.labels import label_rule_from_spec

        try:
            fmt = get_format(self.log_format)
            rule = label_rule_from_spec(self.label_rule)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        if self.session_regex:
            try:
                re.compile(self.session_regex)
            except re.error as exc:
                raise SpecError(f"session regex does not compile: {exc}") from None
        return fmt, rule


def create_system(session: Session, *, name: str, log_format: str, label_rule: str | None = None,
                  strip_prefix: bool = False, window_size: int = 20, window_stride: int | None = None,
                  session_regex: str | None = None) -> System:
    name = name.strip()
    if not name:
        raise SpecError("a system needs a name")
    if session.scalar(select(System).where(System.name == name)) is not None:
        raise SpecError(f"a system named {name!r} already exists")
    stride = window_stride or window_size
    if window_size < 1 or stride < 1:
        raise SpecError("window size and stride must be positive")
    ReadSpec(log_format, label_rule, strip_prefix, session_regex).compile()
    system = System(name=name, log_format=log_format, label_rule=label_rule or None, strip_prefix=strip_prefix,
                    window_size=window_size, window_stride=stride, session_regex=session_regex or None)
    session.add(system)
    session.flush()
    return system


def load_parser(system: System):
    from ml.parsing import ParseConfig, TemplateParser

    if system.parser_state:
        return TemplateParser.from_bytes(system.parser_state)
    return TemplateParser(ParseConfig())
