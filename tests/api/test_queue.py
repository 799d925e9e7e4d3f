"""The labeling queue over HTTP: round progress, claiming (with the window's raw lines), releasing."""

from __future__ import annotations

from app.db.models import LogLine
from tests.api.conftest import token_user
from tests.app.factories import fake_project


def add_lines(session, window) -> list[LogLine]:
    lines = [LogLine(dataset_id=window.dataset_id, system_id=window.system_id, line_no=n, raw=f"raw line {n}",
                     content=f"line {n}") for n in range(window.first_line_no, window.last_line_no + 1)]
    session.add_all(lines)
    session.flush()
    return lines


def test_claim_gives_the_next_window_with_its_lines(client, session):
    project, model, items = fake_project(session, queued=2)
    from app.db.models import Window

    add_lines(session, session.get(Window, items[0].window_id))
    session.commit()
    _, alice = token_user(session, "labeler")
    _, bob = token_user(session, "labeler")
    status = client.get(f"/api/v1/projects/{project.id}/queue", headers=alice).json()
    assert status == {"round": 1, "size": 2, "done": 0, "open": 2, "claimed": 0, "complete": False}
    first = client.post(f"/api/v1/projects/{project.id}/queue/claim", headers=alice)
    assert first.status_code == 200
    body = first.json()
    assert body["item_id"] == items[0].id and body["window_id"] == items[0].window_id and body["round"] == 1
    assert body["pool_size"] == 40 and body["claim_expires_at"]
    assert [line["line_no"] for line in body["lines"]] == list(range(1, 11))
    assert body["lines"][0]["raw"] == "raw line 1" and "label" not in body["lines"][0]
    again = client.post(f"/api/v1/projects/{project.id}/queue/claim", headers=alice).json()
    assert again["item_id"] == items[0].id  # the window you hold, not a second one
    other = client.post(f"/api/v1/projects/{project.id}/queue/claim", headers=bob).json()
    assert other["item_id"] == items[1].id
    assert client.post(f"/api/v1/projects/{project.id}/queue/claim", headers=_third(session)).status_code == 204
    status = client.get(f"/api/v1/projects/{project.id}/queue", headers=alice).json()
    assert status["claimed"] == 2 and status["open"] == 0


def _third(session) -> dict:
    return token_user(session, "admin")[1]


def test_release_gives_the_window_back(client, session):
    project, _, items = fake_project(session, queued=1)
    session.commit()
    _, alice = token_user(session, "labeler")
    _, bob = token_user(session, "labeler")
    item_id = client.post(f"/api/v1/projects/{project.id}/queue/claim", headers=alice).json()["item_id"]
    not_held = client.post(f"/api/v1/projects/{project.id}/queue/{item_id}/release", headers=bob)
    assert not_held.status_code == 409 and "do not hold" in not_held.json()["detail"]
    assert client.post(f"/api/v1/projects/{project.id}/queue/{item_id}/release", headers=alice).status_code == 204
    assert client.post(f"/api/v1/projects/{project.id}/queue/claim", headers=bob).json()["item_id"] == item_id
    assert client.post(f"/api/v1/projects/{project.id}/queue/{item_id}/release", headers=alice).status_code == 409


def test_unknown_project_or_item_is_404(client, session):
    project, _, _ = fake_project(session, queued=1)
    other, _, other_items = fake_project(session, queued=1)
    session.commit()
    _, alice = token_user(session, "labeler")
    assert client.get("/api/v1/projects/999999/queue", headers=alice).status_code == 404
    assert client.post("/api/v1/projects/999999/queue/claim", headers=alice).status_code == 404
    wrong = client.post(f"/api/v1/projects/{project.id}/queue/{other_items[0].id}/release", headers=alice)
    assert wrong.status_code == 404 and "does not exist in project" in wrong.json()["detail"]
