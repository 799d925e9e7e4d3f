"""Dashboard, model versions, projects list and admin pages through the real app (TestClient): who may see
what, CSRF on every change, and what the pages show for real rows."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from sqlalchemy import select

from app.db.models import ApiToken, Artifact, Job, Label, ModelVersion, Project, System, User, WindowScore
from app.services import dashboard as board
from tests.app.factories import fake_project, settle_jobs
from tests.app_fixtures import synthetic_text

PASSWORD = "pw-123456-long"


@pytest.fixture
def web(client):
    client.cookies.clear()
    yield client
    client.cookies.clear()


def person(session, role: str, email: str | None = None) -> User:
    from app.services.users import create_user

    user = create_user(session, email=email or f"{role}-{uuid.uuid4().hex[:8]}@example.com", role=role,
                       password=PASSWORD)
    session.commit()
    return user


def sign_in(client, user: User) -> str:
    """Sign in through the form; returns the CSRF token of the new session."""
    client.cookies.clear()
    form = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return csrf(client)


def csrf(client) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)


# --- access --------------------------------------------------------------------------------------------

def test_pages_send_a_visitor_to_sign_in_and_back(web, session):
    admin = person(session, "admin")
    answer = web.get("/admin/systems", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/admin/systems"
    assert web.get("/projects/1", follow_redirects=False).headers["location"] == "/login?next=/projects/1"
    htmx = web.get("/fragments/projects", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/login"
    form = web.get("/login?next=/admin/users").text
    assert 'name="next" value="/admin/users"' in form
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    signed = web.post("/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token,
                                      "next": "/admin/users"}, follow_redirects=False)
    assert signed.headers["location"] == "/admin/users"


def test_sign_in_never_redirects_off_site(web, session):
    admin = person(session, "admin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text).group(1)
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        answer = web.post("/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token,
                                          "next": target}, follow_redirects=False)
        assert answer.headers["location"] == "/", target
        web.cookies.clear()
        token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").text).group(1)


def test_a_labeler_sees_projects_without_admin_links_and_gets_a_readable_403(web, session):
    labeler = person(session, "labeler")
    token = sign_in(web, labeler)
    home = web.get("/").text
    assert "Projects" in home and labeler.email in home
    assert "/admin/systems" not in home and "Users &amp; tokens" not in home
    for path in ("/admin/systems", "/admin/datasets", "/admin/projects", "/admin/users"):
        page = web.get(path)
        assert page.status_code == 403, path
        assert page.headers["content-type"].startswith("text/html")
        assert "needs the admin role" in page.text and "Not allowed" in page.text
    refused = web.post("/admin/systems", data={"csrf_token": token, "name": "x", "preset": "synthetic-a"})
    assert refused.status_code == 403
    assert session.scalar(select(System).where(System.name == "x")) is None


def test_an_admin_sees_the_admin_links(web, session):
    sign_in(web, person(session, "admin"))
    home = web.get("/").text
    for path in ("/admin/systems", "/admin/datasets", "/admin/projects", "/admin/users"):
        assert f'href="{path}"' in home
    assert 'aria-current="page">Projects' in home


def test_a_service_account_gets_a_403_page(web, session):
    sign_in(web, person(session, "service"))
    page = web.get("/")
    assert page.status_code == 403 and "for API clients" in page.text


def test_changes_without_the_csrf_token_are_refused(web, session):
    project, _, _ = fake_project(session)
    session.commit()
    sign_in(web, person(session, "admin"))
    for path in ("/admin/systems", "/admin/projects", "/admin/users", "/admin/tokens",
                 f"/projects/{project.id}/models/retrain"):
        answer = web.post(path, data={"name": "no-token", "email": "x@example.com", "preset": "synthetic-a"})
        assert answer.status_code == 403, path
        assert "form has expired" in answer.text
    wrong = web.post("/admin/systems", data={"name": "no-token", "preset": "synthetic-a", "csrf_token": "forged"})
    assert wrong.status_code == 403
    assert session.scalar(select(System).where(System.name == "no-token")) is None
    assert session.scalar(select(Job).where(Job.kind == "retrain")) is None


def test_a_missing_project_is_a_readable_404(web, session):
    sign_in(web, person(session, "labeler"))
    page = web.get("/projects/999999")
    assert page.status_code == 404 and "project 999999 does not exist" in page.text
    fragment = web.get("/projects/999999/fragments/models", headers={"HX-Request": "true"})
    assert fragment.status_code == 404 and 'role="alert"' in fragment.text and "<html" not in fragment.text


# --- projects list ---------------------------------------------------------------------------------------

def test_projects_list_shows_budget_model_queue_and_polls_only_while_a_job_runs(web, session):
    project, model, _ = fake_project(session, n_pool=200, queued=5)
    model.metrics = {"f1": 0.8123, "precision": 0.9, "recall": 0.74, "test_windows": 10, "threshold": 0.5}
    job = Job(kind="retrain", project_id=project.id, status="running", progress=0.42, message="fine-tuning")
    session.add(job)
    session.commit()
    sign_in(web, person(session, "labeler"))
    page = web.get("/").text
    card = page[page.index(f'data-project-id="{project.id}"'):]
    assert project.name in card and "v0" in card and "0.812" in card
    assert "5 / 4" in card  # 5 queued windows spent of a 2 % budget of 200
    assert 'hx-trigger="every 2s"' in page and "42 %" in page and "fine-tuning" in page
    assert f'href="/projects/{project.id}/label"' in card
    job.status, job.progress = "succeeded", 1.0
    session.commit()
    fragment = web.get("/fragments/projects").text
    assert 'data-active="false"' in fragment and "hx-trigger" not in fragment


def test_f1_is_unknown_without_ground_truth(web, session):
    project, model, _ = fake_project(session)
    model.metrics = {"test_windows": 0}
    session.commit()
    sign_in(web, person(session, "labeler"))
    card = web.get("/").text.split(f'data-project-id="{project.id}"')[1]
    assert "unknown" in card


# --- dashboard -------------------------------------------------------------------------------------------

def _second_version(session, project, model, *, f1_before=0.70, f1_after=0.705, flips=0, labels=8):
    """v1 trained from v0, both with pool scores; ``flips`` pool windows change their predicted class."""
    model.metrics = {"f1": f1_before, "precision": 0.6, "recall": 0.85, "test_windows": 10, "threshold": 0.5}
    model.is_serving = False
    session.flush()
    v1 = ModelVersion(project_id=project.id, version=1, status="ready", is_serving=True, labels_used=labels,
                      parent_id=model.id, metrics={"f1": f1_after, "precision": 0.7, "recall": 0.72,
                                                   "test_windows": 10, "threshold": 0.5})
    session.add(v1)
    session.flush()
    from app.db.models import Window

    pool = list(session.scalars(select(Window).where(Window.system_id == project.target_system_id,
                                                     Window.split == "pool").order_by(Window.id)))
    for i, window in enumerate(pool):
        before = 0.9 if i % 10 == 0 else 0.1
        after = (1 - before) if i < flips else before
        session.add(WindowScore(model_version_id=model.id, window_id=window.id, free_energy=-3.0 - i % 7,
                                uncertainty=0.5, p_anomaly=before))
        session.add(WindowScore(model_version_id=v1.id, window_id=window.id, free_energy=-2.5 - i % 5,
                                uncertainty=0.4, p_anomaly=after))
    session.flush()
    return v1


def test_stop_hint_compares_the_last_two_versions(session):
    project, model, _ = fake_project(session, n_pool=200)
    hint = board.stop_hint(session, project_id=project.id)
    assert not hint.stop and hint.title == "Too early to tell" and "there is one so far" in hint.message
    _second_version(session, project, model, f1_before=0.70, f1_after=0.705, flips=1)
    hint = board.stop_hint(session, project_id=project.id)
    assert hint.stop and hint.windows_compared == 200 and hint.flip_share == pytest.approx(0.005)
    assert hint.f1_delta == pytest.approx(0.005) and hint.title == "Stop labeling?"
    assert "F1 changed by +0.5 points" in hint.message and "0.5 % of 200 pool windows" in hint.message
    assert not board.stop_hint(session, project_id=project.id, flip_threshold=0.004).stop
    session.rollback()


def test_stop_hint_keeps_labeling_while_f1_or_predictions_move(session):
    project, model, _ = fake_project(session, n_pool=100)
    _second_version(session, project, model, f1_before=0.70, f1_after=0.705, flips=20)
    hint = board.stop_hint(session, project_id=project.id)
    assert not hint.stop and hint.flip_share == pytest.approx(0.2) and hint.title == "Keep labeling"
    model.metrics = {**model.metrics, "f1": 0.5}
    session.flush()
    moved = board.stop_hint(session, project_id=project.id, flip_threshold=0.5)
    assert not moved.stop and moved.f1_delta == pytest.approx(0.205)
    session.rollback()


def test_stop_hint_without_ground_truth_judges_by_predictions_only(session):
    project, model, _ = fake_project(session, n_pool=100)
    v1 = _second_version(session, project, model, flips=0)
    v1.metrics = model.metrics = {"test_windows": 0, "threshold": 0.5}
    session.flush()
    hint = board.stop_hint(session, project_id=project.id)
    assert hint.stop and hint.f1_delta is None and "F1 is unknown" in hint.message
    points = board.version_points(session, project_id=project.id)
    assert [p["f1"] for p in points] == [None, None]
    session.rollback()


def test_histograms_cover_the_pool_of_the_serving_version_only(session):
    project, model, items = fake_project(session, n_pool=50, n_test=10)
    v1 = _second_version(session, project, model, flips=0)
    from app.db.models import Window

    test_window = session.scalar(select(Window).where(Window.system_id == project.target_system_id,
                                                      Window.split == "test"))
    session.add(WindowScore(model_version_id=v1.id, window_id=test_window.id, free_energy=50.0, uncertainty=0,
                            p_anomaly=1.0))
    session.flush()
    hist = board.pool_histograms(session, project=project, version=v1)
    assert hist["free_energy"]["n"] == 50 and sum(hist["free_energy"]["counts"]) == 50
    assert hist["free_energy"]["max"] < 0  # the test window's score is not part of the pool
    assert hist["p_anomaly"]["edges"][0] == 0.0 and hist["p_anomaly"]["edges"][-1] == 1.0
    assert hist["predicted_anomalous"] == 5
    assert board.pool_histograms(session, project=project, version=None) is None
    session.rollback()


def test_dashboard_page_shows_the_curve_histograms_operators_and_hint(web, session):
    project, model, items = fake_project(session, n_pool=200, queued=6)
    _second_version(session, project, model, flips=1)
    ann = person(session, "labeler", "ann@example.com")
    bob = person(session, "labeler", "bob@example.com")
    for i, item in enumerate(items):
        who = ann if i < 4 else bob
        session.add(Label(project_id=project.id, window_id=item.window_id, user_id=who.id,
                          value="anomaly" if i % 2 else "normal"))
    session.commit()
    sign_in(web, ann)
    page = web.get(f"/projects/{project.id}")
    assert page.status_code == 200
    html = page.text
    assert 'data-points="2"' in html and "Stop labeling?" in html
    assert html.index("ann@example.com") < html.index("bob@example.com")  # busiest operator first
    assert "held-out target windows with ground truth" in html
    data = json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>',
                                html, re.S).group(1))
    assert [p["version"] for p in data["points"]] == [0, 1] and data["points"][1]["serving"]
    assert data["hist"]["version"] == 1 and sum(data["hist"]["p_anomaly"]["counts"]) == 200
    assert 'role="img"' in html and "Show as a table" in html
    assert "/vendor/chart/chart.umd.js" in html


def test_dashboard_activity_reloads_the_page_once_a_new_version_is_ready_or_the_jobs_end(web, session):
    project, model, _ = fake_project(session)
    job = Job(kind="retrain", project_id=project.id, status="running", progress=0.3, message="fine-tuning")
    session.add(job)
    session.commit()
    sign_in(web, person(session, "labeler"))
    page = web.get(f"/projects/{project.id}").text
    poll = f"/projects/{project.id}/fragments/activity?seen={model.id}"
    assert poll in page
    waiting = web.get(poll)
    assert "hx-refresh" not in waiting.headers and "30 %" in waiting.text and poll in waiting.text
    session.add(ModelVersion(project_id=project.id, version=1, status="ready", labels_used=3))
    session.commit()
    assert web.get(poll).headers["hx-refresh"] == "true"  # a new version: reload while its scoring runs
    job.status = "succeeded"
    session.commit()
    latest = session.scalar(select(ModelVersion.id).where(ModelVersion.version == 1,
                                                          ModelVersion.project_id == project.id))
    done = web.get(f"/projects/{project.id}/fragments/activity?seen={latest}")
    assert done.headers["hx-refresh"] == "true"  # every job ended: the final state
    assert "fragments/activity" not in web.get(f"/projects/{project.id}").text  # and no more polling


# --- model versions --------------------------------------------------------------------------------------

def _with_artifacts(session, *versions):
    for version in versions:
        artifact = Artifact(kind="model", sha256="0" * 64, size_bytes=1, data=b"x")
        session.add(artifact)
        session.flush()
        version.artifact_id = artifact.id


def test_models_page_rolls_back_and_labelers_cannot(web, session):
    project, model, _ = fake_project(session, n_pool=50)
    v1 = _second_version(session, project, model)
    _with_artifacts(session, model, v1)
    session.commit()
    labeler = person(session, "labeler")
    token = sign_in(web, labeler)
    page = web.get(f"/projects/{project.id}/models").text
    assert "Retrain now" not in page and "Roll back" not in page and 'data-versions="2"' in page
    assert web.post(f"/projects/{project.id}/models/{model.id}/promote", data={"csrf_token": token}).status_code == 403
    token = sign_in(web, person(session, "admin"))
    page = web.get(f"/projects/{project.id}/models").text
    assert "Retrain now" in page and "Roll back to v0" in page
    answer = web.post(f"/projects/{project.id}/models/{model.id}/promote", data={"csrf_token": token},
                      follow_redirects=False)
    assert answer.status_code == 303
    session.expire_all()
    assert session.get(ModelVersion, model.id).is_serving and not session.get(ModelVersion, v1.id).is_serving
    page = web.get(answer.headers["location"]).text
    assert "Version 0 now serves" in page and "Make v1 serving" in page
    missing = web.post(f"/projects/{project.id}/models/999999/promote", data={"csrf_token": token})
    assert missing.status_code == 404


def test_promoting_a_version_that_is_not_ready_is_a_409_page(web, session):
    project, model, _ = fake_project(session)
    failed = ModelVersion(project_id=project.id, version=1, status="failed", error="boom")
    session.add(failed)
    session.commit()
    token = sign_in(web, person(session, "admin"))
    answer = web.post(f"/projects/{project.id}/models/{failed.id}/promote", data={"csrf_token": token})
    assert answer.status_code == 409 and "only a ready version can serve" in answer.text


def test_retrain_now_queues_a_retrain_job(web, session):
    project, model, _ = fake_project(session)
    session.commit()
    token = sign_in(web, person(session, "admin"))
    answer = web.post(f"/projects/{project.id}/models/retrain", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/projects/{project.id}/models"
    job = session.scalar(select(Job).where(Job.project_id == project.id, Job.kind == "retrain"))
    assert job is not None and job.payload["requested_by"] is not None
    page = web.get(answer.headers["location"]).text
    assert f"Retrain job #{job.id}" in page
    settle_jobs(session)  # the fake project has no real model for the worker to fine-tune


def test_retrain_without_a_model_is_a_409_page(web, session):
    from app.services.systems import create_system

    source = create_system(session, name="s-norm", log_format="synthetic-a", label_rule="first_token")
    target = create_system(session, name="t-norm", log_format="synthetic-a")
    project = Project(name="no-model", target_system_id=target.id, sources=[source])
    session.add(project)
    session.commit()
    token = sign_in(web, person(session, "admin"))
    answer = web.post(f"/projects/{project.id}/models/retrain", data={"csrf_token": token})
    assert answer.status_code == 409 and "no trained model yet" in answer.text


# --- admin: systems --------------------------------------------------------------------------------------

def test_create_a_system_from_a_preset_or_a_log_format(web, session):
    token = sign_in(web, person(session, "admin"))
    answer = web.post("/admin/systems", data={"csrf_token": token, "name": "web-a", "preset": "synthetic-a",
                                              "label_rule": "first_token", "window_size": "10"},
                      follow_redirects=False)
    assert answer.status_code == 303
    system = session.scalar(select(System).where(System.name == "web-a"))
    assert system.log_format == "synthetic-a" and system.window_size == 10 and system.window_stride == 10
    custom = web.post("/admin/systems", data={"csrf_token": token, "name": "web-c", "preset": "custom",
                                              "log_format": "<Date> <Level>: <Content>", "window_stride": "5"},
                      follow_redirects=False)
    assert custom.status_code == 303
    assert session.scalar(select(System).where(System.name == "web-c")).window_stride == 5
    listing = web.get("/admin/systems").text
    assert "web-a" in listing and "&lt;Date&gt; &lt;Level&gt;: &lt;Content&gt;" in listing


def test_a_wrong_system_form_is_shown_again_with_the_reason(web, session):
    token = sign_in(web, person(session, "admin"))
    no_content = web.post("/admin/systems", data={"csrf_token": token, "name": "bad", "preset": "custom",
                                                  "log_format": "<Date> <Message>"})
    assert no_content.status_code == 422 and "has no &lt;Content&gt; field" in no_content.text
    assert 'value="bad"' in no_content.text  # what was typed is kept
    no_name = web.post("/admin/systems", data={"csrf_token": token, "name": " ", "preset": "HDFS"})
    assert no_name.status_code == 422 and "A name is required" in no_name.text
    rule = web.post("/admin/systems", data={"csrf_token": token, "name": "r", "preset": "HDFS", "label_rule": "??"})
    assert rule.status_code == 422 and "unknown label rule" in rule.text
    web.post("/admin/systems", data={"csrf_token": token, "name": "twice", "preset": "HDFS"})
    again = web.post("/admin/systems", data={"csrf_token": token, "name": "twice", "preset": "HDFS"})
    assert again.status_code == 422 and "already exists" in again.text
    assert session.scalar(select(System).where(System.name == "bad")) is None


def test_preview_shows_fields_label_and_template_per_line_and_marks_bad_lines(web, session):
    token = sign_in(web, person(session, "admin"))
    lines = synthetic_text(n_lines=3).splitlines()
    sample = "\n".join([lines[0], "this line is not synthetic-a", lines[1], lines[2]])
    answer = web.post("/admin/systems/preview", data={"preset": "synthetic-a", "label_rule": "first_token",
                                                      "sample": sample}, headers={"X-CSRF-Token": token})
    assert answer.status_code == 200
    html = answer.text
    assert 'data-records="3"' in html and 'data-malformed="1"' in html
    assert "does not match the format synthetic-a" in html and "this line is not synthetic-a" in html
    assert "<dt>Node</dt>" in html and "<dt>Content</dt>" in html and "normal" in html
    rows = re.findall(r'<tr class="(ok|bad)-row">\s*<td class="num">(\d+)</td>', html)
    assert rows == [("ok", "1"), ("bad", "2"), ("ok", "3"), ("ok", "4")]
    broken = web.post("/admin/systems/preview", data={"preset": "custom", "log_format": "<Date> <Msg>",
                                                      "sample": sample}, headers={"X-CSRF-Token": token})
    assert broken.status_code == 200 and "The format cannot be used" in broken.text
    assert web.post("/admin/systems/preview", data={"preset": "HDFS", "sample": "x"}).status_code == 403


# --- admin: datasets -------------------------------------------------------------------------------------

def test_datasets_page_has_the_upload_form_and_the_list_polls_while_ingesting(web, session):
    from app.db.models import Dataset
    from app.services.systems import create_system

    system = create_system(session, name="ds-sys", log_format="synthetic-a", label_rule="first_token")
    dataset = Dataset(system_id=system.id, role="source", original_name="a.log", status="parsing")
    session.add(dataset)
    session.commit()
    sign_in(web, person(session, "admin"))
    page = web.get("/admin/datasets").text
    assert 'id="upload-form"' in page and 'id="upload-progress"' in page and 'id="ingest-progress"' in page
    assert f'<option value="{system.id}">ds-sys' in page and "/static/admin.js" in page
    assert "every 2s" in page and "a.log" in page
    dataset.status, dataset.error, dataset.error_line = "failed", "a.log, line 7: does not match", 7
    session.commit()
    fragment = web.get("/admin/fragments/datasets").text
    assert "every 2s" not in fragment and "(line 7)" in fragment


# --- admin: projects -------------------------------------------------------------------------------------

def test_create_and_edit_a_project(web, session):
    from app.services.systems import create_system

    source = create_system(session, name="p-src", log_format="synthetic-a", label_rule="first_token")
    target = create_system(session, name="p-tgt", log_format="synthetic-b-nolabel")
    session.commit()
    token = sign_in(web, person(session, "admin"))
    form = {"csrf_token": token, "name": "web project", "target_system_id": str(target.id),
            "source_system_ids": [str(source.id)], "budget_percent": "3", "round_percent": "1.5", "rounds": "2",
            "lambda1_percent": "10", "strategy": "logaction", "retrain_every": "0"}
    same = web.post("/admin/projects", data={**form, "source_system_ids": [str(target.id)]})
    assert same.status_code == 422 and "cannot also be a source" in same.text
    none = web.post("/admin/projects", data={k: v for k, v in form.items() if k != "source_system_ids"})
    assert none.status_code == 422 and "at least one source" in none.text
    answer = web.post("/admin/projects", data=form, follow_redirects=False)
    assert answer.status_code == 303
    project = session.scalar(select(Project).where(Project.name == "web project"))
    assert (project.budget_fraction, project.round_fraction, project.lambda1) == (0.03, 0.015, 0.1)
    edit = {"csrf_token": token, "budget_percent": "5", "round_percent": "10", "rounds": "3", "retrain_every": "25"}
    too_big = web.post(f"/admin/projects/{project.id}", data=edit)
    assert too_big.status_code == 422 and "larger than the whole label budget" in too_big.text
    saved = web.post(f"/admin/projects/{project.id}", data={**edit, "round_percent": "2.5"}, follow_redirects=False)
    assert saved.status_code == 303
    session.expire_all()
    project = session.get(Project, project.id)
    settings = (project.budget_fraction, project.round_fraction, project.rounds, project.retrain_every)
    assert settings == (0.05, 0.025, 3, 25)
    bad = web.post(f"/admin/projects/{project.id}", data={"csrf_token": token, "rounds": "many"})
    assert bad.status_code == 422 and "Rounds must be a whole number" in bad.text


# --- admin: users and tokens -----------------------------------------------------------------------------

def test_users_are_created_changed_and_the_last_admin_is_kept(web, session):
    admin = person(session, "admin")
    token = sign_in(web, admin)
    created = web.post("/admin/users", data={"csrf_token": token, "email": "New.Op@example.com", "role": "labeler"})
    assert created.status_code == 201 and "Password of new.op@example.com" in created.text
    password = re.search(r'id="new-password" [^>]*value="([^"]+)"', created.text).group(1)
    from app.services.users import authenticate

    op = authenticate(session, email="new.op@example.com", password=password)
    assert op is not None and op.role == "labeler"
    assert password not in web.get("/admin/users").text  # shown once
    dup = web.post("/admin/users", data={"csrf_token": token, "email": "new.op@example.com", "role": "labeler"})
    assert dup.status_code == 422 and "already exists" in dup.text
    promoted = web.post(f"/admin/users/{op.id}", data={"csrf_token": token, "action": "role", "role": "admin"},
                        follow_redirects=False)
    assert promoted.status_code == 303
    off = web.post(f"/admin/users/{op.id}", data={"csrf_token": token, "action": "deactivate"}, follow_redirects=False)
    assert off.status_code == 303
    session.expire_all()
    op = session.get(User, op.id)
    assert op.role == "admin" and not op.is_active
    last = web.post(f"/admin/users/{admin.id}", data={"csrf_token": token, "action": "role", "role": "labeler"})
    assert last.status_code == 409 and "last active admin" in last.text
    session.expire_all()
    assert session.get(User, admin.id).role == "admin"


def test_a_token_secret_is_shown_once_works_and_can_be_revoked(web, session):
    admin = person(session, "admin")
    bot = person(session, "labeler", "bot@example.com")
    token = sign_in(web, admin)
    created = web.post("/admin/tokens", data={"csrf_token": token, "user_id": str(bot.id), "name": "alerts"})
    assert created.status_code == 201 and "cannot be shown again" in created.text
    secret = re.search(r'id="token-secret" [^>]*value="([^"]+)"', created.text).group(1)
    assert 'data-copy="#token-secret"' in created.text
    bearer = {"Authorization": f"Bearer {secret}"}
    cookies = dict(web.cookies)
    web.cookies.clear()
    assert web.get("/api/v1/jobs", headers=bearer).status_code == 200
    web.cookies.update(cookies)
    listing = web.get("/admin/users").text
    assert secret not in listing and secret[:10] in listing
    row = session.scalar(select(ApiToken).where(ApiToken.name == "alerts"))
    revoked = web.post(f"/admin/tokens/{row.id}/revoke", data={"csrf_token": token}, follow_redirects=False)
    assert revoked.status_code == 303
    web.cookies.clear()
    assert web.get("/api/v1/jobs", headers=bearer).status_code == 401
    web.cookies.update(cookies)
    assert web.post("/admin/tokens/999999/revoke", data={"csrf_token": token}).status_code == 404
    nobody = web.post("/admin/tokens", data={"csrf_token": token, "name": "x"})
    assert nobody.status_code == 422 and "choose the user" in nobody.text


def test_a_malformed_address_is_a_readable_422(web, session):
    sign_in(web, person(session, "labeler"))
    page = web.get("/projects/not-a-number")
    assert page.status_code == 422 and "Not a valid address" in page.text and "project_id" in page.text
