"""Scoring: fresh log lines of a project's target system in, anomaly verdicts per window out."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, status
from starlette.concurrency import run_in_threadpool

from app.api.deps import ScoringUser, SessionDep
from app.api.schemas import AUTH_ERRORS, errors, ScoreOut
from app.services import scoring

router = APIRouter(prefix="/api/v1/projects/{project_id}", tags=["scoring"],
                   responses={**AUTH_ERRORS, **errors(e404="no such project (or item in it)")})
NDJSON = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines")
EXAMPLE_LINES = ["2026-03-01 12:00:01 INFO [http-1] web.Api - Received GET /api/orders/17 from 10.0.0.4",
                 "2026-03-01 12:00:01 ERROR [worker-3] db.Pool - Connection refused to 10.0.0.9:5432"]
BODY = {
    "required": True,
    "content": {
        "text/plain": {"schema": {"type": "string"}, "example": "\n".join(EXAMPLE_LINES)},
        "application/json": {
            "schema": {"type": "object", "required": ["lines"],
                       "properties": {"lines": {"type": "array", "items": {"type": "string"}}}},
            "example": {"lines": EXAMPLE_LINES}},
        "application/x-ndjson": {"schema": {"type": "string"},
                                 "example": "\n".join(json.dumps(x) for x in EXAMPLE_LINES)},
    },
}


def _unprocessable(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


async def _body(request: Request, max_bytes: int) -> bytes:
    length = request.headers.get("content-length", "")
    too_large = HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                              f"the body exceeds the limit of {max_bytes} bytes (score_limit_bytes)")
    if length.isdigit() and int(length) > max_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise too_large
    return bytes(body)


def _json_lines(body: bytes) -> list[str]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _unprocessable(f"body: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _unprocessable('body: expected a JSON object {"lines": ["...", ...]}')
    if "lines" not in data:
        raise _unprocessable("field 'lines' is required")
    lines = data["lines"]
    if not isinstance(lines, list):
        raise _unprocessable("field 'lines' must be a list of strings")
    for i, line in enumerate(lines):
        if not isinstance(line, str):
            raise _unprocessable(f"field 'lines[{i}]' must be a string, not {type(line).__name__}")
        if "\n" in line or "\r" in line:
            raise _unprocessable(f"field 'lines[{i}]' contains a line break; send one log line per entry")
    return lines


def _ndjson_lines(body: bytes) -> list[str]:
    lines = []
    for n, raw in enumerate(body.decode("utf-8", errors="replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            item = None
        if isinstance(item, dict):
            item = item.get("line")
        if not isinstance(item, str) or "\n" in item or "\r" in item:
            raise _unprocessable(f"ndjson line {n}: expected a JSON string or an object with a string field 'line'")
        lines.append(item)
    return lines


def _lines(body: bytes, content_type: str) -> list[str]:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        return _json_lines(body)
    if kind in NDJSON:
        return _ndjson_lines(body)
    if kind in ("text/plain", ""):
        text = body.decode("utf-8", errors="replace")
        return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                        f"content type {kind!r} is not accepted: send text/plain, application/json or "
                        "application/x-ndjson")


@router.post("/score", response_model=ScoreOut, summary="Score new log lines", openapi_extra={"requestBody": BODY},
             responses={404: {"description": "no such project"},
                        409: {"description": "the project has no serving model yet"},
                        413: {"description": "the body or the line count exceeds its limit (named)"},
                        415: {"description": "an unsupported content type"},
                        422: {"description": "malformed JSON, or a line the target's format cannot read (named)"}})
async def score(project_id: int, request: Request, session: SessionDep, _: ScoringUser,
                explain: Literal["anomalous", "all", "none"] = "anomalous") -> dict:
    """Raw lines of the project's target system (``text/plain`` one per line, ``{"lines": [...]}``, or NDJSON
    of strings) are parsed read-only with its templates, windowed with its settings and scored by the
    serving version. ``top_lines`` holds, per explained window, the lines whose templates raised its score
    most (occlusion); ``explain`` picks the windows explained."""
    body = await _body(request, scoring.limit("score_limit_bytes"))
    lines = _lines(body, request.headers.get("content-type", ""))
    max_lines = scoring.limit("score_limit_lines")
    if len(lines) > max_lines:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"{len(lines)} lines exceed the limit of {max_lines} lines per request (score_limit_lines)")
    try:
        return await run_in_threadpool(scoring.score_lines, session, project_id=project_id, lines=lines,
                                       explain=explain)
    except scoring.ScoringError as exc:
        raise HTTPException(exc.status, str(exc)) from None
