"""The labeling pages through HTTP: the queue (claim, answer + next window in one request, undo, failures),
evidence from a real (tiny) model, the label history with its audit trail, and label-by-template."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.models import Dataset, Label, LabelAudit, LogLine, QueueItem, Template, User, Window, utcnow
from tests.app.factories import fake_project, settle_jobs

PASSWORD = "pw-123456"
LINE_TEXTS = {  # template text -> how a line of it reads (the numbers are its variable parts)
    "request <NUM> took <NUM> ms": "request {i} took {j} ms",
    "cache miss for key <*>": "cache miss for key k{i}",
    "disk <*> failed with error <NUM>": "disk sd{i} failed with error {j}",
}


# --- builders ------------------------------------------------------------------------------------------------

def add_lines(session, *, system_id: int, dataset_id: int, n_lines: int, pattern) -> list[Template]:
    """Templates and parsed log lines for a dataset; ``pattern(line_no)`` picks each line's template (0..2)."""
    tag = uuid.uuid4().hex[:6]
    templates = [Template(system_id=system_id, cluster_id=i + 1, text=text, text_hash=f"{tag}-{i}")
                 for i, text in enumerate(LINE_TEXTS)]
    session.add_all(templates)
    session.flush()
    formats = list(LINE_TEXTS.values())
    rows = []
    for n in range(1, n_lines + 1):
        t = pattern(n)
        content = formats[t].format(i=n, j=n * 7 % 1000)
        rows.append(LogLine(dataset_id=dataset_id, system_id=system_id, line_no=n, content=content,
                            raw=f"2026-03-01 12:00:{n % 60:02d} INFO svc - {content}",
                            template_id=templates[t].id, label=int(t == 2)))
    session.add_all(rows)
    session.flush()
    return templates


def set_events(session, windows: list[Window]) -> None:
    """Each window's events = the template ids of its lines, as ingest writes them."""
    for w in windows:
        w.events = list(session.scalars(select(LogLine.template_id).where(
            LogLine.dataset_id == w.dataset_id, LogLine.line_no.between(w.first_line_no, w.last_line_no))
            .order_by(LogLine.line_no)))
    session.flush()


def target_pattern(n: int) -> int:
    # Windows are lines 10i+1..10i+10: windows with i % 3 == 0 hold only templates 0 and 1, the others all three
    window = (n - 1) // 10
    return (n % 2) if window % 3 == 0 else n % 3


@pytest.fixture
def loop(session):
    project, model, items = fake_project(session, n_pool=40, n_test=10, queued=5)
    windows = list(session.scalars(select(Window).where(Window.system_id == project.target_system_id)
                                   .order_by(Window.seq)))
    add_lines(session, system_id=project.target_system_id, dataset_id=windows[0].dataset_id, n_lines=500,
              pattern=target_pattern)
    set_events(session, windows)
    session.commit()
    yield project, model, items
    settle_jobs(session)


def user(session, role: str) -> User:
    from app.services.users import create_user

    account = create_user(session, email=f"{role}-{uuid.uuid4().hex[:6]}@example.com", role=role, password=PASSWORD)
    session.commit()
    return account


