"""Reliability tests against the real servers: a fresh PostgreSQL schema per run, Redis database 13
(flushed before and after), one app without an embedded worker (tasks go to Redis, as in production).

The schema's connections carry ``application_name`` = the schema name, so a test can find and terminate
exactly this run's backends (what a PostgreSQL restart does to a pool) without touching anyone else's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, text

from tests.services_env import isolated_services

ROOT = Path(__file__).resolve().parents[2]
REL_REDIS_URL = os.environ.get("LOGACTION_TEST_RELIABILITY_REDIS_URL", "redis://127.0.0.1:6379/13")


class Services:
    def __init__(self, url: str, schema: str, admin_url: str, var_dir: Path, env: dict):
        self.url, self.schema, self.admin_url, self.var_dir, self.env = url, schema, admin_url, var_dir, env

    def terminate_backends(self) -> int:
        """Kill every server process of this run's pool, as a PostgreSQL restart would; returns how many."""
        engine = create_engine(self.admin_url)
        try:
            with engine.begin() as conn:
                return len(conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"), {"name": self.schema}).all())
        finally:
            engine.dispose()


# Package scope: the environment is restored as soon as these tests end, before later folders run.
@pytest.fixture(scope="package")
def services(postgres_url, tmp_path_factory):
    schema = f"rel_{uuid.uuid4().hex[:8]}"
    var_dir = tmp_path_factory.mktemp("reliability-var")
    with isolated_services(postgres_url, REL_REDIS_URL, schema, extra_env={"LOGACTION_VAR_DIR": str(var_dir)},
                           tag_connections=True) as url:
        yield Services(url, schema, postgres_url, var_dir, dict(os.environ))


@pytest.fixture(scope="package")
def web_app(services):
    from app.main import create_app
    from app.settings import get_settings

    return create_app(get_settings())


@pytest.fixture(scope="package")
def api(web_app):
    """An in-process client of the app (its lifespan runs: the outbox pump, no embedded worker)."""
    from fastapi.testclient import TestClient

    with TestClient(web_app) as client:
        yield client


@pytest.fixture
def db(services):
    from app.db.session import session_factory

    with session_factory()() as session:
        yield session


def new_user(role: str = "labeler") -> tuple[int, dict]:
    """A committed user of ``role`` and the Bearer headers of a fresh token."""
    from app.db.session import session_scope
    from tests.app_fixtures import make_user

    with session_scope() as session:
        user, headers = make_user(session, role)
        return user.id, headers


@pytest.fixture
def queue_project(services):
    """A factory of projects with windows, a serving version (no real model) and an open queue; the jobs
    their labels create are closed afterwards, so no real worker ever picks them up."""
    from app.db.session import session_factory
    from tests.app.factories import settle_jobs

    def make(n_pool: int = 40, queued: int = 5) -> tuple[int, int, list[int]]:
        return build_queue(n_pool=n_pool, queued=queued)

    yield make
    with session_factory()() as session:
        settle_jobs(session)


def build_queue(*, n_pool: int, queued: int, n_test: int = 10) -> tuple[int, int, list[int]]:
    """(project id, serving version id, queue item ids) of a project with ``n_pool`` pool windows of which
    the first ``queued`` are in round 1 of the queue; written with bulk inserts (10k windows in seconds)."""
    from sqlalchemy import select

    from app.db.models import Dataset, ModelVersion, Project, QueueItem, Window
    from app.db.session import session_scope
    from app.services.systems import create_system

    tag = uuid.uuid4().hex[:8]
    with session_scope() as session:
        source = create_system(session, name=f"src-{tag}", log_format="synthetic-a", label_rule="first_token")
        target = create_system(session, name=f"tgt-{tag}", log_format="synthetic-a")
        dataset = Dataset(system_id=target.id, role="target", original_name="t.log", status="ready")
        session.add(dataset)
        session.flush()
        session.execute(insert(Window), [
            {"system_id": target.id, "dataset_id": dataset.id, "seq": i, "first_line_no": 10 * i + 1,
             "last_line_no": 10 * i + 10, "label": int(i % 7 == 0), "events": [1, 2, 3],
             "split": "pool" if i < n_pool else "test"} for i in range(n_pool + n_test)])
        window_ids = list(session.scalars(select(Window.id).where(Window.dataset_id == dataset.id)
                                          .order_by(Window.seq)))
        project = Project(name=f"p-{tag}", target_system_id=target.id, sources=[source])
        session.add(project)
        session.flush()
        model = ModelVersion(project_id=project.id, version=0, status="ready", is_serving=True)
        session.add(model)
        session.flush()
        if queued:
            session.execute(insert(QueueItem), [
                {"project_id": project.id, "window_id": w, "round": 1, "model_version_id": model.id,
                 "position": i, "free_energy": 0.0, "uncertainty": 0.0, "p_anomaly": 0.5,
                 "free_energy_rank": i + 1, "uncertainty_rank": i + 1, "pool_size": n_pool, "state": "open"}
                for i, w in enumerate(window_ids[:queued])])
        items = list(session.scalars(select(QueueItem.id).where(QueueItem.project_id == project.id)
                                     .order_by(QueueItem.position)))
        return project.id, model.id, items


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The app under uvicorn in a thread of this process, on a free port: real HTTP, real sockets."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn-reliability")

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise AssertionError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server(web_app):
    with LiveServer(web_app) as server:
        yield server


class RedisServer:
    """A redis-server of this test alone, on a free port, that the test may stop and start again."""

    def __init__(self, log: Path):
        self.port, self.log, self.proc = free_port(), log, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        import redis

        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"], stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"redis-server did not start: {self.log.read_text()[-2000:]}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path / "redis.log").start()
    yield server
    server.stop()


@contextmanager
def broker(url: str):
    """Point this process (flush_outbox, the outbox pump, /readyz) at another broker for a while."""
    import app.tasks.celery_app as celery_module
    from app.settings import get_settings

    settings = get_settings()
    saved = celery_module.celery_app, settings.broker_url
    settings.broker_url = url  # what /readyz checks
    celery_module.celery_app = celery_module.create_celery(settings)
    try:
        yield celery_module.celery_app
    finally:
        celery_module.celery_app, settings.broker_url = saved


@pytest.fixture(scope="package")
def trained_project(services) -> int:
    """A small real project (ingested with MiniLM, base model trained, first queue filled), built in this
    process by running the jobs' own code, so scoring answers with a real model."""
    from sqlalchemy import select

    from app.db.models import Job, OutboxMessage
    from app.db.session import session_scope
    from app.tasks.runner import DONE, run_job
    from app.tasks.training import _score_and_fill, _train_base
    from tests.loop.builders import TINY_TRAINING, ingested_project

    project_id = ingested_project(train_options=TINY_TRAINING, source_lines=1000, target_lines=1500,
                                  round_fraction=0.05, budget_fraction=0.2)
    for kind, work in (("train_base", _train_base), ("score_fill", _score_and_fill)):
        with session_scope() as session:
            job_id = session.scalar(select(Job.id).where(Job.project_id == project_id, Job.kind == kind))
            session.query(OutboxMessage).filter(OutboxMessage.job_id == job_id).delete()  # no worker here
        assert run_job(job_id, work, task_id=f"in-process-{kind}", training=kind == "train_base") == DONE
        with session_scope() as session:
            job = session.get(Job, job_id)
            assert job.status == "succeeded", (job.message, job.error)
    return project_id
