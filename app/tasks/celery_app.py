"""The Celery application. Tasks carry only a job id; the job row in the database holds the truth."""

from __future__ import annotations

from celery import Celery

from app.settings import Settings, get_settings

TASK_MODULES = ["app.tasks.ingest", "app.tasks.training"]
# Ingest reads the uploaded file, so it runs where the upload folder is mounted; training and scoring
# need only the database and may run on any machine (GPU workers).
DEFAULT_QUEUE = "logaction"
INGEST_QUEUE = "ingest"
ALL_QUEUES = (DEFAULT_QUEUE, INGEST_QUEUE)


def configure(app: Celery, settings: Settings) -> None:
    app.conf.update(
        broker_url=settings.broker_url,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # results live on the job row
        # A task is acknowledged only when it finished; a killed worker's task goes back to the queue.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        # Publishing must not hang a web request while Redis is down: fail fast, the outbox retries.
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5,
                                   "interval_max": 1},
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout,
                                  "unacked_restore_interval": settings.broker_restore_interval,
                                  "unacked_restore_throttle": 1,
                                  "socket_timeout": 3, "socket_connect_timeout": 3},
        task_default_queue=DEFAULT_QUEUE,
        task_routes={"logaction.ingest_dataset": {"queue": INGEST_QUEUE}},
    )


def create_celery(settings: Settings | None = None) -> Celery:
    app = Celery("logaction", include=TASK_MODULES)
    configure(app, settings or get_settings())
    return app


celery_app = create_celery()
