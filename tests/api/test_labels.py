"""Labels over HTTP: answering (idempotent, own labels only), listing, export, correcting, history."""

from __future__ import annotations

import csv
import io
import json

from app.db.models import Window
from tests.api.conftest import token_user
from tests.api.test_queue import add_lines
from tests.app.factories import fake_project, settle_jobs


def labels_url(project) -> str:
    return f"/api/v1/projects/{project.id}/labels"


def test_answer_retry_and_change(client, session):
    project, _, items = fake_project(session, queued=3)
    lines = add_lines(session, session.get(Window, items[0].window_id))
    session.commit()
    alice_user, alice = token_user(session, "labeler")
    body = {"window_id": items[0].window_id, "value": "anomaly", "reason": "burst", "line_ids": [lines[2].id]}
    first = client.post(labels_url(project), json=body, headers={**alice, "Idempotency-Key": "k1"})
    assert first.status_code == 201, first.text
    label = first.json()
    assert label["value"] == "anomaly" and label["line_nos"] == [3] and label["user_id"] == alice_user.id
    assert label["user_email"] == alice_user.email and label["round"] == 1
    retry = client.post(labels_url(project), json={**body, "value": "normal"},
                        headers={**alice, "Idempotency-Key": "k1"})
    assert retry.status_code == 200 and retry.json()["id"] == label["id"] and retry.json()["value"] == "anomaly"
    changed = client.post(labels_url(project), json={"window_id": items[0].window_id, "value": "normal"}, headers=alice)
    assert changed.status_code == 200 and changed.json()["value"] == "normal"
    settle_jobs(session)


def test_label_errors(client, session):
    project, _, items = fake_project(session, queued=2)
    other, _, other_items = fake_project(session, queued=1)
    session.commit()
    _, alice = token_user(session, "labeler")
    _, bob = token_user(session, "labeler")
    _, admin = token_user(session, "admin")
    bad_value = client.post(labels_url(project), json={"window_id": items[0].window_id, "value": "weird"},
                            headers=alice)
    assert bad_value.status_code == 422 and bad_value.json()["detail"][0]["loc"][-1] == "value"
    foreign = client.post(labels_url(project), json={"window_id": other_items[0].window_id, "value": "normal"},
                          headers=alice)
    assert foreign.status_code == 422 and "not a window of this project" in foreign.json()["detail"]
    bad_line = client.post(labels_url(project), json={"window_id": items[0].window_id, "value": "anomaly",
                                                      "line_ids": [123456789]}, headers=alice)
    assert bad_line.status_code == 422 and "not lines of window" in bad_line.json()["detail"]
    assert client.post("/api/v1/projects/999999/labels", json={"window_id": 1, "value": "normal"},
                       headers=alice).status_code == 404
    claimed = client.post(f"/api/v1/projects/{project.id}/queue/claim", headers=bob).json()
    conflict = client.post(labels_url(project), json={"window_id": claimed["window_id"], "value": "normal"},
                           headers=alice)
    assert conflict.status_code == 409 and "claimed by another operator" in conflict.json()["detail"]
    assert client.post(labels_url(project), json={"window_id": claimed["window_id"], "value": "normal"},
                       headers=bob).status_code == 201
    overwrite = client.post(labels_url(project), json={"window_id": claimed["window_id"], "value": "anomaly"},
                            headers=alice)
    assert overwrite.status_code == 403 and "another user" in overwrite.json()["detail"]
    assert client.post(labels_url(project), json={"window_id": claimed["window_id"], "value": "anomaly"},
                       headers=admin).status_code == 200
    settle_jobs(session)


def test_list_filters_and_pages(client, session):
    project, _, items = fake_project(session, queued=4)
    session.commit()
    alice_user, alice = token_user(session, "labeler")
    _, bob = token_user(session, "labeler")
    for item, (who, value) in zip(items, [(alice, "normal"), (alice, "anomaly"), (bob, "normal"), (bob, "skip")]):
        assert client.post(labels_url(project), json={"window_id": item.window_id, "value": value},
                           headers=who).status_code == 201
    page = client.get(labels_url(project), headers=alice).json()
    assert page["total"] == 4 and [x["window_id"] for x in page["items"]] == [i.window_id for i in reversed(items)]
    mine = client.get(labels_url(project), params={"user_id": alice_user.id}, headers=alice).json()
    assert mine["total"] == 2 and {x["user_email"] for x in mine["items"]} == {alice_user.email}
    normal = client.get(labels_url(project), params={"value": "normal", "round": 1}, headers=alice).json()
    assert normal["total"] == 2
    paged = client.get(labels_url(project), params={"limit": 1, "offset": 1}, headers=alice).json()
    assert paged["total"] == 4 and len(paged["items"]) == 1 and paged["items"][0]["window_id"] == items[2].window_id
    assert client.get(labels_url(project), params={"value": "maybe"}, headers=alice).status_code == 422
    assert client.get(labels_url(project), params={"limit": 0}, headers=alice).status_code == 422
    assert client.get("/api/v1/projects/999999/labels", headers=alice).status_code == 404
    settle_jobs(session)


