"""Users and API tokens."""

from __future__ import annotations

from datetime import timedelta, timezone

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.db.models import ROLES, ApiToken, User, utcnow
from app.security import generate_token, hash_password, hash_token, verify_password


TOUCH_EVERY = timedelta(minutes=5)


class UserError(ValueError):
    """A request about users that cannot be honoured (duplicate email, unknown role)."""


def get_user_by_email(session: Session, *, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(session: Session, *, email: str, role: str, password: str | None) -> User:
    email = email.strip().lower()
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if "@" not in email:
        raise UserError(f"not an email address: {email!r}")
    if get_user_by_email(session, email=email) is not None:
        raise UserError(f"a user with email {email} already exists")
    user = User(email=email, role=role, password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str) -> User | None:
    user = get_user_by_email(session, email=email)
    ok = verify_password(password, user.password_hash if user else None)
    return user if ok and user is not None and user.is_active else None


def create_token(session: Session, *, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Returns the row and the secret; the secret is not stored and cannot be shown again."""
    secret = generate_token()
    token = ApiToken(user_id=user.id, name=name, prefix=secret[:10], token_hash=hash_token(secret))
    session.add(token)
    session.flush()
    return token, secret


def user_for_token(session: Session, *, secret: str) -> User | None:
    # Lookup by the hash of the secret: an index probe on a hash, so no timing leak on the secret itself.
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    _touch(session, token)
    return token.user


def _touch(session: Session, token: ApiToken) -> None:
    """Record use at most every few minutes: a write per request would contend for the database lock."""
    last = token.last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)
    if last is not None and utcnow() - last < TOUCH_EVERY:
        return
    try:
        token.last_used_at = utcnow()
        session.commit()
    except OperationalError:  # best effort: a busy database must not fail the request
        session.rollback()
