"""CSRF protection for browser requests: a per-session token that every unsafe cookie-authenticated request
echoes, as the form field ``csrf_token`` or the header ``X-CSRF-Token`` (HTMX and fetch send the header,
set once on <body> by templates/base.html)."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request, status

from app.security import tokens_equal

HEADER = "x-csrf-token"
FIELD = "csrf_token"


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not submitted or not tokens_equal(expected, submitted):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form has expired; reload the page and try again")


async def require_csrf(request: Request) -> None:
    """Dependency for unsafe browser routes: the header, else the form field, must match the session's token."""
    submitted = request.headers.get(HEADER)
    if submitted is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        submitted = (await request.form()).get(FIELD)
    check_csrf(request, submitted if isinstance(submitted, str) else None)