def browser(app, account: User | None = None) -> TestClient:
    """A client with its own cookie jar, signed in through the login form when ``account`` is given."""
    client = TestClient(app, follow_redirects=False)
    if account is not None:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        response = client.post("/login", data={"email": account.email, "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 303, response.text
    return client


def csrf(page_html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page_html).group(1)


def form_of(page_html: str) -> dict:
    """The hidden fields of the answer form on a queue page or fragment."""
    fields = dict(re.findall(r'<input type="hidden" name="(window_id|key|mode)" value="([^"]*)"', page_html))
    fields["window_id"] = int(fields["window_id"])
    return fields


def line_ids(page_html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-line-id="(\d+)"', page_html)]


def hx(token: str) -> dict:
    return {"X-CSRF-Token": token, "HX-Request": "true"}


def labels(session, **where) -> list[Label]:
    session.expire_all()
    return list(session.scalars(select(Label).filter_by(**where).order_by(Label.id)))


# --- access --------------------------------------------------------------------------------------------------

def test_the_queue_page_sends_strangers_to_sign_in_and_refuses_service_accounts(app, session, loop):
    project, _, _ = loop
    response = browser(app).get(f"/projects/{project.id}/label")
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    service = user(session, "service")  # one with a password, so that it could sign in
    refused = browser(app, service).get(f"/projects/{project.id}/label")
    assert refused.status_code == 403 and "labeler or admin" in refused.text
    assert browser(app, service).get(f"/projects/{project.id}/labels").status_code == 403
    assert browser(app, user(session, "labeler")).get("/projects/999999/label").status_code == 404


def test_fragments_answer_401_to_a_lost_session(app, loop):
    project, _, _ = loop
    response = browser(app).get(f"/projects/{project.id}/label/next", headers={"HX-Request": "true"})
    assert response.status_code == 401 and "sign in" in response.json()["detail"]


# --- the queue page ------------------------------------------------------------------------------------------

def test_the_page_claims_a_window_and_shows_its_lines_context_highlights_and_scores(app, session, loop):
    project, _, items = loop
    operator = user(session, "labeler")
    page = browser(app, operator).get(f"/projects/{project.id}/label")
    assert page.status_code == 200
    first = items[0]
    assert form_of(page.text)["window_id"] == first.window_id
    session.expire_all()
    claimed = session.get(QueueItem, first.id)
    assert claimed.state == "claimed" and claimed.claimed_by == operator.id
    window = session.get(Window, first.window_id)
    for n in range(window.first_line_no, window.last_line_no + 1):
        assert f'<span class="no">{n}</span>' in page.text
    assert page.text.count('class="ln"') == 10  # the window's own lines are markable ...
    assert page.text.count('<li class="ctx">') == 3  # ... context is not (the first window has none before it)
    assert '<mark class="var">' in page.text and "t.log" in page.text
    assert f"rank {first.free_energy_rank} / {first.pool_size}" in page.text
    assert "Window " + str(first.window_id) in page.text


def test_an_answer_is_stored_with_its_lines_and_the_next_window_comes_back(app, session, loop):
    project, _, items = loop
    operator = user(session, "labeler")
    client = browser(app, operator)
    page = client.get(f"/projects/{project.id}/label")
    fields, ids = form_of(page.text), line_ids(page.text)
    response = client.post(f"/projects/{project.id}/label/submit", headers=hx(csrf(page.text)),
                           data={**fields, "value": "anomaly", "line_ids": ids[2:4]})
    assert response.status_code == 200, response.text
    assert "Server-Timing" in response.headers
    assert form_of(response.text)["window_id"] == items[1].window_id
    assert f"Saved window {items[0].window_id} as Anomaly" in response.text
    [label] = labels(session, project_id=project.id)
    window = session.get(Window, items[0].window_id)
    assert (label.window_id, label.value, label.user_id) == (window.id, "anomaly", operator.id)
    assert label.line_nos == [window.first_line_no + 2, window.first_line_no + 3]
    assert session.get(QueueItem, items[0].id).state == "done"


def test_a_double_submit_stores_one_label_and_both_answers_show_the_same_next_window(app, session, loop):
    project, _, items = loop
    client = browser(app, user(session, "labeler"))
    page = client.get(f"/projects/{project.id}/label")
    data = {**form_of(page.text), "value": "normal"}
    first = client.post(f"/projects/{project.id}/label/submit", headers=hx(csrf(page.text)), data=data)
    again = client.post(f"/projects/{project.id}/label/submit", headers=hx(csrf(page.text)), data=data)
    assert first.status_code == again.status_code == 200
    assert form_of(first.text)["window_id"] == form_of(again.text)["window_id"] == items[1].window_id
    assert len(labels(session, project_id=project.id)) == 1


def test_without_the_csrf_token_nothing_is_stored(app, session, loop):
    project, _, _ = loop
    client = browser(app, user(session, "labeler"))
    page = client.get(f"/projects/{project.id}/label")
    data = {**form_of(page.text), "value": "normal"}
    for headers in ({"HX-Request": "true"}, {"HX-Request": "true", "X-CSRF-Token": "forged"}):
        response = client.post(f"/projects/{project.id}/label/submit", headers=headers, data=data)
        assert response.status_code == 403
    assert labels(session, project_id=project.id) == []


def test_failed_saves_answer_4xx_with_a_message_and_keep_the_window_claimed(app, session, loop):
    project, _, items = loop
    client = browser(app, user(session, "labeler"))
    page = client.get(f"/projects/{project.id}/label")
    fields, token = form_of(page.text), csrf(page.text)
    unsure = client.post(f"/projects/{project.id}/label/submit", headers=hx(token),
                         data={**fields, "value": "unsure", "reason": "  "})
    assert unsure.status_code == 422 and "why you are unsure" in unsure.text
    other = session.scalar(select(LogLine.id).where(LogLine.line_no == 499))  # a line of another window
    foreign = client.post(f"/projects/{project.id}/label/submit", headers=hx(token),
                          data={**fields, "value": "anomaly", "line_ids": [other]})
    assert foreign.status_code == 422 and "are not lines of window" in foreign.text
    bad = client.post(f"/projects/{project.id}/label/submit", headers=hx(token), data={**fields, "value": "maybe"})
    assert bad.status_code == 422 and "label must be one of" in bad.text
    assert labels(session, project_id=project.id) == []
    session.expire_all()
    assert session.get(QueueItem, items[0].id).state == "claimed"
    ok = client.post(f"/projects/{project.id}/label/submit", headers=hx(token),
                     data={**fields, "value": "unsure", "reason": "retries could be load"})
    assert ok.status_code == 200
    assert [(l.value, l.reason) for l in labels(session, project_id=project.id)] == [
        ("unsure", "retries could be load")]


def test_a_window_taken_over_by_another_operator_is_not_labeled_and_the_next_one_shows(app, session, loop):
    project, _, items = loop
    alice, bob = user(session, "labeler"), user(session, "labeler")
    client = browser(app, alice)
    page = client.get(f"/projects/{project.id}/label")
    item = session.get(QueueItem, items[0].id)
    # Alice's lease ran out and Bob claimed the window meanwhile.
    item.claimed_by, item.claim_expires_at = bob.id, utcnow() + timedelta(minutes=5)
    session.commit()
    response = client.post(f"/projects/{project.id}/label/submit", headers=hx(csrf(page.text)),
                           data={**form_of(page.text), "value": "normal"})
    assert response.status_code == 200
    assert "claimed by another operator" in response.text and 'role="alert"' in response.text
    assert form_of(response.text)["window_id"] == items[1].window_id
    assert labels(session, project_id=project.id) == []


def test_without_htmx_an_answer_redirects_to_the_queue(app, session, loop):
    project, _, _ = loop
    client = browser(app, user(session, "labeler"))
    page = client.get(f"/projects/{project.id}/label")
    response = client.post(f"/projects/{project.id}/label/submit",
                           data={**form_of(page.text), "value": "skip", "csrf_token": csrf(page.text)})
    assert response.status_code == 303 and response.headers["location"] == f"/projects/{project.id}/label"
    assert [l.value for l in labels(session, project_id=project.id)] == ["skip"]


def test_back_walks_through_earlier_answers_and_a_relabel_keeps_the_audit_trail(app, session, loop):
    project, _, items = loop
    operator = user(session, "labeler")
    client = browser(app, operator)
    page = client.get(f"/projects/{project.id}/label")
    token = csrf(page.text)
    for value in ("normal", "anomaly"):
        page = client.post(f"/projects/{project.id}/label/submit", headers=hx(token),
                           data={**form_of(page.text), "value": value})
    first, second = labels(session, project_id=project.id)
    back = client.get(f"/projects/{project.id}/label/back", headers={"HX-Request": "true"})
    assert f"Re-labeling window {second.window_id}" in back.text
    assert form_of(back.text) | {"key": ""} == {"window_id": second.window_id, "key": "", "mode": "relabel"}
    further = client.get(f"/projects/{project.id}/label/back?before={second.id}", headers={"HX-Request": "true"})
    assert f"Re-labeling window {first.window_id}" in further.text
    oldest = client.get(f"/projects/{project.id}/label/back?before={first.id}", headers={"HX-Request": "true"})
    assert "there is none before it" in oldest.text and f"Re-labeling window {first.window_id}" in oldest.text
    changed = client.post(f"/projects/{project.id}/label/submit", headers=hx(token),
                          data={**form_of(further.text), "value": "anomaly"})
    assert changed.status_code == 200 and "(was Normal)" in changed.text
    assert form_of(changed.text)["window_id"] == items[2].window_id  # back to the window still held
    assert [l.value for l in labels(session, project_id=project.id)] == ["anomaly", "anomaly"]
    audit = session.scalars(select(LabelAudit).where(LabelAudit.label_id == first.id).order_by(LabelAudit.id)).all()
    assert [(a.action, a.old_value, a.new_value) for a in audit] == [("create", None, "normal"),
                                                                      ("update", "normal", "anomaly")]


def test_an_operator_cannot_relabel_someone_elses_window(app, session, loop):
    project, _, items = loop
    alice, bob = user(session, "labeler"), user(session, "labeler")
    alice_client = browser(app, alice)
    page = alice_client.get(f"/projects/{project.id}/label")
    alice_client.post(f"/projects/{project.id}/label/submit", headers=hx(csrf(page.text)),
                      data={**form_of(page.text), "value": "normal"})
    bob_client = browser(app, bob)
    bob_page = bob_client.get(f"/projects/{project.id}/label")
    response = bob_client.post(f"/projects/{project.id}/label/submit", headers=hx(csrf(bob_page.text)),
                               data={"window_id": items[0].window_id, "key": "k", "mode": "relabel",
                                     "value": "anomaly"})
    assert response.status_code == 403
    assert [l.value for l in labels(session, project_id=project.id)] == ["normal"]


def test_an_empty_queue_says_so_and_polls_for_the_next_round(app, session, loop):
    project, _, items = loop
    for item in items:
        item.state = "done"
    session.commit()
    page = browser(app, user(session, "labeler")).get(f"/projects/{project.id}/label")
    assert "Nothing to label right now" in page.text and 'hx-trigger="every 3s"' in page.text


# --- evidence -----------------------------------------------------------------------------------------------

def _with_tiny_model(session, project, model) -> list[Window]:
    """Train a real (tiny) model on a labeled source system and make it the serving version's artifact."""
    import hashlib

    from ml.artifacts import bundle_to_bytes
    from ml.model import ModelConfig
    from ml.training import TrainConfig, train_base

    from app.db.models import Artifact

    source = project.sources[0]
    dataset = Dataset(system_id=source.id, role="source", original_name="s.log", status="ready")
    session.add(dataset)
    session.flush()
    templates = add_lines(session, system_id=source.id, dataset_id=dataset.id, n_lines=200,
                          pattern=lambda n: 2 if (n - 1) // 10 % 4 == 0 and n % 5 == 0 else n % 2)
    windows = [Window(system_id=source.id, dataset_id=dataset.id, seq=i, first_line_no=10 * i + 1,
                      last_line_no=10 * i + 10, label=int(i % 4 == 0), events=[]) for i in range(20)]
    session.add_all(windows)
    session.flush()
    set_events(session, windows)
    target_templates = session.scalars(select(Template.id).where(
        Template.system_id == project.target_system_id).order_by(Template.id)).all()
    template_ids = [0] + [t.id for t in templates] + list(target_templates)
    row = {tid: r for r, tid in enumerate(template_ids)}
    table = np.random.default_rng(0).normal(size=(len(template_ids), 8)).astype(np.float32)
    table[0] = 0
    events = np.array([[row[e] for e in w.events] for w in windows], np.int64)
    bundle = train_base(table, events, np.array([w.label for w in windows], np.int8), None,
                        ModelConfig(hidden=8, layers=1, vector_dim=8, clf_hidden=8),
                        TrainConfig(epochs=1, min_steps=3, batch_size=8, device="cpu"))
    bundle.meta["template_ids"] = template_ids
    blob = bundle_to_bytes(bundle)
    artifact = Artifact(kind="model", sha256=hashlib.sha256(blob).hexdigest(), size_bytes=len(blob), data=blob)
    session.add(artifact)
    session.flush()
    model.artifact_id, model.artifact_sha256 = artifact.id, artifact.sha256
    session.commit()
    return windows


def test_evidence_lists_the_nearest_labeled_source_windows_never_target_windows(app, session, loop):
    project, model, items = loop
    sources = _with_tiny_model(session, project, model)
    client = browser(app, user(session, "labeler"))
    client.get(f"/projects/{project.id}/label")
    response = client.get(f"/projects/{project.id}/label/evidence/{items[0].window_id}",
                          headers={"HX-Request": "true"})
    assert response.status_code == 200, response.text
    shown = [int(w) for w in re.findall(r"· window (\d+)</span>", response.text)]
    assert len(shown) == 3 and set(shown) <= {w.id for w in sources}
    truth = {w.id: ("anomaly" if w.label else "normal") for w in sources}
    badges = re.findall(r'<span class="val val-(normal|anomaly)">', response.text)
    assert badges == [truth[w] for w in shown]  # the source's own labels, in distance order
    assert "distance" in response.text
    foreign = client.get(f"/projects/{project.id}/label/evidence/{sources[0].id}", headers={"HX-Request": "true"})
    assert foreign.status_code == 404  # only target windows get evidence; source windows are the evidence


def test_evidence_without_a_trained_model_says_so(app, session, loop):
    project, _, items = loop
    client = browser(app, user(session, "labeler"))
    response = client.get(f"/projects/{project.id}/label/evidence/{items[0].window_id}",
                          headers={"HX-Request": "true"})
    assert response.status_code == 200 and "No serving model yet" in response.text


# --- label history -------------------------------------------------------------------------------------------

def _label(session, project, window_id, account, value="normal"):
    from app.services.labels import record_label

    result = record_label(session, project_id=project.id, window_id=window_id, user_id=account.id, value=value)
    session.commit()
    return result.label


def test_history_filters_by_author_and_value_and_links_the_exports(app, session, loop):
    project, _, items = loop
    alice, bob = user(session, "labeler"), user(session, "labeler")
    _label(session, project, items[0].window_id, alice, "normal")
    _label(session, project, items[1].window_id, alice, "anomaly")
    _label(session, project, items[2].window_id, bob, "anomaly")
    client = browser(app, alice)
    mine = client.get(f"/projects/{project.id}/labels")
    assert "2 labels" in mine.text and bob.email not in mine.text.split("<table")[1]
    everyone = client.get(f"/projects/{project.id}/labels?who=all&value=anomaly")
    assert "2 labels" in everyone.text and bob.email in everyone.text
    assert f"/api/v1/projects/{project.id}/labels/export?format=csv" in mine.text
    assert f"/api/v1/projects/{project.id}/labels/export?format=jsonl" in mine.text
    export = client.get(f"/api/v1/projects/{project.id}/labels/export?format=csv")  # the link works signed in
    assert export.status_code == 200 and len(export.text.strip().splitlines()) == 4  # header + 3 labels


def test_an_author_edits_a_label_and_the_old_value_shows_in_its_history(app, session, loop):
    project, _, items = loop
    alice = user(session, "labeler")
    label = _label(session, project, items[0].window_id, alice, "normal")
    client = browser(app, alice)
    page = client.get(f"/projects/{project.id}/labels")
    form = client.get(f"/projects/{project.id}/labels/{label.id}/row?edit=true", headers={"HX-Request": "true"})
    assert 'name="value"' in form.text
    window = session.get(Window, items[0].window_id)
    response = client.post(f"/projects/{project.id}/labels/{label.id}", headers=hx(csrf(page.text)),
                           data={"value": "anomaly", "reason": "disk errors", "line_nos": f"{window.first_line_no}"})
    assert response.status_code == 200, response.text
    assert "Saved label" in response.text and "changed" in response.text
    session.expire_all()
    stored = session.get(Label, label.id)
    assert (stored.value, stored.reason, stored.line_nos) == ("anomaly", "disk errors", [window.first_line_no])
    audit = session.scalars(select(LabelAudit).where(LabelAudit.label_id == label.id).order_by(LabelAudit.id)).all()
    assert [(a.old_value, a.new_value, a.changed_by) for a in audit][-1] == ("normal", "anomaly", alice.id)


def test_only_the_author_or_an_admin_can_edit_and_bad_edits_say_why(app, session, loop):
    project, _, items = loop
    alice, bob, admin = user(session, "labeler"), user(session, "labeler"), user(session, "admin")
    label = _label(session, project, items[0].window_id, alice, "normal")
    bob_client = browser(app, bob)
    token = csrf(bob_client.get(f"/projects/{project.id}/labels").text)
    refused = bob_client.post(f"/projects/{project.id}/labels/{label.id}", headers=hx(token),
                              data={"value": "anomaly"})
    assert refused.status_code == 403
    admin_client = browser(app, admin)
    token = csrf(admin_client.get(f"/projects/{project.id}/labels").text)
    outside = admin_client.post(f"/projects/{project.id}/labels/{label.id}", headers=hx(token),
                                data={"value": "anomaly", "line_nos": "1 499"})
    assert outside.status_code == 422 and "Not saved" in outside.text
    no_csrf = admin_client.post(f"/projects/{project.id}/labels/{label.id}", headers={"HX-Request": "true"},
                                data={"value": "anomaly"})
    assert no_csrf.status_code == 403
    session.expire_all()
    assert session.get(Label, label.id).value == "normal"
    ok = admin_client.post(f"/projects/{project.id}/labels/{label.id}", headers=hx(token), data={"value": "skip"})
    assert ok.status_code == 200
    session.expire_all()
    assert (session.get(Label, label.id).value, session.get(Label, label.id).user_id) == ("skip", alice.id)


# --- label by template ---------------------------------------------------------------------------------------

def test_by_template_proposes_unlabeled_pool_windows_with_the_same_template_set(app, session, loop):
    project, _, items = loop
    alice = user(session, "labeler")
    label = _label(session, project, items[0].window_id, alice, "normal")  # window seq 0: templates {0, 1}
    pool = session.scalars(select(Window).where(Window.system_id == project.target_system_id,
                                                Window.split == "pool").order_by(Window.seq)).all()
    same = [w.id for w in pool if w.seq % 3 == 0 and w.id != label.window_id]
    page = browser(app, alice).get(f"/projects/{project.id}/labels/by-template?label_id={label.id}")
    assert page.status_code == 200
    proposed = [int(w) for w in re.findall(r'name="window_ids" value="(\d+)"', page.text)]
    assert proposed == same  # test-split windows with the same templates are never proposed
    assert f"{len(same)} unlabeled windows with exactly this template set" in page.text


def test_confirming_labels_the_ticked_windows_and_skips_a_window_held_by_someone_else(app, session, loop):
    project, _, items = loop
    alice, bob = user(session, "labeler"), user(session, "labeler")
    label = _label(session, project, items[0].window_id, alice, "anomaly")
    pool = session.scalars(select(Window).where(Window.system_id == project.target_system_id,
                                                Window.split == "pool").order_by(Window.seq)).all()
    same = [w.id for w in pool if w.seq % 3 == 0 and w.id != label.window_id]
    held = session.scalar(select(QueueItem).where(QueueItem.window_id == items[3].window_id))  # seq 3: same set
    held.state, held.claimed_by, held.claim_expires_at = "claimed", bob.id, utcnow() + timedelta(minutes=5)
    session.commit()
    client = browser(app, alice)
    page = client.get(f"/projects/{project.id}/labels/by-template?label_id={label.id}")
    assert "held by another operator" in page.text
    chosen = same[:4]  # the operator unticked the rest
    response = client.post(f"/projects/{project.id}/labels/by-template",
                           data={"csrf_token": csrf(page.text), "label_id": label.id, "window_ids": chosen})
    assert response.status_code == 200, response.text
    assert "claimed by another operator" in response.text
    stored = {l.window_id: l for l in labels(session, project_id=project.id)}
    assert set(stored) == {label.window_id} | (set(chosen) - {held.window_id})
    propagated = [stored[w] for w in set(stored) - {label.window_id}]
    assert all(p.value == "anomaly" and "by template" in p.reason for p in propagated)
    again = client.post(f"/projects/{project.id}/labels/by-template",
                        data={"csrf_token": csrf(page.text), "label_id": label.id, "window_ids": chosen})
    assert again.status_code == 200 and session.scalar(select(func.count(Label.id))) == len(stored)
    forged = client.post(f"/projects/{project.id}/labels/by-template",
                         data={"label_id": label.id, "window_ids": same[4:]})
    assert forged.status_code == 403 and len(labels(session, project_id=project.id)) == len(stored)


def test_by_template_refuses_skip_and_unsure_labels(app, session, loop):
    project, _, items = loop
    alice = user(session, "labeler")
    label = _label(session, project, items[0].window_id, alice, "skip")
    page = browser(app, alice).get(f"/projects/{project.id}/labels/by-template?label_id={label.id}")
    assert page.status_code == 422 and "only normal or anomaly labels" in page.text


# --- what a line shows -------------------------------------------------------------------------------------

def test_variable_parts_are_found_by_aligning_the_line_to_its_template():
    from app.services.window_view import highlight, split_raw

    def marked(content, template):
        return [seg.text for seg in highlight(content, template) if seg.variable]

    assert marked("job 42 submitted by alice (8 nodes)", "job <NUM> submitted by <*> (<NUM> nodes)") == [
        "42", "alice", "8"]
    assert marked("offset=77 partition=3", "offset=<NUM> partition=<NUM>") == ["77", "3"]
    # a template generalised after the line was parsed: aligned by one regex over the whole line
    assert marked("disk  sda1 failed", "disk <*> failed") == ["sda1"]
    assert marked("a b c d", "x <*> y") == []  # no fit: nothing is marked rather than something wrong
    assert "".join(seg.text for seg in highlight("job 42 done", "job <NUM> done")) == "job 42 done"
    assert split_raw("2026-03-01 INFO svc - job 42 done", "job 42 done") == ("2026-03-01 INFO svc - ", "job 42 done")
    assert split_raw("no content here", "absent") == ("", "no content here")


def test_a_session_window_shows_its_sessions_lines_without_context(session, loop):
    from app.services.window_view import window_view

    project, _, _ = loop
    dataset_id = session.scalar(select(Window.dataset_id).where(Window.system_id == project.target_system_id))
    lines = session.scalars(select(LogLine).where(LogLine.dataset_id == dataset_id,
                                                  LogLine.line_no.in_([3, 17, 40]))).all()
    for line in lines:
        line.session = "blk_7"
    window = Window(system_id=project.target_system_id, dataset_id=dataset_id, seq=999, first_line_no=3,
                    last_line_no=40, session="blk_7", events=[])
    session.add(window)
    session.flush()
    view = window_view(session, window)
    assert [line.line_no for line in view.lines] == [3, 17, 40]
    assert view.before == view.after == [] and view.session == "blk_7"
    session.rollback()
