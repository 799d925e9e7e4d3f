"""Shared request dependencies as typed aliases: database session, settings, the caller and their role.

Roles: admin may do everything; labeler reads projects, systems and jobs, works the queue and edits its
own labels; service may only score. A Bearer token authenticates API clients; a browser's session cookie
works too, but then an unsafe method must echo the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session, lazyload
from starlette.concurrency import run_in_threadpool

from app.db.models import Project, User
from app.db.session import session_factory
from app.security import tokens_equal
from app.services.users import user_for_token
from app.settings import Settings, get_settings

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_HEADER = "X-CSRF-Token"


async def get_db() -> AsyncIterator[Session]:
    # Opening a session does no I/O (the connection is checked out at its first query), so it needs no
    # worker thread; closing may roll back, so it gets one. Each hop to the thread pool and back costs a
    # GIL handover, which under load is most of a small request's time.
    session = session_factory()()
    try:
        yield session
    finally:
        with anyio.CancelScope(shield=True):  # a client that hangs up must not leak the connection
            await run_in_threadpool(session.close)


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_or_404(session: Session, model, object_id: int):
    """The row of ``model`` with ``object_id``, or a 404 naming what is missing."""
    row = session.get(model, object_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{model.__name__.lower()} {object_id} does not exist")
    return row


@contextmanager
def refusals(session: Session, codes: dict[type[Exception], int]) -> Iterator[None]:
    """A service's refusal as an HTTP answer: the transaction is rolled back and the error's message becomes
    the detail. The first class in ``codes`` the error is an instance of gives the status (subclasses first)."""
    try:
        yield
    except tuple(codes) as exc:
        session.rollback()
        raise HTTPException(next(code for kind, code in codes.items() if isinstance(exc, kind)), str(exc)) from None


def project_or_404(session: Session, project_id: int) -> Project:
    """The project, or a 404. Its source systems load only if read: a request about the queue or labels
    never does, and the extra query on each of them cost a round trip to the database."""
    project = session.get(Project, project_id, options=[lazyload(Project.sources)])
    if project is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"project {project_id} does not exist")
    return project


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def current_user(request: Request, session: SessionDep) -> User:
    """The user of a Bearer token, else of the browser session cookie (with a CSRF check on writes)."""
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
    if request.method not in SAFE_METHODS:
        _check_csrf(request)
    return user


def _check_csrf(request: Request) -> None:
    # A cookie rides along on any cross-site request; the token in a header proves the page is ours.
    # Bearer calls need no such proof: a browser never attaches a token on its own.
    expected = request.session.get("csrf")
    submitted = request.headers.get(CSRF_HEADER)
    if not expected or not submitted or not tokens_equal(expected, submitted):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"a request signed in by cookie must send the page's CSRF token in {CSRF_HEADER}")


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: str):
    async def check(user: CurrentUser) -> User:  # no I/O: runs on the event loop, not in a worker thread
        if user.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"this needs the role {' or '.join(roles)}; you are {user.role}")
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles("admin"))]
# Reads of projects, systems and jobs, the queue and labels: the people who label.
LabelerUser = Annotated[User, Depends(require_roles("admin", "labeler"))]
ScoringUser = Annotated[User, Depends(require_roles("admin", "service"))]
