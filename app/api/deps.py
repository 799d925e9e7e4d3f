"""Shared request dependencies as typed aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from app.db.models import User
from app.db.session import session_factory
from app.services.users import user_for_token
from app.settings import Settings, get_settings


def get_db() -> Iterator[Session]:
    with session_factory()() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


def get_or_404(session: Session, model, object_id: int):
    """The row of ``model`` with ``object_id``, or a 404 naming what is missing."""
    row = session.get(model, object_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{model.__name__.lower()} {object_id} does not exist")
    return row
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def current_user(request: Request, session: SessionDep) -> User:
    """The user of a Bearer token, else of the browser session cookie."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise _unauthorized("use 'Authorization: Bearer <token>'")
        user = user_for_token(session, secret=secret.strip())
        if user is None:
            raise _unauthorized("invalid or revoked API token")
        return user
    user_id = request.session.get("user_id") if "session" in request.scope else None
    user = session.get(User, user_id) if user_id else None
    if user is None or not user.is_active:
        raise _unauthorized("sign in or send an API token")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: str):
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {' or '.join(roles)}")
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles("admin"))]
IngestUser = Annotated[User, Depends(require_roles("admin", "service"))]
