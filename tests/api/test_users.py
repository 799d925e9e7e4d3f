"""Users (admin) and API tokens (own; admins for anyone): shown once, stored hashed, revocable."""

from __future__ import annotations

from sqlalchemy import select

from app.db.models import ApiToken, User
from app.security import hash_token
from tests.api.conftest import token_user


def test_me_for_every_role(client, roles):
    for role, headers in roles.items():
        me = client.get("/api/v1/users/me", headers=headers)
        assert me.status_code == 200 and me.json()["role"] == role and "password_hash" not in me.json()


def test_create_list_and_edit_users(client, session, roles):
    created = client.post("/api/v1/users", json={"email": "New@Example.com", "role": "labeler"},
                          headers=roles["admin"])
    assert created.status_code == 201
    body = created.json()
    assert body["user"]["email"] == "new@example.com" and len(body["password"]) >= 12
    stored = session.get(User, body["user"]["id"])
    assert stored.password_hash.startswith("$argon2") and body["password"] not in stored.password_hash
    chosen = client.post("/api/v1/users", headers=roles["admin"],
                         json={"email": "b@example.com", "role": "service", "password": "long-pass-1"})
    assert chosen.status_code == 201 and chosen.json()["password"] is None
    emails = [u["email"] for u in client.get("/api/v1/users", headers=roles["admin"]).json()]
    assert "new@example.com" in emails and "b@example.com" in emails
    user_id = body["user"]["id"]
    promoted = client.patch(f"/api/v1/users/{user_id}", json={"role": "admin"}, headers=roles["admin"])
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    off = client.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=roles["admin"])
    assert off.status_code == 200 and off.json()["is_active"] is False


def test_user_errors(client, session, roles):
    admin = roles["admin"]
    first = client.post("/api/v1/users", json={"email": "a@example.com", "role": "labeler"}, headers=admin)
    assert first.status_code == 201
    duplicate = client.post("/api/v1/users", json={"email": "A@example.com", "role": "labeler"}, headers=admin)
    assert duplicate.status_code == 422 and "already exists" in duplicate.json()["detail"]
    not_email = client.post("/api/v1/users", json={"email": "nobody", "role": "labeler"}, headers=admin)
    assert not_email.status_code == 422 and "email" in not_email.json()["detail"]
    bad_role = client.post("/api/v1/users", json={"email": "c@example.com", "role": "root"}, headers=admin)
    assert bad_role.status_code == 422 and bad_role.json()["detail"][0]["loc"][-1] == "role"
    short = client.post("/api/v1/users", json={"email": "d@example.com", "role": "admin", "password": "x"},
                        headers=admin)
    assert short.status_code == 422 and short.json()["detail"][0]["loc"][-1] == "password"
    assert client.patch("/api/v1/users/999999", json={"role": "admin"}, headers=admin).status_code == 404
    assert client.patch("/api/v1/users/1", json={"role": "boss"}, headers=admin).status_code == 422


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(client, session):
    admin, headers = token_user(session, "admin")
    demote = client.patch(f"/api/v1/users/{admin.id}", json={"role": "labeler"}, headers=headers)
    assert demote.status_code == 409 and "last active admin" in demote.json()["detail"]
    assert client.patch(f"/api/v1/users/{admin.id}", json={"is_active": False}, headers=headers).status_code == 409
    other, _ = token_user(session, "admin")
    assert client.patch(f"/api/v1/users/{admin.id}", json={"role": "labeler"}, headers=headers).status_code == 200
    session.refresh(other)
    assert other.role == "admin"


def test_tokens_are_shown_once_stored_hashed_and_revocable(client, session):
    user, headers = token_user(session, "labeler")
    created = client.post("/api/v1/tokens", json={"name": "ci"}, headers=headers)
    assert created.status_code == 201
    secret = created.json()["token"]
    stored = session.get(ApiToken, created.json()["id"])
    assert stored.token_hash == hash_token(secret) and secret not in stored.token_hash
    assert stored.prefix == secret[:10] == created.json()["prefix"]
    listed = client.get("/api/v1/tokens", headers=headers).json()
    assert {t["name"] for t in listed} == {"test", "ci"} and all("token" not in t for t in listed)
    own = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/projects", headers=own).status_code == 200
    assert client.delete(f"/api/v1/tokens/{stored.id}", headers=headers).status_code == 204
    gone = client.get("/api/v1/projects", headers=own)
    assert gone.status_code == 401 and gone.headers["www-authenticate"] == "Bearer"
    assert client.delete(f"/api/v1/tokens/{stored.id}", headers=headers).status_code == 204  # idempotent
    assert client.delete("/api/v1/tokens/999999", headers=headers).status_code == 404


def test_token_rules_between_users(client, session):
    labeler, labeler_headers = token_user(session, "labeler")
    other, other_headers = token_user(session, "labeler")
    service, _ = token_user(session, "service")
    _, admin = token_user(session, "admin")
    other_token = session.scalar(select(ApiToken).where(ApiToken.user_id == other.id))
    # a labeler neither sees nor revokes another user's tokens, nor creates tokens for them
    assert client.get("/api/v1/tokens", params={"user_id": other.id}, headers=labeler_headers).status_code == 403
    assert client.delete(f"/api/v1/tokens/{other_token.id}", headers=labeler_headers).status_code == 404
    assert client.post("/api/v1/tokens", json={"user_id": other.id}, headers=labeler_headers).status_code == 403
    # an admin makes the service's scoring token, lists and revokes anyone's
    made = client.post("/api/v1/tokens", json={"name": "scorer", "user_id": service.id}, headers=admin)
    assert made.status_code == 201 and made.json()["user_id"] == service.id
    listed = client.get("/api/v1/tokens", params={"user_id": service.id}, headers=admin).json()
    assert [t["name"] for t in listed] == ["scorer", "test"]
    assert client.delete(f"/api/v1/tokens/{other_token.id}", headers=admin).status_code == 204
    assert client.get("/api/v1/projects", headers=other_headers).status_code == 401
    assert client.post("/api/v1/tokens", json={"user_id": 999999}, headers=admin).status_code == 404
