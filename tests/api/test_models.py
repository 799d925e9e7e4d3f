"""Model versions over HTTP: list, promote any ready version, roll back to the previous one."""

from __future__ import annotations

from app.db.models import Artifact, ModelVersion
from tests.api.conftest import token_user
from tests.app.factories import fake_project


def versions(session, project, model, statuses=("ready", "ready")) -> list[ModelVersion]:
    """Give the fake project's serving version 0 an artifact and add versions 1.. with the given statuses."""
    artifact = Artifact(kind="model", sha256="0" * 64, size_bytes=1, data=b"x")
    session.add(artifact)
    session.flush()
    model.artifact_id, model.artifact_sha256 = artifact.id, artifact.sha256
    made = [model]
    for n, status in enumerate(statuses, start=1):
        made.append(ModelVersion(project_id=project.id, version=n, status=status, parent_id=made[-1].id,
                                 artifact_id=artifact.id if status == "ready" else None))
        session.add(made[-1])
        session.flush()
    model.is_serving = False
    made[-1].is_serving = made[-1].status == "ready"
    session.commit()
    return made


def test_list_promote_and_roll_back(client, session):
    project, model, _ = fake_project(session, queued=0)
    v0, v1, v2 = versions(session, project, model)
    _, admin = token_user(session, "admin")
    url = f"/api/v1/projects/{project.id}/models"
    listed = client.get(url, headers=admin).json()
    assert [(m["version"], m["is_serving"]) for m in listed] == [(2, True), (1, False), (0, False)]
    assert listed[0]["parent_id"] == v1.id and listed[0]["status"] == "ready"
    back = client.post(f"{url}/rollback", headers=admin)
    assert back.status_code == 200 and back.json()["version"] == 1 and back.json()["is_serving"]
    oldest = client.post(f"{url}/{v0.id}/promote", headers=admin)
    assert oldest.status_code == 200 and oldest.json()["version"] == 0
    nothing_older = client.post(f"{url}/rollback", headers=admin)
    assert nothing_older.status_code == 409 and "no ready version older" in nothing_older.json()["detail"]
    assert client.post(f"{url}/{v2.id}/promote", headers=admin).json()["version"] == 2
    again = client.post(f"{url}/{v2.id}/promote", headers=admin)
    assert again.status_code == 200
    serving = [m["version"] for m in client.get(url, headers=admin).json() if m["is_serving"]]
    assert serving == [2]


def test_promote_errors(client, session):
    project, model, _ = fake_project(session, queued=0)
    v0, failed = versions(session, project, model, statuses=("failed",))
    other, other_model, _ = fake_project(session, queued=0)
    session.commit()
    _, admin = token_user(session, "admin")
    url = f"/api/v1/projects/{project.id}/models"
    not_ready = client.post(f"{url}/{failed.id}/promote", headers=admin)
    assert not_ready.status_code == 409 and "only a ready version can serve" in not_ready.json()["detail"]
    assert client.post(f"{url}/999999/promote", headers=admin).status_code == 404
    foreign = client.post(f"{url}/{other_model.id}/promote", headers=admin)
    assert foreign.status_code == 404 and "does not exist in project" in foreign.json()["detail"]
    assert client.get("/api/v1/projects/999999/models", headers=admin).status_code == 404
    assert client.post(f"/api/v1/projects/999999/models/{v0.id}/promote", headers=admin).status_code == 404
    assert client.post("/api/v1/projects/999999/models/rollback", headers=admin).status_code == 404
    session.expire_all()
    nothing_serves = client.post(f"{url}/rollback", headers=admin)  # failed versions never serve
    assert nothing_serves.status_code == 409 and "no serving version" in nothing_serves.json()["detail"]
