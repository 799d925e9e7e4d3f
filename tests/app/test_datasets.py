"""Uploads, preview and ingestion: happy path, broken lines, size limits, hostile names."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db.models import Dataset, LogLine, Template, Window
from app.settings import get_settings
from tests.app_fixtures import make_system, make_user, synthetic_text, wait_for_jobs


def stored_files() -> set[str]:
    folder = get_settings().uploads_path
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def count(session, model) -> int:
    session.rollback()
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def upload(client, headers, system_id, data: bytes | str, name="app.log", **params):
    files = {"file": (name, data, "text/plain")}
    return client.post(f"/api/v1/systems/{system_id}/datasets", files=files, headers=headers, params=params)


def test_upload_ingests_lines_templates_and_windows(client, admin, session):
    system = make_system(client, admin)
    response = upload(client, admin, system["id"], synthetic_text(n_lines=400))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["dataset"]["line_count"] == 400 and body["job"]["kind"] == "ingest"
    [job] = wait_for_jobs()
    assert job.status == "succeeded", job.error
    dataset = client.get(f"/api/v1/datasets/{body['dataset']['id']}", headers=admin).json()
    assert dataset["status"] == "ready"
    assert dataset["window_count"] == 40 and dataset["template_count"] > 0
    assert count(session, LogLine) == 400 and count(session, Window) == 40
    assert session.scalar(select(func.count()).where(Template.embedding.is_not(None))) == dataset["template_count"]
    assert dataset["anomalous_lines"] > 0


def test_raw_body_upload(client, admin):
    system = make_system(client, admin)
    response = client.post(f"/api/v1/systems/{system['id']}/datasets", content=synthetic_text(n_lines=50),
                           headers={**admin, "content-type": "application/octet-stream"},
                           params={"filename": "raw.log", "ingest": "false"})
    assert response.status_code == 201, response.text
    assert response.json()["dataset"]["original_name"] == "raw.log" and response.json()["job"] is None


def test_broken_line_is_refused_with_its_number_and_nothing_is_kept(client, admin, session):
    system = make_system(client, admin)
    lines = synthetic_text(n_lines=100).splitlines()
    lines[36] = "this line does not match the format"
    before = stored_files()
    response = upload(client, admin, system["id"], "\n".join(lines) + "\n")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["line_no"] == 37 and "line 37" in detail["message"]
    assert count(session, Dataset) == 0 and count(session, LogLine) == 0
    assert stored_files() == before


def test_failed_ingest_job_names_the_line_and_leaves_no_rows(client, admin, session):
    """A file that changes between upload and ingest: the job fails atomically and says where."""
    from app.services.uploads import resolve_stored

    system = make_system(client, admin)
    good = upload(client, admin, system["id"], synthetic_text(n_lines=300), ingest="false").json()["dataset"]
    path = resolve_stored(get_settings().uploads_path, session.get(Dataset, good["id"]).stored_name)
    with open(path, "a") as handle:
        handle.write("garbage that no format reads\n")
    assert client.post(f"/api/v1/datasets/{good['id']}/ingest", headers=admin).status_code == 202
    [job] = wait_for_jobs()
    assert job.status == "failed" and "line 301" in job.error
    dataset = client.get(f"/api/v1/datasets/{good['id']}", headers=admin).json()
    assert dataset["status"] == "failed" and dataset["error_line"] == 301
    assert count(session, LogLine) == 0 and count(session, Window) == 0 and count(session, Template) == 0
    assert not path.exists()


def test_oversized_upload_gets_413_and_leaves_no_file(client, admin, monkeypatch):
    system = make_system(client, admin)
    monkeypatch.setattr(get_settings(), "upload_limit_bytes", 1000)
    before = stored_files()
    response = upload(client, admin, system["id"], synthetic_text(n_lines=100))
    assert response.status_code == 413 and "1000 bytes" in response.json()["detail"]
    assert stored_files() == before


def test_chunked_upload_without_length_is_cut_at_the_limit(client, admin, monkeypatch):
    system = make_system(client, admin)
    monkeypatch.setattr(get_settings(), "upload_limit_bytes", 4096)
    data = synthetic_text(n_lines=200).encode()

    def chunks():
        for start in range(0, len(data), 1000):
            yield data[start:start + 1000]

    response = client.post(f"/api/v1/systems/{system['id']}/datasets", content=chunks(),
                           headers={**admin, "content-type": "application/octet-stream"})
    assert response.status_code == 413


def test_limit_plus_one_byte_is_refused_and_limit_is_accepted(client, admin, monkeypatch):
    system = make_system(client, admin)
    data = synthetic_text(n_lines=20).encode()
    monkeypatch.setattr(get_settings(), "upload_limit_bytes", len(data))
    ok = client.post(f"/api/v1/systems/{system['id']}/datasets", content=data, params={"ingest": "false"},
                     headers={**admin, "content-type": "application/octet-stream"})
    assert ok.status_code == 201
    over = client.post(f"/api/v1/systems/{system['id']}/datasets", content=data + b"x",
                       headers={**admin, "content-type": "application/octet-stream"})
    assert over.status_code == 413


@pytest.mark.parametrize("name", ["../x.log", "..%2fx.log", "/etc/passwd", "..\\..\\x.log", "uploads-evil/x.log"])
def test_hostile_file_names_are_only_display_names(client, admin, session, name):
    system = make_system(client, admin)
    response = upload(client, admin, system["id"], synthetic_text(n_lines=20), name=name, ingest="false")
    assert response.status_code == 201, response.text
    dataset = session.get(Dataset, response.json()["dataset"]["id"])
    assert "/" not in dataset.original_name and "\\" not in dataset.original_name
    assert not dataset.original_name.startswith(".")
    folder = get_settings().uploads_path.resolve()
    assert (folder / dataset.stored_name).resolve().parent == folder
    assert len(dataset.stored_name) == 32


def test_stored_names_outside_the_folder_are_refused():
    from app.services.uploads import UploadInvalid, resolve_stored

    folder = get_settings().uploads_path
    for bad in ("../x", "/etc/passwd", "a" * 31 + "/", "0" * 32 + "/../x"):
        with pytest.raises(UploadInvalid):
            resolve_stored(folder, bad)


def test_preview_shows_fields_templates_labels_and_malformed_lines(client, admin):
    system = make_system(client, admin)
    lines = synthetic_text(n_lines=60).splitlines()
    lines[4] = "not a log line"
    response = client.post("/api/v1/systems/preview", headers=admin,
                           json={"log_format": "synthetic-a", "label_rule": "first_token", "lines": lines})
    assert response.status_code == 200
    body = response.json()
    assert body["malformed"][0]["line_no"] == 5
    assert body["records"] == 59 and body["templates"] and body["parsed"][0]["content"]
    assert sum(body["label_counts"].values()) == 59
    uploaded = upload(client, admin, system["id"], synthetic_text(n_lines=80), ingest="false").json()["dataset"]
    preview = client.get(f"/api/v1/datasets/{uploaded['id']}/preview", headers=admin).json()
    assert preview["records"] == 50 and preview["malformed"] == []
    other = client.get(f"/api/v1/datasets/{uploaded['id']}/preview", headers=admin,
                       params={"log_format": "<Date> <Time> <Level> <Component>: <Content>"})
    assert other.status_code == 422 and "label rule reads field 'Label'" in other.json()["detail"]
    unlabeled = client.get(f"/api/v1/datasets/{uploaded['id']}/preview", headers=admin,
                           params={"log_format": "Zookeeper", "label_rule": "none"}).json()
    assert len(unlabeled["malformed"]) > 0


def test_bad_format_or_label_rule_is_a_clear_422(client, admin):
    bad_format = client.post("/api/v1/systems", headers=admin, json={"name": "x", "log_format": "<Date> no content"})
    assert bad_format.status_code == 422 and isinstance(bad_format.json()["detail"], str)
    bad_rule = client.post("/api/v1/systems", headers=admin,
                           json={"name": "y", "log_format": "BGL", "label_rule": "magic"})
    assert bad_rule.status_code == 422 and "label rule" in bad_rule.json()["detail"]


def test_append_lines_as_json_and_text(client, session):
    _, admin = make_user(session, "admin")
    _, service = make_user(session, "service")
    system = make_system(client, admin, log_format="synthetic-b-nolabel", label_rule=None)
    lines = synthetic_text("synthetic-b", n_lines=40, label_token=False).splitlines()
    as_json = client.post(f"/api/v1/systems/{system['id']}/lines", json={"lines": lines[:20]}, headers=admin)
    assert as_json.status_code == 202, as_json.text
    as_text = client.post(f"/api/v1/systems/{system['id']}/lines", content="\n".join(lines[20:]),
                          headers={**admin, "content-type": "text/plain"})
    assert as_text.status_code == 202
    jobs = wait_for_jobs()
    assert [j.status for j in jobs] == ["succeeded", "succeeded"]
    assert count(session, LogLine) == 40
    bad = client.post(f"/api/v1/systems/{system['id']}/lines", json={"lines": "nope"}, headers=admin)
    assert bad.status_code == 422 and "lines" in bad.json()["detail"]
    # A service token only scores: appending lines is an admin's job.
    refused = client.post(f"/api/v1/systems/{system['id']}/lines", json={"lines": lines[:2]}, headers=service)
    assert refused.status_code == 403


def test_labeler_cannot_upload(client, session):
    _, admin = make_user(session, "admin")
    _, labeler = make_user(session, "labeler")
    system = make_system(client, admin)
    assert upload(client, labeler, system["id"], "x\n").status_code == 403
    assert client.post("/api/v1/systems", json={"name": "z", "log_format": "BGL"}).status_code == 401
