"""The loop against real services: a fresh PostgreSQL schema per run, a spare Redis database, and real
``logaction worker`` processes (started, killed and restarted by the tests).

This process plays the web server: it ingests, records labels through the service layer and sends the
outbox to Redis; the worker subprocesses train, score and retrain.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.services_env import isolated_services

ROOT = Path(__file__).resolve().parents[2]
LOOP_REDIS_URL = os.environ.get("LOGACTION_TEST_LOOP_REDIS_URL", "redis://127.0.0.1:6379/14")
# Short leases and a short visibility timeout so that a killed worker's job comes back within seconds.
WORKER_ENV = {"LOGACTION_JOB_LEASE_SECONDS": "3", "LOGACTION_BROKER_VISIBILITY_TIMEOUT": "8",
              "LOGACTION_BROKER_RESTORE_INTERVAL": "1", "LOGACTION_DEVICE": "cpu"}


class Worker:
    """One ``logaction worker`` process (prefork, one child) in its own process group."""

    def __init__(self, env: dict, log: Path):
        self.env, self.log, self.proc = env, log, None

    def start(self, timeout: float = 60) -> "Worker":
        handle = open(self.log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--queues", "logaction", "--concurrency", "1",
             "--device", "cpu", "--hostname", f"{self.log.stem}-{uuid.uuid4().hex[:4]}@{socket.gethostname()}"],
            cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while " ready." not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: the machine dies, nothing is cleaned up or acknowledged."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self) -> str:
        return self.log.read_text()[-4000:]


# Package scope: the environment is restored as soon as the loop tests end, before later folders run.
@pytest.fixture(scope="package")
def loop_services(postgres_url, tmp_path_factory):
    """Point this process at a fresh schema and the spare Redis database; yields the workers' environment."""
    with isolated_services(postgres_url, LOOP_REDIS_URL, f"loop_{uuid.uuid4().hex[:8]}"):
        yield {**os.environ, **WORKER_ENV, "LOGACTION_VAR_DIR": str(tmp_path_factory.mktemp("loop-var"))}


@pytest.fixture
def workers(loop_services, tmp_path):
    started: list[Worker] = []

    def new() -> Worker:
        worker = Worker(loop_services, tmp_path / f"worker-{len(started) + 1}.log")
        started.append(worker)
        return worker.start()

    yield new
    for worker in started:
        worker.stop()


@pytest.fixture
def operator(loop_services):
    from app.db.session import session_scope
    from app.services.users import create_user

    with session_scope() as session:
        user = create_user(session, email=f"op-{uuid.uuid4().hex[:6]}@example.com", role="labeler",
                           password="pw-123456")
        return user.id