def test_export_csv_and_jsonl(client, session):
    project, _, items = fake_project(session, queued=2)
    session.commit()
    user, alice = token_user(session, "labeler")
    client.post(labels_url(project), json={"window_id": items[0].window_id, "value": "anomaly", "reason": 'a, "b"'},
                headers=alice)
    client.post(labels_url(project), json={"window_id": items[1].window_id, "value": "normal"}, headers=alice)
    as_csv = client.get(f"{labels_url(project)}/export", headers=alice)
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["window_id"], r["value"], r["reason"]) for r in rows] == [
        (str(items[0].window_id), "anomaly", 'a, "b"'), (str(items[1].window_id), "normal", "")]
    assert rows[0]["user_email"] == user.email and rows[0]["first_line_no"] == "1" and "label" not in rows[0]
    as_jsonl = client.get(f"{labels_url(project)}/export", params={"format": "jsonl"}, headers=alice)
    records = [json.loads(line) for line in as_jsonl.text.splitlines()]
    assert as_jsonl.headers["content-type"] == "application/x-ndjson"
    assert [r["value"] for r in records] == ["anomaly", "normal"] and records[0]["last_line_no"] == 10
    assert client.get(f"{labels_url(project)}/export", params={"format": "xml"}, headers=alice).status_code == 422
    assert client.get("/api/v1/projects/999999/labels/export", headers=alice).status_code == 404
    settle_jobs(session)


def test_patch_keeps_the_author_and_the_history(client, session):
    project, _, items = fake_project(session, queued=1)
    add_lines(session, session.get(Window, items[0].window_id))
    session.commit()
    alice_user, alice = token_user(session, "labeler")
    bob_user, bob = token_user(session, "labeler")
    admin_user, admin = token_user(session, "admin")
    label = client.post(labels_url(project), json={"window_id": items[0].window_id, "value": "anomaly",
                                                   "reason": "odd"}, headers=alice).json()
    url = f"{labels_url(project)}/{label['id']}"
    assert client.patch(url, json={"value": "normal"}, headers=bob).status_code == 403
    own = client.patch(url, json={"value": "normal", "line_nos": [2, 4]}, headers=alice)
    assert own.status_code == 200 and own.json()["value"] == "normal" and own.json()["line_nos"] == [2, 4]
    by_admin = client.patch(url, json={"reason": "planned restart"}, headers=admin)
    assert by_admin.status_code == 200 and by_admin.json()["user_id"] == alice_user.id
    assert client.patch(url, json={"value": "bogus"}, headers=alice).status_code == 422
    outside = client.patch(url, json={"line_nos": [99]}, headers=alice)
    assert outside.status_code == 422 and "not lines of window" in outside.json()["detail"]
    assert client.patch(f"{labels_url(project)}/999999", json={"value": "normal"}, headers=alice).status_code == 404
    history = client.get(f"{url}/history", headers=bob)
    assert history.status_code == 200
    rows = history.json()
    assert [(r["action"], r["old_value"], r["new_value"], r["changed_by"]) for r in rows] == [
        ("create", None, "anomaly", alice_user.id), ("update", "anomaly", "normal", alice_user.id),
        ("update", "normal", "normal", admin_user.id)]
    assert rows[2]["old_reason"] == "odd" and rows[1]["old_line_nos"] == []
    assert client.get(f"{labels_url(project)}/999999/history", headers=bob).status_code == 404
    other, _, _ = fake_project(session, queued=0)
    session.commit()
    assert client.get(f"/api/v1/projects/{other.id}/labels/{label['id']}/history", headers=bob).status_code == 404
    settle_jobs(session)
