"""Browser tests: Debian's Chromium (headless, driven by Playwright) against a real ``logaction serve --demo``.

One server per test run, on its own SQLite file and var folder, with the demo seeded as `make run` seeds it;
the fixtures wait until the demo's first labeling queue is filled. Screenshots go to ``test-output/browser``
(ignored by git). Without Chromium the tests are skipped, unless LOGACTION_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LOGACTION_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-output" / "browser"
READY_TIMEOUT_S = 240  # ingest, base training and the first queue of the full-size demo (about 30 s here)


@dataclass
class LiveServer:
    base_url: str
    email: str
    password: str
    var_dir: Path
    database_url: str
    log: Path

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _demo_ready(database_url: str) -> bool:
    """True once the demo's first labeling queue exists (ingest → base training → queue have all run)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text("SELECT count(*) FROM queue_items")).scalar())
    except Exception:  # the server has not migrated the database yet
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> LiveServer:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("LOGACTION_REQUIRE_BROWSER", "") not in ("", "0", "false"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    var_dir = tmp_path_factory.mktemp("browser-var")
    database_url = f"sqlite:///{var_dir / 'logaction.db'}"
    port = _free_port()
    env = {**os.environ, "LOGACTION_VAR_DIR": str(var_dir), "LOGACTION_DATABASE_URL": database_url,
           "LOGACTION_BROKER_URL": "memory://", "LOGACTION_ENVIRONMENT": "test",
           "LOGACTION_SECRET_KEY": "browser-test-secret", "LOGACTION_DEVICE": "cpu"}
    env.pop("LOGACTION_EMBEDDED_WORKER", None)
    log = var_dir / "server.log"
    with open(log, "w") as handle:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--demo", "--host", "127.0.0.1",
                                 "--port", str(port)], cwd=ROOT, env=env, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)
    server = LiveServer(f"http://127.0.0.1:{port}", "admin@demo.local", "", var_dir, database_url, log)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _demo_ready(database_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the demo server did not get ready:\n{server.tail()}")
            time.sleep(0.5)
        server.password = (var_dir / "demo-login.txt").read_text().strip()
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser(live_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"])
        yield chromium
        chromium.close()


def sign_in(page, server: LiveServer, email: str | None = None, password: str | None = None) -> None:
    page.goto(f"{server.base_url}/login")
    page.get_by_label("Email").fill(email or server.email)
    page.get_by_label("Password").fill(password or server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: not url.endswith("/login"))


@pytest.fixture
def context(browser):
    # A laptop-sized viewport: the pages must be usable at 1280×800.
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=None)
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, live_server):
    """A page signed in as the demo admin."""
    page = context.new_page()
    sign_in(page, live_server)
    return page


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    server = item.funcargs.get("live_server") if hasattr(item, "funcargs") else None
    if report.failed and server is not None:
        report.sections.append(("demo server log (tail)", server.tail()))
