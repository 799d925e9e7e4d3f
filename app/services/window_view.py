"""What an operator reads of a window: its log lines in file order, a few dimmed context lines around them,
and each line's variable parts (the text under its template's ``<*>`` / ``<NUM>`` ... slots) marked.

Ground truth never leaves this module: neither ``Window.label`` nor ``LogLine.label`` is read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Dataset, LogLine, Template, Window

CONTEXT_LINES = 3
MAX_SESSION_LINES = 400  # a session window can be long; the page shows its first lines and says so
SLOT = re.compile(r"<\*>|<[A-Z]+>")
WORD = re.compile(r"\S+")


@dataclass
class Segment:
    text: str
    variable: bool


@dataclass
class LineView:
    id: int
    line_no: int
    prefix: str  # the header before the content (timestamp, level, component); shown plain
    segments: list[Segment]
    template_id: int | None
    template: str | None
    context: bool = False  # a neighbour outside the window, dimmed
    marked: bool = False  # the operator marked it as one that makes the window anomalous


@dataclass
class WindowView:
    window_id: int
    dataset_name: str
    first_line_no: int
    last_line_no: int
    session: str | None
    before: list[LineView] = field(default_factory=list)
    lines: list[LineView] = field(default_factory=list)
    after: list[LineView] = field(default_factory=list)
    truncated: int = 0  # lines of a session window left out

    @property
    def template_ids(self) -> list[int]:
        return sorted({line.template_id for line in self.lines if line.template_id})


def window_view(session: Session, window: Window, *, context: int = CONTEXT_LINES,
                marked_line_nos: list[int] | tuple[int, ...] = ()) -> WindowView:
    """The window's lines (and ``context`` lines either side of a fixed-size window), highlighted."""
    query = (select(LogLine.id, LogLine.line_no, LogLine.raw, LogLine.content, LogLine.template_id, Template.text,
                    Dataset.original_name)
             .join(Dataset, Dataset.id == LogLine.dataset_id)
             .outerjoin(Template, Template.id == LogLine.template_id)
             .where(LogLine.dataset_id == window.dataset_id).order_by(LogLine.line_no))
    if window.session is not None:
        rows = session.execute(query.where(LogLine.session == window.session).limit(MAX_SESSION_LINES + 1)).all()
        context = 0
    else:
        rows = session.execute(query.where(LogLine.line_no.between(window.first_line_no - context,
                                                                   window.last_line_no + context))).all()
    name = rows[0][-1] if rows else session.scalar(select(Dataset.original_name)
                                                   .where(Dataset.id == window.dataset_id))
    view = WindowView(window.id, name or "?", window.first_line_no, window.last_line_no, window.session)
    marked = set(marked_line_nos)
    for row in rows[:MAX_SESSION_LINES] if window.session is not None else rows:
        line = _line(*row[:-1])
        if window.session is None and line.line_no < window.first_line_no:
            line.context = True
            view.before.append(line)
        elif window.session is None and line.line_no > window.last_line_no:
            line.context = True
            view.after.append(line)
        else:
            line.marked = line.line_no in marked
            view.lines.append(line)
    if window.session is not None and len(rows) > MAX_SESSION_LINES:
        total = session.scalar(select(func.count()).where(LogLine.dataset_id == window.dataset_id,
                                                          LogLine.session == window.session))
        view.truncated = total - MAX_SESSION_LINES
    return view


def _line(line_id: int, line_no: int, raw: str, content: str, template_id: int | None,
          template: str | None) -> LineView:
    prefix, body = split_raw(raw, content)
    segments = highlight(body, template) if body == content else [Segment(body, False)]
    return LineView(line_id, line_no, prefix, segments, template_id, template)


def split_raw(raw: str, content: str) -> tuple[str, str]:
    """(header, content) of a raw line; the whole line as content when the content is not found in it."""
    if content and raw.endswith(content):
        return raw[:len(raw) - len(content)], content
    at = raw.find(content) if content else -1
    if at < 0:
        return "", raw
    return raw[:at], raw[at:]  # content mid-line (a trailing field after it): highlight up to the end only


def highlight(content: str, template: str | None) -> list[Segment]:
    """Split ``content`` into constant and variable segments by aligning it to its template.

    Drain templates keep the content's whitespace tokenisation (masks never span a space), so the tokens are
    aligned one to one; a token with slots is matched against a small regex of its own. Where the template no
    longer fits the line (it was generalised after the line was parsed), the whole line is aligned by one
    regex, and failing that nothing is marked rather than something wrongly.
    """
    if not template or not SLOT.search(template):
        return [Segment(content, False)]
    words, slots = list(WORD.finditer(content)), template.split()
    spans = (_token_spans(words, slots) if len(words) == len(slots) else None) or _line_spans(content, template)
    return _segments(content, spans or [])


def _token_spans(words: list[re.Match], slots: list[str]) -> list[tuple[int, int]] | None:
    spans: list[tuple[int, int]] = []
    for word, slot in zip(words, slots):
        if word.group() == slot or not SLOT.search(slot):
            continue
        match = _slot_regex(slot).fullmatch(word.group())
        if match is None:
            spans.append(word.span())  # the token changed as a whole
            continue
        spans.extend((word.start() + a, word.start() + b) for a, b in (match.span(g) for g in
                                                                       range(1, len(match.groups()) + 1)))
    return spans


def _line_spans(content: str, template: str) -> list[tuple[int, int]] | None:
    pattern = r"\s+".join(_slot_regex(slot).pattern for slot in template.split())
    match = _compiled(pattern).fullmatch(content.strip())
    if match is None:
        return None
    offset = len(content) - len(content.lstrip())
    return [(offset + a, offset + b) for a, b in (match.span(g) for g in range(1, len(match.groups()) + 1))]


@lru_cache(maxsize=4096)
def _slot_regex(slot: str) -> re.Pattern:
    parts = SLOT.split(slot)
    return _compiled("(.+?)".join(re.escape(p) for p in parts))


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.DOTALL)


def _segments(content: str, spans: list[tuple[int, int]]) -> list[Segment]:
    out: list[Segment] = []
    at = 0
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if start < at:
            continue
        if start > at:
            out.append(Segment(content[at:start], False))
        out.append(Segment(content[start:end], True))
        at = end
    if at < len(content) or not out:
        out.append(Segment(content[at:], False))
    return out
