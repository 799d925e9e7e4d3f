"""The FastAPI application: API routers, pages, static files, and the embedded worker in one-machine mode."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from app.api.routes import datasets, health, jobs, labels, models, projects, queue, scoring, systems, users
from app.observability import metrics_middleware
from app.settings import Settings, get_settings
from app.web import admin, dashboard, labeling, pages

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
# Browser libraries come from npm (package.json, `npm ci`) and are served straight from node_modules.
VENDOR = {"htmx": ROOT / "node_modules/htmx.org/dist", "chart": ROOT / "node_modules/chart.js/dist"}
OUTBOX_INTERVAL_S = 5.0


class OutboxPump:
    """Re-sends jobs whose first send failed (broker down) until the broker takes them."""

    def __init__(self, interval: float = OUTBOX_INTERVAL_S):
        self.interval, self.stop_event = interval, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="outbox-pump")

    def _run(self) -> None:
        from app.services.jobs import flush_outbox

        while not self.stop_event.wait(self.interval):
            try:
                flush_outbox()
            except Exception:  # the database may be briefly away; try again next tick
                log.warning("outbox pump: flush failed", exc_info=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    worker = None
    if settings.is_embedded:
        from app.tasks.celery_app import celery_app
        from app.tasks.embedded import EmbeddedWorker

        from app.services.jobs import flush_outbox, resend_unfinished

        worker = EmbeddedWorker(celery_app)
        worker.start()
        if resend_unfinished():
            flush_outbox()
    pump = OutboxPump()
    pump.start()
    app.state.worker = worker
    for hook in app.state.on_ready:
        hook()
    try:
        yield
    finally:
        pump.stop()
        if worker is not None:
            worker.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="LogAction Studio", version="0.1.0", lifespan=lifespan,
                  description="Active domain adaptation for log anomaly detection, with a human in the loop.")
    app.state.settings = settings
    app.state.on_ready = []
    app.middleware("http")(metrics_middleware)
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie="logaction_session",
                       same_site="lax", https_only=settings.environment == "production", max_age=7 * 24 * 3600)
    api = (health, systems, datasets, projects, jobs, queue, labels, models, scoring, users)
    web = (pages, labeling, dashboard, admin)
    for module in api + web:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    for name, folder in VENDOR.items():
        if folder.is_dir():
            app.mount(f"/vendor/{name}", StaticFiles(directory=folder), name=f"vendor-{name}")
        else:
            log.warning("%s is missing: run `npm ci` to install the browser libraries", folder)
    return app
