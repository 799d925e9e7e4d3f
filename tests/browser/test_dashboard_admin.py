"""The dashboard after a retrain started from the UI, and a dataset upload whose progress bar reaches 100 %,
in a real browser against the shared demo server. Other tests label on the same server, so these tests
compare before and after instead of expecting fixed counts."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

RETRAIN_TIMEOUT_MS = 300_000  # fine-tuning and rescoring the demo pool on a small CPU
INGEST_TIMEOUT_MS = 90_000


def _label_two_pool_windows(database_url: str, email: str) -> None:
    """Answer two pool windows outside the queue (one anomalous, one normal) as the demo admin, as an operator
    would: a retrain needs target labels, and windows outside the queue leave the labeling tests' queue alone."""
    from app.db.models import Label, Project, QueueItem, User, Window
    from app.services.labels import record_label

    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            project = session.scalar(select(Project).order_by(Project.id))
            user = session.scalar(select(User).where(User.email == email))
            taken = select(QueueItem.window_id).where(QueueItem.project_id == project.id).union(
                select(Label.window_id).where(Label.project_id == project.id))
            for truth, value in ((1, "anomaly"), (0, "normal")):
                window = session.scalar(select(Window).where(
                    Window.system_id == project.target_system_id, Window.split == "pool", Window.label == truth,
                    Window.id.not_in(taken)).order_by(Window.id).limit(1))
                record_label(session, project_id=project.id, window_id=window.id, user_id=user.id, value=value,
                             reason="browser test: dashboard after a retrain")
            session.commit()
    finally:
        engine.dispose()


def _ready_versions(page) -> int:
    return int(page.locator("#quality").get_attribute("data-versions"))


def test_the_dashboard_shows_a_new_version_after_a_retrain_started_from_the_ui(page, live_server, screenshots):
    base = live_server.base_url
    _label_two_pool_windows(live_server.database_url, live_server.email)
    page.goto(f"{base}/projects/1")
    before = _ready_versions(page)
    assert before >= 1 and page.locator("#quality-table tbody tr").count() == before
    assert page.locator("#quality-chart").get_attribute("aria-label").startswith("Line chart of F1")

    page.get_by_role("link", name="Model versions").click()
    page.get_by_role("button", name="Retrain now").click()
    assert "Retrain job #" in page.locator("#flash").inner_text()
    assert page.locator("#models .job progress").count() >= 1 or _models_ready(page) > before

    # The dashboard follows the job and reloads itself when the new version is ready, then when the new
    # version has scored the pool (no job left).
    page.get_by_role("link", name="Projects").first.click()
    page.locator(f'article[data-project-id="1"]').get_by_role("link", name="Dashboard").click()
    page.wait_for_function(f"Number(document.querySelector('#quality')?.dataset.versions) > {before}"
                           " && !document.querySelector('#activity .job')",
                           timeout=RETRAIN_TIMEOUT_MS, polling=1000)
    after = _ready_versions(page)
    rows = page.locator("#quality-table tbody tr")
    assert after > before and rows.count() == after
    assert "serving" in rows.last.text_content()  # the newest version serves
    assert page.locator(".hint-title").inner_text().strip() in ("■ Stop labeling?", "● Keep labeling")
    page.wait_for_selector("#free-energy-chart")
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)

    page.goto(f"{base}/projects/1/models")
    assert _models_ready(page) == after


def _models_ready(page) -> int:
    return int(page.locator("#models").get_attribute("data-versions"))


def _register_system(page, base: str, name: str, sample: list[str]) -> None:
    page.goto(f"{base}/admin/systems")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Log format").select_option("synthetic-a")
    page.get_by_label("Label rule").fill("first_token")
    page.get_by_label("Paste a few lines to preview").fill("\n".join(sample))
    summary = page.locator(".preview-summary")
    summary.wait_for()
    assert re.search(rf"{len(sample)}\s+of {len(sample)} lines parsed", summary.inner_text())
    page.get_by_role("button", name="Create system").click()
    assert f"System {name} created" in page.locator("#flash").inner_text()


def _choose(page, system: str, path) -> None:
    option = page.locator("#upload-system option", has_text=f"{system} (")
    page.get_by_label("System").select_option(option.get_attribute("value"))
    page.get_by_label("Source").check()
    page.get_by_label("Log file", exact=True).set_input_files(str(path))


def test_an_uploaded_dataset_shows_its_progress_until_ready(page, live_server, screenshots, tmp_path):
    from ml.synthetic import generate

    base = live_server.base_url
    name = f"upload-{uuid.uuid4().hex[:6]}"
    lines = generate("synthetic-a", n_lines=3000, seed=7).lines
    _register_system(page, base, name, lines[:3])
    bad = tmp_path / "broken.log"
    bad.write_text("\n".join(lines[:5] + ["not a synthetic-a line"] + lines[5:8]) + "\n")
    good = tmp_path / f"{name}.log"
    good.write_text("\n".join(lines) + "\n")

    page.goto(f"{base}/admin/datasets")
    _choose(page, name, bad)
    page.get_by_role("button", name="Upload and ingest").click()
    error = page.get_by_role("alert")
    error.wait_for()
    assert "line 6" in error.inner_text() and "does not match" in error.inner_text()

    _choose(page, name, good)
    page.get_by_role("button", name="Upload and ingest").click()
    page.wait_for_selector('#upload-status[data-state="ready"]', timeout=INGEST_TIMEOUT_MS)
    assert page.locator("#upload-percent").inner_text() == "100 %"
    assert page.locator("#ingest-percent").inner_text() == "100 %"
    assert page.locator("#ingest-progress").evaluate("bar => bar.value") == 100
    assert "3,000 lines" in page.locator("#upload-message").inner_text()
    row = page.locator("#datasets tbody tr", has_text=good.name)
    row.locator(".badge.ready").wait_for()
    assert not page.get_by_role("alert").is_visible()
    page.screenshot(path=str(screenshots / "upload.png"), full_page=True)
