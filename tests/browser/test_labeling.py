"""The labeling queue in Chromium against the demo server: ten answers with the keyboard only, undo with `z`,
a save that fails while offline (visible, then retried), and a screenshot of the page.

The server is shared with the other browser tests, which may label or retrain too: every check is relative to
what this test did (the windows it saw, the labels it added), and an empty queue (a retrain under way) is waited
out rather than treated as a failure.
"""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import create_engine, text

NEXT_ROUND_TIMEOUT_MS = 180_000  # a retrain of the demo model, when another test just finished a round


@pytest.fixture
def db(live_server):
    engine = create_engine(live_server.database_url)
    yield engine
    engine.dispose()


def query(db, sql: str, **params):
    with db.connect() as conn:
        return conn.execute(text(sql), params).all()


def label_of(db, window_id: int):
    rows = query(db, "SELECT id, value, reason, line_nos FROM labels WHERE project_id = 1 AND window_id = :w",
                 w=window_id)
    return rows[0] if rows else None


def shown_window(page) -> int:
    """The window on screen, waiting through an empty queue (the next round is being prepared)."""
    page.wait_for_selector("#workspace .card.window, #workspace .queue-empty")
    if page.locator("#workspace .queue-empty").count():
        page.wait_for_selector("#workspace .card.window", timeout=NEXT_ROUND_TIMEOUT_MS)
    return int(page.locator("#workspace .card.window").get_attribute("data-window"))


def answer(page, key: str, reason: str | None = None) -> int:
    """Answer the window on screen with ``key``; returns the answered window's id once the next one shows."""
    window = shown_window(page)
    page.keyboard.press(key)
    if reason is not None:
        page.keyboard.type(reason)
        page.keyboard.press("Enter")
    wait_for_next(page, window)
    return window


def wait_for_next(page, window: int) -> None:
    """Until another window (or the empty queue) is in place and the page takes keys again."""
    page.wait_for_function(
        "w => { const c = document.querySelector('#workspace .card.window');"
        " return document.body.dataset.labState === 'ready' && (document.querySelector('#workspace .queue-empty')"
        " || (c && c.dataset.window !== w && !document.querySelector('#workspace .relabel'))) }", arg=str(window))


def open_queue(page, live_server):
    page.goto(f"{live_server.base_url}/projects/1/label")
    shown_window(page)
    page.wait_for_selector("body[data-lab-state=ready]")
    assert page.get_by_role("heading", name="Labeling queue", level=1).is_visible()


def test_ten_answers_with_the_keyboard_then_undo_the_last(page, live_server, db, screenshots):
    open_queue(page, live_server)
    page.wait_for_selector("#evidence .ev-list, #evidence p.muted:not(:has-text('Finding'))", timeout=30_000)
    page.screenshot(path=str(screenshots / "queue.png"))
    admin = query(db, "SELECT id FROM users WHERE email = :e", e=live_server.email)[0][0]
    before = query(db, "SELECT count(*) FROM labels WHERE project_id = 1 AND user_id = :u", u=admin)[0][0]

    keys = ["n", "a", "n", "u", "n", "a", "s", "n", "a", "n"]
    values = {"n": "normal", "a": "anomaly", "u": "unsure", "s": "skip"}
    answered = []
    for i, key in enumerate(keys):
        marked = None
        if key == "a" and i == 1:  # mark the second line as the anomalous one, by keyboard too
            shown_window(page)
            page.locator("#workspace .ln").first.focus()
            page.keyboard.press("ArrowDown")
            page.keyboard.press("Space")
            assert page.locator("#workspace .ln").nth(1).get_attribute("aria-pressed") == "true"
            marked = int(page.locator("#workspace .ln").nth(1).locator(".no").inner_text())
        window = answer(page, key, reason="retry storm, maybe normal under load" if key == "u" else None)
        label = label_of(db, window)
        assert label is not None and label.value == values[key], (window, label)
        if key == "u":
            assert label.reason == "retry storm, maybe normal under load"
        if marked is not None:
            assert marked in (json.loads(label.line_nos) if isinstance(label.line_nos, str) else label.line_nos)
        answered.append(window)
    after = query(db, "SELECT count(*) FROM labels WHERE project_id = 1 AND user_id = :u", u=admin)[0][0]
    assert after - before == 10 and len(set(answered)) == 10

    # z: back to the last answer (window 10, "normal"), change it to anomaly, and see the trail keep both.
    page.keyboard.press("z")
    page.wait_for_selector("body[data-lab-state=ready] #workspace .relabel")
    assert f"Re-labeling window {answered[-1]}" in page.locator("#workspace .relabel").inner_text()
    assert int(page.locator("#workspace .card.window").get_attribute("data-window")) == answered[-1]
    page.keyboard.press("a")
    wait_for_next(page, 0)
    assert f"Saved window {answered[-1]} as Anomaly (was Normal)" in page.locator("#workspace .strip").inner_text()
    label = label_of(db, answered[-1])
    assert label.value == "anomaly"
    trail = query(db, "SELECT action, old_value, new_value FROM label_audit WHERE label_id = :l ORDER BY id",
                  l=label.id)
    assert [tuple(r) for r in trail][-2:] == [("create", None, "normal"), ("update", "normal", "anomaly")]

    page.goto(f"{live_server.base_url}/projects/1/labels")
    page.get_by_role("button", name=f"History of label {label.id}", exact=True).click()
    history = page.locator(f"#label-{label.id} .audit-list")
    history.wait_for()
    change = history.locator("li", has_text="changed").last.inner_text()
    assert change.index("Normal") < change.index("→") < change.index("Anomaly"), change


def test_a_save_that_fails_offline_is_shown_and_can_be_retried(page, context, live_server, db, screenshots):
    open_queue(page, live_server)
    window = shown_window(page)
    context.set_offline(True)
    page.keyboard.press("n")
    banner = page.locator("#lab-error")
    banner.wait_for(state="visible")
    assert page.get_by_role("alert").filter(has_text="was not stored").is_visible()
    assert f"window {window}" in banner.inner_text()
    assert int(page.locator("#workspace .card.window").get_attribute("data-window")) == window  # still here
    assert label_of(db, window) is None
    page.screenshot(path=str(screenshots / "queue-save-failed.png"))

    context.set_offline(False)
    page.get_by_role("button", name="Retry", exact=True).click()
    wait_for_next(page, window)
    assert banner.is_hidden()
    assert label_of(db, window).value == "normal"
    assert query(db, "SELECT count(*) FROM labels WHERE project_id = 1 AND window_id = :w", w=window)[0][0] == 1


def test_help_lists_the_shortcuts_and_they_stay_off_while_typing(page, live_server, db):
    open_queue(page, live_server)
    window = shown_window(page)
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    dialog.wait_for()
    for key in ("n", "a", "u", "s", "z"):
        assert dialog.locator("kbd", has_text=re.compile(f"^{key}$")).count() == 1
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    page.keyboard.press("u")
    reason = page.get_by_label("Why are you unsure?")
    assert reason.evaluate("el => el === document.activeElement")
    page.keyboard.type("n a s z")  # typed into the field: no answer is sent
    page.keyboard.press("Escape")
    assert page.locator("#unsure-box").is_hidden()
    assert int(page.locator("#workspace .card.window").get_attribute("data-window")) == window
    assert label_of(db, window) is None
