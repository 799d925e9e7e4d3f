"""Systems, datasets, projects and jobs over HTTP: the happy path and each error of every endpoint."""

from __future__ import annotations

from app.db.models import Dataset, Job
from tests.api.conftest import token_user
from tests.app.factories import fake_project, settle_jobs
from tests.app_fixtures import make_system, synthetic_text, wait_for_jobs


def upload(client, headers, system_id, text: str, **params):
    return client.post(f"/api/v1/systems/{system_id}/datasets", files={"file": ("a.log", text, "text/plain")},
                       headers=headers, params={"ingest": "false", **params})


def test_systems(client, session):
    _, admin = token_user(session, "admin")
    _, labeler = token_user(session, "labeler")
    system = make_system(client, admin, window_size=20, window_stride=5)
    assert system["window_stride"] == 5 and system["created_at"]
    assert [s["id"] for s in client.get("/api/v1/systems", headers=labeler).json()] == [system["id"]]
    assert client.get(f"/api/v1/systems/{system['id']}", headers=labeler).json()["name"] == system["name"]
    assert client.get("/api/v1/systems/999999", headers=labeler).status_code == 404
    duplicate = client.post("/api/v1/systems", json={"name": system["name"], "log_format": "BGL"}, headers=admin)
    assert duplicate.status_code == 422 and "already exists" in duplicate.json()["detail"]
    no_content = client.post("/api/v1/systems", json={"name": "n", "log_format": "<Date> <Level>"}, headers=admin)
    assert no_content.status_code == 422 and "<Content>" in no_content.json()["detail"]
    zero = client.post("/api/v1/systems", json={"name": "z", "log_format": "BGL", "window_size": 0}, headers=admin)
    assert zero.status_code == 422 and zero.json()["detail"][0]["loc"][-1] == "window_size"
    edited = client.patch(f"/api/v1/systems/{system['id']}", json={"window_size": 30}, headers=admin)
    assert edited.status_code == 200 and edited.json()["window_size"] == 30
    bad = client.patch(f"/api/v1/systems/{system['id']}", json={"session_regex": "("}, headers=admin)
    assert bad.status_code == 422 and "session regex" in bad.json()["detail"]
    assert client.patch("/api/v1/systems/999999", json={"window_size": 3}, headers=admin).status_code == 404
    dataset_id = upload(client, admin, system["id"], synthetic_text(n_lines=30)).json()["dataset"]["id"]
    session.get(Dataset, dataset_id).status = "ready"
    session.commit()
    frozen = client.patch(f"/api/v1/systems/{system['id']}", json={"window_size": 10}, headers=admin)
    assert frozen.status_code == 409 and "already has ingested data" in frozen.json()["detail"]


def test_preview_pasted_lines(client, session):
    _, admin = token_user(session, "admin")
    lines = synthetic_text(n_lines=5).splitlines() + ["garbage"]
    preview = client.post("/api/v1/systems/preview", json={"log_format": "synthetic-a", "label_rule": "first_token",
                                                           "lines": lines}, headers=admin)
    assert preview.status_code == 200
    body = preview.json()
    assert body["records"] == 5 and body["malformed"][0]["line_no"] == 6 and body["templates"]
    bad = client.post("/api/v1/systems/preview", json={"log_format": "nope", "lines": ["x"]}, headers=admin)
    assert bad.status_code == 422 and "unknown log format" in bad.json()["detail"]


def test_upload_and_datasets(client, session):
    _, admin = token_user(session, "admin")
    system = make_system(client, admin)
    created = upload(client, admin, system["id"], synthetic_text(n_lines=40))
    assert created.status_code == 201 and created.json()["job"] is None
    dataset = created.json()["dataset"]
    assert dataset["status"] == "uploaded" and dataset["line_count"] == 40
    assert upload(client, admin, 999999, "x\n").status_code == 404
    broken = upload(client, admin, system["id"], "not a synthetic-a line\n")
    assert broken.status_code == 422 and broken.json()["detail"]["line_no"] == 1
    assert [d["id"] for d in client.get("/api/v1/datasets", params={"system_id": system["id"]},
                                        headers=admin).json()] == [dataset["id"]]
    assert client.get(f"/api/v1/datasets/{dataset['id']}", headers=admin).json()["original_name"] == "a.log"
    assert client.get("/api/v1/datasets/999999", headers=admin).status_code == 404
    preview = client.get(f"/api/v1/datasets/{dataset['id']}/preview", params={"lines": 5}, headers=admin)
    assert preview.status_code == 200 and preview.json()["records"] == 5
    bad_rule = client.get(f"/api/v1/datasets/{dataset['id']}/preview", params={"label_rule": "magic"}, headers=admin)
    assert bad_rule.status_code == 422
    job = client.post(f"/api/v1/datasets/{dataset['id']}/ingest", headers=admin)
    assert job.status_code == 202 and job.json()["kind"] == "ingest"
    [done] = wait_for_jobs()
    assert done.status == "succeeded", done.error
    again = client.post(f"/api/v1/datasets/{dataset['id']}/ingest", headers=admin)
    assert again.status_code == 409 and "ready" in again.json()["detail"]
    assert client.post("/api/v1/datasets/999999/ingest", headers=admin).status_code == 404
    session.get(Dataset, dataset["id"]).stored_name = None
    session.commit()
    gone = client.get(f"/api/v1/datasets/{dataset['id']}/preview", headers=admin)
    assert gone.status_code == 409


