"""The role matrix: each role against each endpoint group (admin: all; labeler: reads, queue, labels, own
tokens; service: scoring only; nobody signed in: 401 with WWW-Authenticate)."""

from __future__ import annotations

import pytest

from tests.app.factories import fake_project, settle_jobs

# group -> (method, path, json body, the status an allowed caller gets); {p} is a project id, {w} a window of it.
# The fake project has no ingested source data (train: 409) and no stored model (score: 409).
GROUPS = {
    "systems:read": ("GET", "/api/v1/systems", None, 200),
    "systems:write": ("POST", "/api/v1/systems/preview", {"log_format": "synthetic-a", "lines": ["x"]}, 200),
    "datasets": ("GET", "/api/v1/datasets", None, 200),
    "projects:read": ("GET", "/api/v1/projects/{p}", None, 200),
    "projects:write": ("POST", "/api/v1/projects/{p}/train", None, 409),
    "jobs": ("GET", "/api/v1/jobs", None, 200),
    "queue": ("GET", "/api/v1/projects/{p}/queue", None, 200),
    "labels:read": ("GET", "/api/v1/projects/{p}/labels", None, 200),
    "labels:write": ("POST", "/api/v1/projects/{p}/labels", {"window_id": "{w}", "value": "normal"}, 201),
    "models": ("GET", "/api/v1/projects/{p}/models", None, 200),
    "scoring": ("POST", "/api/v1/projects/{p}/score", {"lines": ["x"]}, 409),
    "users": ("GET", "/api/v1/users", None, 200),
    "tokens": ("GET", "/api/v1/tokens", None, 200),
}
ALLOWED = {
    "admin": set(GROUPS),
    "labeler": {"systems:read", "projects:read", "jobs", "queue", "labels:read", "labels:write", "tokens"},
    "service": {"scoring"},
}


@pytest.mark.parametrize("group", sorted(GROUPS))
@pytest.mark.parametrize("role", ["admin", "labeler", "service", "anonymous"])
def test_role_matrix(client, session, roles, role, group):
    project, _, items = fake_project(session, queued=1)
    session.commit()
    method, path, body, ok = GROUPS[group]
    if body is not None:
        body = {k: (items[0].window_id if v == "{w}" else v) for k, v in body.items()}
    headers = roles.get(role, {})
    response = client.request(method, path.format(p=project.id), json=body, headers=headers)
    settle_jobs(session)
    if role == "anonymous":
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    elif group in ALLOWED[role]:
        assert response.status_code == ok, response.text
    else:
        assert response.status_code == 403, response.text
        assert role in response.json()["detail"]
