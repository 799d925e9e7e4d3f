"""CSRF protection for browser forms: a per-session token that every form POST must echo."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request, status

from app.security import tokens_equal


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not submitted or not tokens_equal(expected, submitted):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the form has expired; reload the page and try again")
