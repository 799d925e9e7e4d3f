"""Signing in and out in a real browser, and the wrong-password message."""

from __future__ import annotations

from tests.browser.conftest import sign_in


def test_wrong_password_is_refused_with_a_message(context, live_server):
    page = context.new_page()
    page.goto(f"{live_server.base_url}/login")
    page.get_by_label("Email").fill(live_server.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong email or password."
    assert page.url.endswith("/login")


def test_sign_in_shows_the_projects_then_sign_out_returns_to_login(context, live_server):
    page = context.new_page()
    sign_in(page, live_server)
    assert page.get_by_role("heading", name="Projects", level=1).is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.base_url}/login")
    page.goto(f"{live_server.base_url}/")
    assert page.url.endswith("/login")  # the session is gone
