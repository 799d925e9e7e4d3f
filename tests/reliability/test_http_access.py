"""Items 2-6 through the HTTP API on PostgreSQL: claims and 409s, retried label POSTs, the role matrix,
CSRF on cookie-authenticated writes, and API tokens (401s, stored hashed)."""

from __future__ import annotations

import hashlib
import re
import threading

import httpx
import pytest
from sqlalchemy import func, select, text, update

from app.db.models import ApiToken, Label, LabelAudit, QueueItem
from tests.reliability.conftest import new_user

pytestmark = pytest.mark.services


def claim(api, headers, project_id: int):
    return api.post(f"/api/v1/projects/{project_id}/queue/claim", headers=headers)


def label(api, headers, project_id: int, window_id: int, value: str = "normal", key: str | None = None):
    extra = {"Idempotency-Key": key} if key else {}
    return api.post(f"/api/v1/projects/{project_id}/labels", headers={**headers, **extra},
                    json={"window_id": window_id, "value": value})


def count(db, model, *where) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(model).where(*where))


# --- item 2: abandoned claims, labels from non-holders ----------------------------------------------------

def test_an_expired_claim_goes_to_the_next_operator_and_the_others_get_409(api, db, queue_project):
    project_id, _, items = queue_project(queued=1)
    _, alice = new_user()
    _, bob = new_user()
    _, carol = new_user()
    first = claim(api, alice, project_id)
    assert first.status_code == 200 and first.json()["item_id"] == items[0]
    window_id = first.json()["window_id"]
    assert claim(api, bob, project_id).status_code == 204  # alice holds the only window
    assert label(api, bob, project_id, window_id).status_code == 409

    # Alice walks away: her lease runs out (the clock moved on by the lease's length).
    db.execute(update(QueueItem).where(QueueItem.id == items[0])
               .values(claim_expires_at=func.now() - text("interval '1 second'")))
    db.commit()
    second = claim(api, bob, project_id)
    assert second.status_code == 200 and second.json()["item_id"] == items[0]
    assert label(api, alice, project_id, window_id).status_code == 409  # she no longer holds it
    assert label(api, carol, project_id, window_id).status_code == 409  # she never did
    assert api.post(f"/api/v1/projects/{project_id}/queue/{items[0]}/release", headers=alice).status_code == 409
    assert count(db, Label, Label.project_id == project_id) == 0
    assert label(api, bob, project_id, window_id, "anomaly").status_code == 201
    assert count(db, Label, Label.project_id == project_id) == 1


# --- item 3: a retried POST -------------------------------------------------------------------------------

def test_the_same_label_post_twice_creates_one_label(api, db, queue_project):
    project_id, _, _ = queue_project(queued=2)
    _, op = new_user()
    window_id = claim(api, op, project_id).json()["window_id"]
    first = label(api, op, project_id, window_id, "anomaly", key="retry-1")
    again = label(api, op, project_id, window_id, "anomaly", key="retry-1")
    changed = label(api, op, project_id, window_id, "normal", key="retry-1")  # a retry never rewrites
    assert (first.status_code, again.status_code, changed.status_code) == (201, 200, 200)
    assert first.json()["id"] == again.json()["id"] == changed.json()["id"]
    assert changed.json()["value"] == "anomaly"
    assert count(db, Label, Label.project_id == project_id) == 1
    assert count(db, LabelAudit, LabelAudit.project_id == project_id) == 1