def test_append_lines_is_admin_only(client, session):
    _, admin = token_user(session, "admin")
    _, service = token_user(session, "service")
    system = make_system(client, admin, log_format="synthetic-b-nolabel", label_rule=None)
    lines = synthetic_text("synthetic-b", n_lines=10, label_token=False).splitlines()
    url = f"/api/v1/systems/{system['id']}/lines"
    assert client.post(url, json={"lines": lines}, headers=service).status_code == 403
    appended = client.post(url, json={"lines": lines}, headers=admin)
    assert appended.status_code == 202 and appended.json()["dataset"]["role"] == "target"
    assert [j.status for j in wait_for_jobs()] == ["succeeded"]
    bad = client.post(url, json={"lines": ["a", 1]}, headers=admin)
    assert bad.status_code == 422 and "lines" in bad.json()["detail"]


def test_projects_and_jobs(client, session):
    _, admin = token_user(session, "admin")
    _, labeler = token_user(session, "labeler")
    source = make_system(client, admin)
    target = make_system(client, admin, log_format="synthetic-b-nolabel", label_rule=None)
    body = {"name": "p1", "target_system_id": target["id"], "source_system_ids": [source["id"]]}
    created = client.post("/api/v1/projects", json=body, headers=admin)
    assert created.status_code == 201 and created.json()["serving"] is None
    project_id = created.json()["id"]
    assert client.post("/api/v1/projects", json=body, headers=admin).status_code == 422  # same name
    same = client.post("/api/v1/projects", json={**body, "name": "p2", "source_system_ids": [target["id"]]},
                       headers=admin)
    assert same.status_code == 422 and "cannot also be a source" in same.json()["detail"]
    missing = client.post("/api/v1/projects", json={**body, "name": "p3", "target_system_id": 999999}, headers=admin)
    assert missing.status_code == 422
    assert client.post("/api/v1/projects", json={"name": "p4"}, headers=admin).status_code == 422
    assert [p["id"] for p in client.get("/api/v1/projects", headers=labeler).json()] == [project_id]
    assert client.get(f"/api/v1/projects/{project_id}", headers=labeler).json()["name"] == "p1"
    assert client.get("/api/v1/projects/999999", headers=labeler).status_code == 404
    not_ready = client.post(f"/api/v1/projects/{project_id}/train", headers=admin)
    assert not_ready.status_code == 409 and "no ingested data" in not_ready.json()["detail"]
    assert client.post("/api/v1/projects/999999/train", headers=admin).status_code == 404
    no_model = client.post(f"/api/v1/projects/{project_id}/retrain", headers=admin)
    assert no_model.status_code == 409 and "no trained model" in no_model.json()["detail"]
    assert client.post("/api/v1/projects/999999/retrain", headers=admin).status_code == 404
    fake, _, _ = fake_project(session, queued=0)
    session.commit()
    retrain = client.post(f"/api/v1/projects/{fake.id}/retrain", headers=admin)
    assert retrain.status_code == 202 and retrain.json()["kind"] == "retrain"
    settle_jobs(session)  # the fake project has no real model to fine-tune
    jobs = client.get("/api/v1/jobs", params={"project_id": fake.id}, headers=labeler).json()
    assert [j["id"] for j in jobs] == [retrain.json()["id"]]
    assert client.get(f"/api/v1/jobs/{jobs[0]['id']}", headers=labeler).json()["kind"] == "retrain"
    assert client.get("/api/v1/jobs/999999", headers=labeler).status_code == 404
    assert len(client.get("/api/v1/jobs", params={"limit": 1}, headers=labeler).json()) == 1
    assert session.get(Job, jobs[0]["id"]) is not None
