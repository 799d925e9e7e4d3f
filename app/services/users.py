"""Users and API tokens."""

from __future__ import annotations

from datetime import timedelta, timezone

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.db.models import ROLES, ApiToken, User, utcnow
from app.security import generate_token, hash_password, hash_token, tokens_equal, verify_password


TOUCH_EVERY = timedelta(minutes=5)


class UserError(ValueError):
    """A request about users that cannot be honoured (duplicate email, unknown role)."""


class UserNotFound(LookupError):
    """No such user, or no such token visible to the caller (HTTP 404)."""


class LastAdminError(UserError):
    """The change would leave no active admin to manage the instance (HTTP 409)."""


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
    # Lookup by the hash of the secret: an index probe on a hash, so no timing leak on the secret itself;
    # the found hash is then compared in constant time all the same.
    digest = hash_token(secret)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not tokens_equal(token.token_hash, digest):
        return None
    if token.revoked_at is not None or not token.user.is_active:
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


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise UserNotFound(f"user {user_id} does not exist")
    return user


def set_role(session: Session, user_id: int, role: str) -> User:
    """Change a user's role; the caller commits."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    user = get_user(session, user_id)
    if user.role == "admin" and role != "admin":
        _keep_an_admin(session, user)
    user.role = role
    session.flush()
    return user


def set_active(session: Session, user_id: int, is_active: bool) -> User:
    """Deactivate (or reactivate) a user: a deactivated user's session and tokens stop working at once."""
    user = get_user(session, user_id)
    if user.role == "admin" and user.is_active and not is_active:
        _keep_an_admin(session, user)
    user.is_active = bool(is_active)
    session.flush()
    return user


def _keep_an_admin(session: Session, leaving: User) -> None:
    # Lock the active admins so two concurrent demotions cannot each see the other as the remaining one.
    admins = session.scalars(select(User).where(User.role == "admin", User.is_active.is_(True))
                             .with_for_update()).all()
    if all(a.id == leaving.id for a in admins):
        raise LastAdminError("this is the last active admin; make another user admin first")


def list_tokens(session: Session, *, user_id: int | None = None) -> list[ApiToken]:
    """Tokens newest first (all users' when ``user_id`` is None); the secrets themselves are never stored."""
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(session.scalars(query))


def revoke_token(session: Session, *, token_id: int, by: User) -> ApiToken:
    """Revoke a token of ``by`` (an admin may revoke anyone's); revoking twice keeps the first time.

    Another user's token is reported as missing to a non-admin, so ids reveal nothing.
    """
    token = session.get(ApiToken, token_id)
    if token is None or (by.role != "admin" and token.user_id != by.id):
        raise UserNotFound(f"token {token_id} does not exist")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token
