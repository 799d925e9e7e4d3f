"""A Celery worker running in a thread of the server process (the embedded, one-machine mode).

It is the same worker class and the same task code as ``logaction worker``; only the pool is ``solo``
and the broker is in-process (``memory://``).
"""

from __future__ import annotations

import logging
import threading

from celery import Celery
from celery.worker import WorkController

from app.tasks.celery_app import ALL_QUEUES

log = logging.getLogger(__name__)


class _Controller(WorkController):
    def __init__(self, *args, **kwargs):
        self.started = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer) -> None:
        self.started.set()


class EmbeddedWorker:
    def __init__(self, app: Celery):
        self.app = app
        self.controller: _Controller | None = None
        self.thread: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.app.loader.import_default_modules()
        self.controller = _Controller(
            app=self.app, concurrency=1, pool="solo", hostname="embedded@localhost", loglevel="INFO",
            without_heartbeat=True, without_mingle=True, without_gossip=True,
            ready_callback=None, queues=list(ALL_QUEUES),
        )
        self.thread = threading.Thread(target=self.controller.start, daemon=True, name="celery-embedded")
        self.thread.start()
        if not self.controller.started.wait(timeout):
            raise RuntimeError("the embedded Celery worker did not start")
        log.info("embedded Celery worker started")

    def stop(self, timeout: float = 30.0) -> None:
        if self.thread is None:
            return
        from celery.worker import state

        state.should_terminate = 0  # the consumer loop checks this and exits after the current task
        self.thread.join(timeout)
        state.should_terminate = None
        self.thread = None
