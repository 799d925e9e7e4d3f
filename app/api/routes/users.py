"""Users (admins manage them) and API tokens (everyone but services manages their own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from app.api.deps import AdminUser, CurrentUser, LabelerUser, SessionDep, refusals
from app.api.schemas import (
    AUTH_ERRORS, TokenCreated, TokenIn, TokenOut, UserCreated, UserIn, UserOut, UserPatch,
)
from app.security import generate_password
from app.services.users import (
    LastAdminError, UserError, UserNotFound, create_token, create_user, get_user, list_tokens, list_users,
    revoke_token, set_active, set_role,
)

router = APIRouter(prefix="/api/v1", tags=["users"], responses=AUTH_ERRORS)


USER_ERRORS = {UserNotFound: 404, LastAdminError: 409, UserError: 422}


@router.get("/users/me", response_model=UserOut, summary="Who am I")
def me(user: CurrentUser):
    """The caller's own account (any role)."""
    return user


@router.get("/users", response_model=list[UserOut], summary="List users")
def users(session: SessionDep, _: AdminUser) -> list:
    return list_users(session)


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserCreated, summary="Create a user",
             responses={422: {"description": "bad email, unknown role, or the email is taken"}})
def create(body: UserIn, session: SessionDep, _: AdminUser) -> dict:
    """The password is hashed (argon2); leave it out to get a generated one, shown only in this answer."""
    generated = generate_password() if body.password is None else None
    with refusals(session, USER_ERRORS):
        user = create_user(session, email=body.email, role=body.role, password=body.password or generated)
    session.commit()
    return {"user": user, "password": generated}


@router.patch("/users/{user_id}", response_model=UserOut, summary="Change a user's role or deactivate them",
              responses={404: {"description": "no such user"},
                         409: {"description": "the change would leave no active admin"}})
def edit(user_id: int, body: UserPatch, session: SessionDep, _: AdminUser):
    """A deactivated user's browser session and tokens stop working at once."""
    with refusals(session, USER_ERRORS):
        user = get_user(session, user_id)
        if body.role is not None:
            user = set_role(session, user_id, body.role)
        if body.is_active is not None:
            user = set_active(session, user_id, body.is_active)
    session.commit()
    return user


@router.get("/tokens", response_model=list[TokenOut], summary="List API tokens")
def tokens(session: SessionDep, user: LabelerUser,
           user_id: Annotated[int | None, Query(description="admins only: another user's tokens")] = None) -> list:
    """Your tokens (an admin may ask for another user's). Secrets are never shown again after creation."""
    if user_id is not None and user_id != user.id and user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin can list another user's tokens")
    return list_tokens(session, user_id=user.id if user_id is None else user_id)


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated,
             summary="Create an API token", responses={403: {"description": "a token for another user, not admin"},
                                                        404: {"description": "no such user"}})
def create_api_token(body: TokenIn, session: SessionDep, user: LabelerUser) -> dict:
    """The secret is in this answer only; it is stored as a hash. Send it as ``Authorization: Bearer …``."""
    owner = user
    if body.user_id is not None and body.user_id != user.id:
        if user.role != "admin":
            raise HTTPException(status.HTTP_403_FORBIDDEN, "only an admin can create tokens for another user")
        with refusals(session, USER_ERRORS):
            owner = get_user(session, body.user_id)
    token, secret = create_token(session, user=owner, name=body.name)
    session.commit()
    return {**TokenOut.model_validate(token).model_dump(), "token": secret}


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an API token",
               responses={404: {"description": "no such token among those you may revoke"}})
def revoke(token_id: int, session: SessionDep, user: LabelerUser) -> Response:
    with refusals(session, USER_ERRORS):
        revoke_token(session, token_id=token_id, by=user)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
