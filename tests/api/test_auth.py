"""Authentication: Bearer tokens (401 + WWW-Authenticate when missing, malformed, wrong, revoked or of a
deactivated user) and browser cookies (unsafe API calls need the CSRF header; Bearer calls do not)."""

from __future__ import annotations

import re

import pytest

from app.db.models import utcnow
from tests.api.conftest import token_user


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Bearer la_not-a-token",
                                    "Token la_x"])
def test_missing_or_invalid_token_is_401_with_www_authenticate(client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/projects", headers=headers)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"]


def test_revoked_tokens_and_deactivated_users_are_401(client, session):
    user, headers = token_user(session, "labeler")
    assert client.get("/api/v1/projects", headers=headers).status_code == 200
    user.is_active = False
    session.commit()
    assert client.get("/api/v1/projects", headers=headers).status_code == 401
    user.is_active = True
    session.commit()
    from app.db.models import ApiToken
    from sqlalchemy import select

    session.scalar(select(ApiToken).where(ApiToken.user_id == user.id)).revoked_at = utcnow()
    session.commit()
    response = client.get("/api/v1/projects", headers=headers)
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def _sign_in(client, session, role: str = "labeler") -> str:
    """Sign in through the login form; returns the session's CSRF token as the pages publish it."""
    from app.services.users import create_user

    create_user(session, email=f"web-{role}@example.com", role=role, password="s3cret-pass")
    session.commit()
    client.cookies.clear()
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    signed = client.post("/login", data={"email": f"web-{role}@example.com", "password": "s3cret-pass",
                                         "csrf_token": login_csrf}, follow_redirects=False)
    assert signed.status_code == 303
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)


def test_cookie_calls_need_the_csrf_header_for_writes(client, session):
    try:
        csrf = _sign_in(client, session)
        assert client.get("/api/v1/tokens").status_code == 200  # reads need no token
        missing = client.post("/api/v1/tokens", json={"name": "x"})
        assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["detail"]
        wrong = client.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "nope"})
        assert wrong.status_code == 403
        ok = client.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 201
        assert client.delete(f"/api/v1/tokens/{ok.json()['id']}").status_code == 403
        assert client.delete(f"/api/v1/tokens/{ok.json()['id']}", headers={"X-CSRF-Token": csrf}).status_code == 204
    finally:
        client.cookies.clear()


def test_bearer_calls_are_exempt_from_csrf(client, session):
    _, headers = token_user(session, "labeler")
    client.cookies.clear()
    assert client.post("/api/v1/tokens", json={"name": "script"}, headers=headers).status_code == 201


def test_wrong_role_is_403_naming_the_role(client, session):
    _, headers = token_user(session, "service")
    response = client.get("/api/v1/projects", headers=headers)
    assert response.status_code == 403 and "admin or labeler" in response.json()["detail"]
