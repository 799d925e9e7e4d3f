"""CLI users/tokens, API token auth, roles, and the browser sign-in with CSRF."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.cli import main
from app.db.models import ApiToken, User


def test_users_and_tokens_from_the_cli(client, session, capsys):
    assert main(["users", "create", "--email", "Ops@Example.com", "--role", "admin"]) == 0
    out = capsys.readouterr().out
    assert "created admin ops@example.com" in out and "password: " in out
    assert main(["users", "create", "--email", "ops@example.com", "--role", "admin"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["tokens", "create", "--user", "ops@example.com", "--name", "ci"]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("la_")
    stored = session.scalar(select(ApiToken))
    assert stored.token_hash != secret and secret not in stored.token_hash and stored.prefix == secret[:10]
    assert client.get("/api/v1/systems", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert main(["tokens", "create", "--user", "nobody@example.com"]) == 1


def test_bad_and_revoked_tokens_get_401_with_www_authenticate(client, session, capsys):
    from app.db.models import utcnow

    main(["users", "create", "--email", "svc@example.com", "--role", "service"])
    main(["tokens", "create", "--user", "svc@example.com"])
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    wrong = client.get("/api/v1/jobs", headers={"Authorization": "Bearer la_wrong"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/jobs", headers={"Authorization": "Basic abc"}).status_code == 401
    session.scalar(select(ApiToken)).revoked_at = utcnow()
    session.commit()
    assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_sign_in_page_with_csrf(client, session):
    from app.services.users import create_user

    create_user(session, email="web@example.com", role="labeler", password="s3cret-pass")
    session.commit()
    client.cookies.clear()
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    page = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    no_csrf = client.post("/login", data={"email": "web@example.com", "password": "s3cret-pass"})
    assert no_csrf.status_code == 403
    wrong = client.post("/login", data={"email": "web@example.com", "password": "nope", "csrf_token": csrf})
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    ok = client.post("/login", data={"email": "web@example.com", "password": "s3cret-pass", "csrf_token": csrf},
                     follow_redirects=False)
    assert ok.status_code == 303
    home = client.get("/")
    assert home.status_code == 200 and "web@example.com" in home.text and "/vendor/htmx/htmx.min.js" in home.text
    assert client.get("/fragments/jobs").status_code == 200
    assert client.get("/api/v1/jobs").status_code == 200  # the session cookie works for the API too
    client.cookies.clear()


def test_vendor_libraries_are_served_from_npm(client):
    from app.main import VENDOR

    if not VENDOR["htmx"].is_dir():
        import pytest

        pytest.skip("node_modules missing: run `npm ci`")
    assert client.get("/vendor/htmx/htmx.min.js").status_code == 200
    assert client.get("/vendor/chart/chart.umd.min.js").status_code == 200


def test_default_secret_is_refused_outside_development(monkeypatch):
    import pytest
    from pydantic import ValidationError

    from app.settings import DEFAULT_SECRET, Settings

    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=DEFAULT_SECRET)
    assert Settings(environment="development", secret_key=DEFAULT_SECRET).secret_key == DEFAULT_SECRET


def test_user_roles_are_checked(session):
    import pytest

    from app.services.users import UserError, create_user

    with pytest.raises(UserError, match="unknown role"):
        create_user(session, email="x@example.com", role="root", password=None)
    assert session.scalar(select(User)) is None