@pytest.mark.parametrize("queued", [True, False], ids=["claimed-window", "window-outside-the-queue"])
def test_two_copies_of_a_label_post_at_the_same_moment_create_one_label(live_server, db, queue_project, queued):
    """A client that retries before the first answer arrived: both copies race, over real HTTP."""
    project_id, _, items = queue_project(queued=3)
    _, admin = new_user("admin")  # admins may label windows outside the queue
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        if queued:
            window_id = claim(client, admin, project_id).json()["window_id"]
        else:
            db.rollback()
            taken = select(QueueItem.window_id).where(QueueItem.project_id == project_id)
            from app.db.models import Project, Window

            target = db.get(Project, project_id).target_system_id
            window_id = db.scalar(select(Window.id).where(Window.system_id == target, Window.id.not_in(taken))
                                  .limit(1))
        start, answers = threading.Barrier(2), []

        def post():
            start.wait(5)
            answers.append(label(client, admin, project_id, window_id, "anomaly", key=f"race-{window_id}"))

        threads = [threading.Thread(target=post) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert count(db, Label, Label.project_id == project_id) == 1
    # The copy that lost the race changed nothing: the history shows one answer, not an edit.
    assert db.execute(select(LabelAudit.action).where(LabelAudit.project_id == project_id)).scalars().all() \
        == ["create"]


# --- item 4: who may do what ------------------------------------------------------------------------------

def forbidden_for_labelers(project_id: int, system_id: int, version_id: int, label_id: int) -> list[tuple]:
    return [
        ("POST", "/api/v1/systems", {"json": {"name": "z", "log_format": "BGL"}}),
        ("POST", f"/api/v1/systems/{system_id}/datasets", {"files": {"file": ("x.log", "x\n", "text/plain")}}),
        ("POST", f"/api/v1/systems/{system_id}/lines", {"json": {"lines": ["x"]}}),
        ("POST", "/api/v1/projects", {"json": {"name": "p", "target_system_id": system_id,
                                               "source_system_ids": [system_id]}}),
        ("POST", f"/api/v1/projects/{project_id}/train", {}),
        ("POST", f"/api/v1/projects/{project_id}/retrain", {}),
        ("POST", f"/api/v1/projects/{project_id}/models/{version_id}/promote", {}),
        ("POST", f"/api/v1/projects/{project_id}/score", {"json": {"lines": ["x"]}}),
        ("PATCH", f"/api/v1/projects/{project_id}/labels/{label_id}", {"json": {"value": "normal"}}),
        ("GET", "/api/v1/users", {}),
        ("POST", "/api/v1/users", {"json": {"email": "x@example.com", "role": "admin"}}),
    ]


def forbidden_for_services(project_id: int, system_id: int, version_id: int, label_id: int, item_id: int,
                           window_id: int) -> list[tuple]:
    return [
        ("GET", "/api/v1/projects", {}), ("GET", f"/api/v1/projects/{project_id}", {}),
        ("GET", "/api/v1/systems", {}), ("GET", "/api/v1/datasets", {}), ("GET", "/api/v1/jobs", {}),
        ("GET", f"/api/v1/projects/{project_id}/queue", {}),
        ("POST", f"/api/v1/projects/{project_id}/queue/claim", {}),
        ("POST", f"/api/v1/projects/{project_id}/queue/{item_id}/release", {}),
        ("GET", f"/api/v1/projects/{project_id}/labels", {}),
        ("POST", f"/api/v1/projects/{project_id}/labels", {"json": {"window_id": window_id, "value": "normal"}}),
        ("GET", f"/api/v1/projects/{project_id}/labels/export", {}),
        ("PATCH", f"/api/v1/projects/{project_id}/labels/{label_id}", {"json": {"value": "normal"}}),
        ("GET", f"/api/v1/projects/{project_id}/models", {}),
        ("GET", "/api/v1/tokens", {}), ("POST", "/api/v1/tokens", {"json": {"name": "more"}}),
        *[case for case in forbidden_for_labelers(project_id, system_id, version_id, label_id)
          if "/score" not in case[1]],
    ]


@pytest.fixture
def matrix(api, db, trained_project):
    """The trained project with a label by labeler A; the ids the matrix needs."""
    from app.db.models import ModelVersion, Project

    _, a = new_user()
    item = claim(api, a, trained_project).json()
    made = label(api, a, trained_project, item["window_id"], "anomaly")
    assert made.status_code == 201, made.text
    db.rollback()
    project = db.get(Project, trained_project)
    version_id = db.scalar(select(ModelVersion.id).where(ModelVersion.project_id == trained_project))
    next_item = db.scalar(select(QueueItem).where(QueueItem.project_id == trained_project,
                                                  QueueItem.state == "open").limit(1))
    return {"project_id": trained_project, "system_id": project.target_system_id, "version_id": version_id,
            "label_id": made.json()["id"], "window_id": item["window_id"], "author": a, "next_item": next_item}


def test_a_labeler_cannot_edit_anothers_label_upload_or_train(api, db, matrix):
    _, b = new_user()
    ids = {k: matrix[k] for k in ("project_id", "system_id", "version_id", "label_id")}
    refused = {(m, p): api.request(m, p, headers=b, **kw).status_code
               for m, p, kw in forbidden_for_labelers(**ids)}
    assert {k: v for k, v in refused.items() if v != 403} == {}
    # Answering the window again would overwrite A's label: also refused.
    assert label(api, b, matrix["project_id"], matrix["window_id"], "normal").status_code == 403
    db.rollback()
    assert db.get(Label, matrix["label_id"]).value == "anomaly"
    # The author and an admin may.
    path = f"/api/v1/projects/{matrix['project_id']}/labels/{matrix['label_id']}"
    assert api.patch(path, headers=matrix["author"], json={"reason": "disk full"}).status_code == 200
    _, admin = new_user("admin")
    assert api.patch(path, headers=admin, json={"value": "normal"}).status_code == 200


def test_a_service_token_can_only_score(api, matrix):
    _, service = new_user("service")
    item = matrix["next_item"]
    cases = forbidden_for_services(matrix["project_id"], matrix["system_id"], matrix["version_id"],
                                   matrix["label_id"], item.id, item.window_id)
    refused = {(m, p): api.request(m, p, headers=service, **kw).status_code for m, p, kw in cases}
    assert {k: v for k, v in refused.items() if v != 403} == {}
    lines = _target_lines(matrix["system_id"], 40)
    scored = api.post(f"/api/v1/projects/{matrix['project_id']}/score", headers=service, json={"lines": lines})
    assert scored.status_code == 200, scored.text


def _target_lines(system_id: int, n: int) -> list[str]:
    from app.db.models import LogLine
    from app.db.session import session_scope

    with session_scope() as session:
        return list(session.scalars(select(LogLine.raw).where(LogLine.system_id == system_id)
                                    .order_by(LogLine.id).limit(n)))


# --- item 5: CSRF -----------------------------------------------------------------------------------------

def page_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'"X-CSRF-Token": "([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def test_form_posts_and_cookie_writes_need_the_csrf_token(web_app, queue_project):
    from fastapi.testclient import TestClient

    from app.db.session import session_scope
    from app.services.users import create_user

    project_id, _, _ = queue_project(queued=2)
    email = f"csrf-{project_id}@example.com"
    with session_scope() as session:
        create_user(session, email=email, role="labeler", password="pw-123456")
    browser = TestClient(web_app)  # its own cookie jar
    form = {"email": email, "password": "pw-123456"}
    token = page_token(browser.get("/login").text)
    assert browser.post("/login", data=form).status_code == 403
    assert browser.post("/login", data={**form, "csrf_token": "forged"}).status_code == 403
    signed_in = browser.post("/login", data={**form, "csrf_token": token})
    assert signed_in.status_code == 200 and signed_in.url.path == "/"  # 303 to the projects page

    token = page_token(signed_in.text)  # a fresh token after sign-in
    path = f"/api/v1/projects/{project_id}/queue/claim"
    assert browser.post(path).status_code == 403
    assert browser.post(path, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert browser.post(path, headers={"X-CSRF-Token": token}).status_code == 200
    assert browser.get(f"/api/v1/projects/{project_id}/queue").status_code == 200  # reads need no token
    assert browser.post("/logout").status_code == 403
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 200
    assert browser.post(path, headers={"X-CSRF-Token": token}).status_code == 401  # signed out


# --- item 6: tokens ---------------------------------------------------------------------------------------

def test_scoring_needs_a_live_token_and_tokens_are_stored_hashed(api, db, trained_project):
    service_id, service = new_user("service")
    _, admin = new_user("admin")
    secret = service["Authorization"].removeprefix("Bearer ")
    path = f"/api/v1/projects/{trained_project}/score"
    body = {"json": {"lines": ["x"]}}
    for headers in ({}, {"Authorization": "Bearer la_wrong"}, {"Authorization": f"Basic {secret}"},
                    {"Authorization": "Bearer "}, {"Authorization": secret}):
        answer = api.post(path, headers=headers, **body)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer", (headers, answer.text)
    assert api.post(path, headers=service, **body).status_code != 401  # the token works ...

    db.rollback()
    row = db.scalar(select(ApiToken).where(ApiToken.user_id == service_id))
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    dump = db.execute(text("SELECT string_agg(t::text, '') FROM api_tokens t")).scalar()
    assert secret not in dump and len(row.prefix) < len(secret) // 3

    assert api.delete(f"/api/v1/tokens/{row.id}", headers=admin).status_code == 204
    revoked = api.post(path, headers=service, **body)  # ... until it is revoked
    assert revoked.status_code == 401 and revoked.headers["www-authenticate"] == "Bearer"
